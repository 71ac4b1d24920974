"""Fixed point against float: how much a QuantizedModel's images differ from the float generator's."""

from __future__ import annotations

import numpy as np

from fpgagen.core import golden
from fpgagen.core.accuracy import errors
from fpgagen.core.latents import latents
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.models.data import load_dataset
from fpgagen.models.generator import Generator
from fpgagen.models.metrics import quality, to_signed_unit


def fixed_vs_float(model: QuantizedModel, generator: Generator, n: int | None = None, seed: int = 0,
                   float_images: np.ndarray | None = None) -> dict:
    """Errors (max/mean abs, PSNR over the output range) of ``model`` against the float ``generator`` it was
    quantized from, on the same latents; with the generator's digit dataset also the quality metrics of both
    (``float``, ``fixed``).

    ``n`` defaults to the number of held-out digits (the scale the Frechet distance is judged at), or 256 latents
    for a generator without a dataset.
    """
    spec = generator.spec
    if n is None:
        n = len(load_dataset(spec.dataset).held_out) if spec.dataset else 256
    z = latents(n, spec.latent_dim, seed, spec.latents)
    ref = generator.generate(z) if float_images is None else float_images
    fixed = golden.generate(model, z)
    lo, hi = spec.output_range
    result = {**errors(fixed, ref, hi - lo), "seed": seed}
    if spec.dataset is not None:
        result.update(float=quality(to_signed_unit(ref, spec.output_range), spec.dataset),
                      fixed=quality(to_signed_unit(fixed, spec.output_range), spec.dataset))
    return result
