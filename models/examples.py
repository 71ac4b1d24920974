"""The example generators the guide's "Your own generator" section imports (``fpgagen examples --out DIR``).

Each is a user's own model in one of the forms `fpgagen import` reads, small enough that importing, quantizing
(the width rule's sweep included) and simulating it takes seconds, with seeded weights (untrained: random weights
and the BatchNorm statistics training would leave), nothing downloaded:

- ``my_gan.py`` (factory ``make_generator``, torch only) + ``G.safetensors``: a dense-then-convolution GAN
  generator, 16 latents -> 1x8x8 in [-1, 1];
- ``generator.onnx``: pytorch/examples' DCGAN generator (:class:`fpgagen.models.torch_dcgan.DCGAN`, nz 8, ngf 4),
  1x32x32, exported with ``torch.onnx.export``;
- ``generator.keras``: TensorFlow's DCGAN tutorial generator (:mod:`fpgagen.models.keras_seed`) at widths
  (16, 8, 4) and 16 latents, 1x28x28, Keras 3 on the torch backend;
- ``vae.py`` (factory ``decoder``) + ``D.pt``: pytorch/examples' VAE decoder (``fc3``, ``fc4``, ``decode``) at 8
  latents and 32 hidden units, a flat (N, 784) output, its state_dict saved with ``torch.save``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from fpgagen.core.cache import check_output_path, replacing, write_atomic

MY_GAN = textwrap.dedent('''\
    """A small GAN generator, written by `fpgagen examples`: 16 latents -> 1x8x8 images in [-1, 1].

    fpgagen import my_gan.py:make_generator --weights G.safetensors --out my_gan
    """

    from torch import nn


    def make_generator() -> nn.Module:
        return nn.Sequential(
            nn.Linear(16, 64), nn.BatchNorm1d(64), nn.LeakyReLU(0.2),
            nn.Linear(64, 8 * 4 * 4), nn.BatchNorm1d(8 * 4 * 4), nn.LeakyReLU(0.2),
            nn.Unflatten(1, (8, 4, 4)),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(8, 1, 3, padding=1), nn.Tanh(),
        )
''')

VAE = textwrap.dedent('''\
    """pytorch/examples' VAE decoder (vae/main.py: fc3, fc4, decode), small, written by `fpgagen examples`:
    8 latents -> a flat (N, 784) vector in (0, 1), a 28x28 image viewed in C order.

    fpgagen import vae.py:decoder --weights D.pt --image-shape 1,28,28 --out vae
    """

    import torch
    import torch.nn.functional as F
    from torch import nn


    class Decoder(nn.Module):
        def __init__(self, latent_dim: int = 8, hidden: int = 32):
            super().__init__()
            self.fc3 = nn.Linear(latent_dim, hidden)
            self.fc4 = nn.Linear(hidden, 784)

        def forward(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))


    def decoder() -> nn.Module:
        return Decoder()
''')

FILES = ("my_gan.py", "G.safetensors", "generator.onnx", "generator.keras", "vae.py", "D.pt")


def write_examples(out: Path, seed: int = 0, force: bool = False) -> list[Path]:
    """Write the example generators (:data:`FILES`) into the folder ``out``, with weights of ``seed``; returns the
    paths written. An existing file of those names is refused, naming them, unless ``force``."""
    out = check_output_path(Path(out), folder=True)
    there = [name for name in FILES if (out / name).exists()]
    if there and not force:
        raise FileExistsError(f"{out} already holds {', '.join(there)}; choose another --out or pass --force")
    out.mkdir(parents=True, exist_ok=True)
    _write_torch_factory(out / "my_gan.py", MY_GAN, "make_generator", out / "G.safetensors", seed, latent_dim=16)
    _write_torch_factory(out / "vae.py", VAE, "decoder", out / "D.pt", seed + 1, latent_dim=8)
    _write_onnx(out / "generator.onnx", seed + 2)
    _write_keras(out / "generator.keras", seed + 3)
    return [out / name for name in FILES]


def _write_torch_factory(source: Path, text: str, factory: str, weights: Path, seed: int, latent_dim: int) -> None:
    """``text`` to ``source`` and the seeded weights of its ``factory()`` to ``weights`` (safetensors, or a
    ``torch.save`` state_dict for ``.pt``), loaded the way ``fpgagen import`` loads them."""
    import torch

    from fpgagen.models.torch_dcgan import with_batchnorm_statistics
    from fpgagen.models.torch_import import load_factory

    write_atomic(source, text)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = load_factory(f"{source}:{factory}")
    state = with_batchnorm_statistics(module, latent_dim, seed=seed).state_dict()
    state = {k: v.contiguous() for k, v in state.items()}
    with replacing(weights) as tmp:
        if weights.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(state, str(tmp))
        else:
            torch.save(state, tmp)


def _write_onnx(path: Path, seed: int) -> None:
    import torch

    from fpgagen.models.torch_dcgan import DCGAN, with_batchnorm_statistics

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = DCGAN(nz=8, ngf=4, nc=1, size=32)
    module = with_batchnorm_statistics(module, 8, seed=seed)
    with replacing(path) as tmp:
        torch.onnx.export(module, (torch.zeros(1, 8),), str(tmp), dynamo=False, input_names=["z"],
                          output_names=["image"], dynamic_axes={"z": {0: "n"}, "image": {0: "n"}})


def _write_keras(path: Path, seed: int) -> None:
    from fpgagen.models.keras_seed import save_generator

    with replacing(path) as tmp:
        save_generator(tmp, seed=seed, latent_dim=16, widths=(16, 8, 4))
