"""Latents: the seeded vectors every target shares, and the one check every executor makes of them (numpy only)."""

from __future__ import annotations

import numpy as np

MAX_SAMPLES = 100_000
# What a generator's latents are drawn from (its spec says which): standard normal, or uniform on [-1, 1).
DISTRIBUTIONS = ("normal", "uniform")


def latents(n: int, latent_dim: int, seed: int = 0, distribution: str = "normal") -> np.ndarray:
    """``n`` latent vectors (n, latent_dim) float32 of ``distribution`` (standard normal, or uniform on [-1, 1)),
    from numpy so every target shares them."""
    if not isinstance(n, int | np.integer) or not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"number of samples must be an integer in 1..{MAX_SAMPLES}, got {n!r}")
    if not isinstance(latent_dim, int | np.integer) or isinstance(latent_dim, bool) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    if distribution == "normal":
        return rng.standard_normal((n, latent_dim), dtype=np.float32)
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0, (n, latent_dim)).astype(np.float32)
    raise ValueError(f"latent distribution {distribution!r} (supported: {', '.join(DISTRIBUTIONS)})")


def check_latents(z, latent_dim: int) -> np.ndarray:
    """Latents as a float32 (N, latent_dim) array -- the kernel's stream carries one float32 per beat, so every
    target sees latents rounded to float32 -- or a ValueError naming the problem."""
    z = np.asarray(z)
    if z.dtype.kind != "f":
        raise ValueError(f"latents must be floating point, got dtype {z.dtype}")
    if z.ndim != 2 or z.shape[1] != latent_dim or z.shape[0] < 1:
        raise ValueError(f"latents must have shape (N, {latent_dim}) with N >= 1, got {z.shape}")
    with np.errstate(over="ignore"):  # beyond float32's range becomes Inf, reported below
        z32 = z.astype(np.float32, copy=False)
    if not np.isfinite(z32).all():
        row, col = np.argwhere(~np.isfinite(z32))[0]
        raise ValueError(f"latents contain NaN or Inf (as float32; first at row {row}, column {col}: {z[row, col]})")
    return z32
