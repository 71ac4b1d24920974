"""The seeded latents every target shares: reproducible, and a bad argument named in the error."""

from __future__ import annotations

import numpy as np
import pytest

from fpgagen.core.latents import latents


def test_latents_are_seeded_float32():
    a, b = latents(4, 3, seed=7), latents(4, 3, seed=7)
    assert a.dtype == np.float32 and a.shape == (4, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, latents(4, 3, seed=8))
    u = latents(1000, 2, seed=0, distribution="uniform")
    assert u.min() >= -1.0 and u.max() < 1.0


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((0, 3), {}, "number of samples must be an integer in 1.."),
    ((2, 0), {}, "latent_dim must be a positive integer, got 0"),
    ((2, 3.0), {}, "latent_dim must be a positive integer, got 3.0"),
    ((2, 3), {"seed": -1}, "seed must be a non-negative integer, got -1"),
    ((2, 3), {"seed": "a"}, "seed must be a non-negative integer, got 'a'"),
    ((2, 3), {"distribution": "cauchy"}, "latent distribution 'cauchy'"),
])
def test_bad_arguments_are_named(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        latents(*args, **kwargs)
