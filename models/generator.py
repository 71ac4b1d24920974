"""A trained float generator and what every later stage needs to know about it, whatever it came from.

:class:`GeneratorSpec` is the deployable contract: latent size, image shape, output range, the calibration latent
distribution and, where a width sweep measured them, the fixed-point widths. :class:`Generator` is a trained
torch module with its spec and the file its weights came from. A preset is one named source of Generators
(:func:`fpgagen.models.presets.load_preset`); quantization, the float reference, the executors and the
comparison take a Generator, never a preset name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from fpgagen.core.latents import check_latents, latents

# (data_width, weight_width) for a generator whose widths no sweep measured: generous, untuned.
FALLBACK_WIDTHS = (16, 10)


@dataclass(frozen=True)
class GeneratorSpec:
    """What a deployable generator promises: latents (N, latent_dim) -> images (N, *image_shape) in output_range.

    Attributes:
        name: e.g. ``"mnist28"``; names its files and reports.
        latent_dim: length of a latent vector.
        image_shape: (C, H, W) of one image.
        output_range: (low, high) of the output activation.
        description: one line for ``--help`` and reports.
        widths: (data_width, weight_width) measured to hold the quality targets
            (``bench/quantization_tradeoff.py``), or None: quantization then applies :data:`FALLBACK_WIDTHS` and
            says so.
        dataset: the digit dataset the quality metrics judge the images against (None: error and PSNR only).
        latents: the distribution of the latents it was trained on (``"normal"`` or ``"uniform"``,
            :data:`fpgagen.core.latents.DISTRIBUTIONS`): calibration, sampling and comparisons draw from it.
        source: where an imported generator came from (:mod:`fpgagen.models.imports`): framework, file and sha256,
            the import check's figures; None for a preset.
    """

    name: str
    latent_dim: int
    image_shape: tuple[int, int, int]
    output_range: tuple[float, float]
    description: str = ""
    widths: tuple[int, int] | None = None
    dataset: str | None = None
    latents: str = "normal"
    source: dict | None = None

    @property
    def default_widths(self) -> tuple[tuple[int, int], str]:
        """(data_width, weight_width) quantization starts from, and where they come from, in words."""
        if self.widths is not None:
            return self.widths, f"{self.name}'s measured widths"
        return FALLBACK_WIDTHS, f"the fallback widths {FALLBACK_WIDTHS}: no width sweep measured {self.name}"


@dataclass(eq=False)
class Generator:
    """A trained float generator.

    Attributes:
        spec: its contract.
        module: the torch module (eval mode).
        checkpoint: the file its weights came from (None: weights built in memory).
    """

    spec: GeneratorSpec
    module: nn.Module
    checkpoint: Path | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of_float_model(cls, spec: GeneratorSpec, float_model, checkpoint: Path | None = None,
                       module: nn.Module | None = None) -> Generator:
        """The generator of an imported float model: quantization takes the float model itself (never lowered
        again), and ``module`` -- the user's own torch module, else (ONNX, Keras, a model folder) the float model
        rebuilt in torch (:func:`fpgagen.models.float_module.to_module`) -- is what the ``torch`` target runs."""
        if module is None:
            from fpgagen.models.float_module import to_module

            module = to_module(float_model)
        generator = cls(spec, module, checkpoint)
        generator._cache["float_model"] = float_model
        return generator

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def checkpoint_sha256(self) -> str | None:
        if self.checkpoint is None:
            return None
        if "sha256" not in self._cache:
            self._cache["sha256"] = hashlib.sha256(Path(self.checkpoint).read_bytes()).hexdigest()
        return self._cache["sha256"]

    def generate(self, z: np.ndarray) -> np.ndarray:
        """Images (N, C, H, W) float32 for latents ``z`` (N, latent_dim), in the generator's output range."""
        from fpgagen.models.sampling import generate

        return generate(self.module, check_latents(z, self.spec.latent_dim))

    def latents(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` seeded latents of the generator's distribution (:func:`fpgagen.core.latents.latents`)."""
        return latents(n, self.spec.latent_dim, seed, self.spec.latents)

    def float_model(self):
        """The generator lowered to the layer vocabulary, BatchNorm folded (:func:`fpgagen.models.lower.lower`)."""
        if "float_model" not in self._cache:
            from fpgagen.models.lower import lower

            self._cache["float_model"] = lower(self)
        return self._cache["float_model"]

    def parameters(self) -> int:
        """Weights and biases of the module (BatchNorm included, before folding)."""
        from fpgagen.models.cost import parameter_count

        return parameter_count(self.module)

    def board(self, weight_width: int | None = None, width_source: str | None = None):
        """The board its weights fit (:func:`fpgagen.overlays.boards.board_for_weights`) at ``weight_width`` bits
        (default: its default weight width; ``width_source`` says where a given width comes from)."""
        from fpgagen.overlays.boards import board_for_weights

        if weight_width is None:
            (_, weight_width), width_source = self.spec.default_widths
        return board_for_weights(self.name, self.parameters(), weight_width, width_source or "given")
