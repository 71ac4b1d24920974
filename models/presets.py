"""Generator presets: a registry of named models, each built only from layers the FPGA flow converts.

A preset is a named source of trained generators: the deployable generator's spec (a GAN generator or a VAE
decoder; :class:`~fpgagen.models.generator.GeneratorSpec`), the function that builds its module, and, apart from
both, the training recipe (partner network -- a discriminator for a GAN, an encoder for a VAE --, dataset, epochs).
:func:`load_preset` gives the trained :class:`~fpgagen.models.generator.Generator` every later stage takes.

The generator of every preset except ``dcgan28`` is an ``nn.Sequential`` of Linear, BatchNorm, LeakyReLU/ReLU,
:class:`Reshape`, nearest Upsample x2, Conv2d with integer padding and Tanh/Sigmoid: the vocabulary hls4ml
1.3.0 converts. ``dcgan28`` is the seed's TensorFlow DCGAN generator ported to torch; its ConvTranspose2d layers
go through fpgagen's hls4ml extension (``fpgagen.hls.hls4ml_conv_transpose``) and RTL (``fg_conv_transpose2d``).

To add a preset, write a function returning a :class:`Preset` and decorate it with :func:`register_preset`;
train it with ``fpgagen train NAME``, then measure its widths (``bench/quantization_tradeoff.py``) and set them in
its spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from fpgagen.models.catalog import PRESET_NAMES
from fpgagen.models.checkpoint import default_checkpoint, load_checkpoint
from fpgagen.models.generator import Generator, GeneratorSpec
from fpgagen.models.lower import Reshape

PRESETS: dict[str, Callable[[], Preset]] = {}



@dataclass(frozen=True)
class TrainingRecipe:
    """How a preset's generator is trained (:mod:`fpgagen.models.train`); nothing after training reads it.

    Attributes:
        kind: ``"gan"`` (adversarial training) or ``"vae"`` (ELBO training; the decoder is deployed).
        dataset: name of the dataset in :mod:`fpgagen.models.data`.
        make_partner: builds the discriminator (GAN: images -> logits (N, 1)) or the encoder
            (VAE: images -> (N, 2 * latent_dim) holding mean and log-variance).
        epochs, batch_size, lr: training defaults that fit a few CPU minutes.
    """

    kind: str
    dataset: str
    make_partner: Callable[[], nn.Module]
    epochs: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class Preset:
    """A named generator: its spec, how to build its module, how to train it.

    Attributes:
        spec: the deployable generator's contract (name, latent size, image shape, output range, widths).
        make_generator: builds the deployable network, latents (N, latent_dim) -> images (N, C, H, W).
        training: the training recipe.
    """

    spec: GeneratorSpec
    make_generator: Callable[[], nn.Module]
    training: TrainingRecipe

    @property
    def name(self) -> str:
        return self.spec.name


def register_preset(fn: Callable[[], Preset]) -> Callable[[], Preset]:
    """Register a preset factory under its function name (one of :data:`fpgagen.models.catalog.PRESET_NAMES`)."""
    if fn.__name__ not in PRESET_NAMES:
        raise ValueError(f"preset {fn.__name__!r} is not listed in fpgagen.models.catalog.PRESET_NAMES (the CLI "
                         "lists presets from there without importing torch): add it")
    PRESETS[fn.__name__] = fn
    return fn


def get_preset(name: str) -> Preset:
    """Return the preset called ``name``; a ValueError lists the known names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


def conv3x3(c_in: int, c_out: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=bias)


def upsample2() -> nn.Upsample:
    return nn.Upsample(scale_factor=2, mode="nearest")


