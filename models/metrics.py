"""Image quality metrics, judged by the digit classifier of the images' resolution.

- recognizability: share of images the classifier assigns to one class with probability > 0.9;
- coverage: entropy of the predicted-class histogram divided by log 10 (1.0 = all ten digits equally often);
- frechet: Frechet distance between Gaussian fits of classifier features of the images and of the held-out
  real digits (lower is better; it grows as samples get fewer, so compare only at the same ``n``).

:func:`reference_metrics` gives the scale: real digits (an equal-size train subset against the held-out
digits) and uniform noise images.
"""

from __future__ import annotations

import numpy as np
import torch

from fpgagen.models.classifier import load_classifier
from fpgagen.models.data import load_dataset

CONFIDENT = 0.9


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr(sqrt(A B)) = tr(sqrt(sqrt(A) B sqrt(A))), the inner matrix symmetric PSD: eigh is exact and stable.
    w, v = np.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)


def to_signed_unit(images: np.ndarray, output_range: tuple[float, float]) -> np.ndarray:
    """Map images from a generator's ``output_range`` to the classifiers' [-1, 1]."""
    lo, hi = output_range
    return ((np.asarray(images, np.float32) - lo) / (hi - lo) * 2.0 - 1.0).astype(np.float32)


@torch.no_grad()
def _classify(images: np.ndarray, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    model = load_classifier(dataset)
    x = torch.from_numpy(np.ascontiguousarray(images, np.float32))
    feats = torch.cat([model.features(chunk) for chunk in x.split(512)])
    probs = torch.softmax(model.head(feats), dim=1)
    return feats.numpy(), probs.numpy()


def quality(images: np.ndarray, dataset: str) -> dict[str, float]:
    """Recognizability, coverage and Frechet distance of ``images`` (N, 1, H, W) in [-1, 1]."""
    images = np.asarray(images, np.float32)
    data = load_dataset(dataset)
    expected = data.held_out.images.shape[1:]
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(f"images for {dataset} must have shape (N, {', '.join(map(str, expected))}), "
                         f"got {images.shape}")
    if len(images) < 2:
        raise ValueError(f"need at least 2 images for a Frechet distance, got {len(images)}")
    if not np.isfinite(images).all():
        raise ValueError("images contain NaN or Inf")
    feats, probs = _classify(images, dataset)
    real_feats, _ = _classify(data.held_out.images, dataset)
    counts = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    nonzero = counts[counts > 0]
    return {
        "recognizability": float((probs.max(1) > CONFIDENT).mean()),
        "coverage": float(-(nonzero * np.log(nonzero)).sum() / np.log(10)),
        "frechet": frechet_distance(feats, real_feats),
    }


def reference_metrics(dataset: str, n: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Metrics of real digits and of uniform noise, at the same ``n`` as the samples they frame.

    ``real``: recognizability and coverage of the held-out digits (the classifier's test set); Frechet
    distance of ``n`` train digits against the held-out ones. ``noise``: ``n`` uniform [-1, 1] images.
    """
    data = load_dataset(dataset)
    if n > len(data.train):
        raise ValueError(f"the real-digit reference draws n train digits: n must be at most {len(data.train)} "
                         f"for {dataset}, got {n}")
    rng = np.random.default_rng(seed)
    train_subset = data.train.images[rng.choice(len(data.train), size=n, replace=False)]
    real = quality(data.held_out.images, dataset)
    real["frechet"] = quality(train_subset, dataset)["frechet"]
    noise = rng.uniform(-1.0, 1.0, size=(n, *data.held_out.images.shape[1:])).astype(np.float32)
    return {"real": real, "noise": quality(noise, dataset)}
