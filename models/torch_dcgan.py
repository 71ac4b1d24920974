"""The canonical PyTorch DCGAN generator (pytorch/examples' ``dcgan/main.py``), at 32x32 or its own 64x64: the
user's-own-model example of the torch front end (tests, ``bench/imports.py``; the 64x64 one, 3.6 M parameters, in
``bench/placements.py``), as :mod:`fpgagen.models.keras_seed` is the Keras one.

Its first layer is a ``ConvTranspose2d(nz, 4 * ngf, 4, 1, 0)`` on the latent viewed as (nz, 1, 1), which fpgagen
lowers to a dense layer and a reshape; the rest are stride-2 transposed convolutions with BatchNorm and ReLU, and a
final Tanh. :func:`with_batchnorm_statistics` gives an untrained one the statistics training would leave.
"""

from __future__ import annotations

import torch
from torch import nn


class DCGAN(nn.Module):
    """pytorch/examples' DCGAN generator: nz latents -> ``nc`` x ``size`` x ``size`` images in [-1, 1]; ``size`` 64
    is pytorch/examples' own, 32 the same less its widest stage (ngf * 8 channels)."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, size: int = 32):
        super().__init__()
        if size not in (32, 64):
            raise ValueError(f"size must be 32 or 64, got {size}")
        self.nz = nz
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf] if size == 64 else [ngf * 4, ngf * 2, ngf]
        layers = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        self.main = nn.Sequential(*layers, nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z.view(-1, self.nz, 1, 1))


@torch.no_grad()
def with_batchnorm_statistics(module: nn.Module, latent_dim: int, seed: int = 0, n: int = 256) -> nn.Module:
    """``module`` (in eval mode) with random BatchNorm affine parameters and running statistics those of its own
    activations on ``n`` normal latents (a cumulative average, as training leaves them); seeded, in place."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                m.weight.data = torch.rand(m.num_features) + 0.5
                m.bias.data = 0.1 * torch.randn(m.num_features)
                m.reset_running_stats()
                m.momentum = None
        module.train()(torch.randn(n, latent_dim))
    return module.eval()