def upconv_generator(
    latent_dim: int, start: tuple[int, int, int], widths: list[int], act: Callable[[], nn.Module], out_act: nn.Module,
    batchnorm: bool = True,
) -> nn.Sequential:
    """Linear -> (C, H, W) -> [Upsample x2, Conv3x3] per entry of ``widths`` -> ``out_act``.

    BatchNorm + ``act`` follow the Linear and every Conv but the last.
    """
    c, h, w = start
    layers: list[nn.Module] = [nn.Linear(latent_dim, c * h * w, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(c * h * w))
    layers += [act(), Reshape(c, h, w)]
    for i, c_out in enumerate(widths):
        last = i == len(widths) - 1
        layers += [upsample2(), conv3x3(c, c_out, bias=last or not batchnorm)]
        if not last:
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(act())
        c = c_out
    layers.append(out_act)
    return nn.Sequential(*layers)


def conv_discriminator(image_shape: tuple[int, int, int], widths: list[int], kernel: int) -> nn.Sequential:
    """The TF DCGAN tutorial's discriminator: strided convs, LeakyReLU, Dropout, Flatten, Linear -> logit."""
    c, h, w = image_shape
    layers: list[nn.Module] = []
    for c_out in widths:
        layers += [nn.Conv2d(c, c_out, kernel, stride=2, padding=kernel // 2), nn.LeakyReLU(0.2), nn.Dropout(0.3)]
        c, h, w = c_out, (h + 1) // 2, (w + 1) // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, 1)]
    return nn.Sequential(*layers)


def leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2)


@register_preset
def digits8() -> Preset:
    return Preset(
        spec=GeneratorSpec(
            name="digits8",
            latent_dim=16,
            image_shape=(1, 8, 8),
            output_range=(-1.0, 1.0),
            description="tiny GAN generator for scikit-learn's 8x8 digits (RTL simulates in seconds)",
            widths=(9, 7),
            dataset="digits8",
        ),
        make_generator=lambda: nn.Sequential(
            nn.Linear(16, 16 * 4 * 4, bias=False),
            nn.BatchNorm1d(16 * 4 * 4),
            nn.ReLU(),
            Reshape(16, 4, 4),
            upsample2(),
            conv3x3(16, 16, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            conv3x3(16, 1),
            nn.Tanh(),
        ),
        training=TrainingRecipe(
            kind="gan",
            dataset="digits8",
            make_partner=lambda: conv_discriminator((1, 8, 8), [32, 64], kernel=3),
            epochs=300,
            batch_size=64,
            lr=2e-4,
        ),
    )


@register_preset
def mnist28() -> Preset:
    return Preset(
        spec=GeneratorSpec(
            name="mnist28",
            latent_dim=64,
            image_shape=(1, 28, 28),
            output_range=(-1.0, 1.0),
            description="GAN generator for 28x28 MNIST sized for PYNQ-Z2",
            widths=(9, 7),
            dataset="mnist28",
        ),
        make_generator=lambda: upconv_generator(64, (64, 7, 7), [32, 1], leaky, nn.Tanh()),
        training=TrainingRecipe(
            kind="gan",
            dataset="mnist28",
            make_partner=lambda: conv_discriminator((1, 28, 28), [32, 64], kernel=5),
            epochs=40,
            batch_size=32,
            lr=5e-4,
        ),
    )


@register_preset
def vae28() -> Preset:
    latent = 16
    return Preset(
        spec=GeneratorSpec(
            name="vae28",
            latent_dim=latent,
            image_shape=(1, 28, 28),
            output_range=(0.0, 1.0),
            description="VAE for 28x28 MNIST; its decoder is the deployed generator",
            widths=(8, 7),
            dataset="mnist28",
        ),
        make_generator=lambda: upconv_generator(
            latent, (64, 7, 7), [32, 1], nn.ReLU, nn.Sigmoid(), batchnorm=False
        ),
        training=TrainingRecipe(
            kind="vae",
            dataset="mnist28",
            make_partner=lambda: nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 256),
            nn.ReLU(),
            nn.Linear(256, 2 * latent),
        ),
            epochs=60,
            batch_size=64,
            lr=1e-3,
        ),
    )


@register_preset
def dcgan28() -> Preset:
    def generator() -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(100, 7 * 7 * 256, bias=False),
            nn.BatchNorm1d(7 * 7 * 256),
            nn.LeakyReLU(0.3),  # tf.keras LeakyReLU's default slope
            Reshape(256, 7, 7),
            nn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.Tanh(),
        )

    return Preset(
        spec=GeneratorSpec(
            name="dcgan28",
            latent_dim=100,
            image_shape=(1, 28, 28),
            output_range=(-1.0, 1.0),
            description="the seed's TF DCGAN generator (Dense 100->7x7x256, ConvTranspose 5x5) ported to torch",
            widths=(9, 6),
            dataset="mnist28",
        ),
        make_generator=generator,
        training=TrainingRecipe(
            kind="gan",
            dataset="mnist28",
            make_partner=lambda: conv_discriminator((1, 28, 28), [32, 64], kernel=5),
            epochs=12,
            batch_size=32,
            lr=2e-4,
        ),
    )


def load_preset_modules(name: str, checkpoint: Path | None = None) -> tuple[Preset, dict[str, nn.Module]]:
    """Build preset ``name`` and load its checkpoint (default: the shipped one); modules are in eval mode. A VAE's
    checkpoint also holds its ``encoder``."""
    preset = get_preset(name)
    path = default_checkpoint(name) if checkpoint is None else Path(checkpoint)
    modules = {"generator": preset.make_generator()}
    if preset.training.kind == "vae":
        modules["encoder"] = preset.training.make_partner()
    if not path.is_file():
        hint = f"; train it with: fpgagen train {name} --out {path}" if checkpoint is None else ""
        raise FileNotFoundError(f"checkpoint {path} does not exist{hint}")
    load_checkpoint(path, name, modules)
    return preset, {k: m.eval() for k, m in modules.items()}


def load_preset(name: str, checkpoint: Path | None = None) -> Generator:
    """The trained generator of preset ``name`` (the decoder of a VAE) from ``checkpoint`` (default: the shipped
    one), in eval mode."""
    preset, modules = load_preset_modules(name, checkpoint)
    path = default_checkpoint(name) if checkpoint is None else Path(checkpoint)
    return Generator(preset.spec, modules["generator"], path)
