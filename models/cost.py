"""Arithmetic cost of a generator: parameters and multiply-accumulates (MACs) per image.

MACs count one multiply-accumulate per weight use. For a transposed convolution two figures exist: the
``useful`` MACs (each input pixel times each kernel tap that lands inside the output) and the
``zero_insertion`` MACs a direct convolution over the zero-stuffed, padded input executes.
"""

from __future__ import annotations

import torch
from torch import nn


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _transposed_taps(layer: nn.ConvTranspose2d, in_hw: tuple[int, int]) -> int:
    """Number of (input pixel, kernel tap) pairs of one channel pair that land inside the output."""
    ones = torch.ones(1, 1, *in_hw)
    kernel = torch.ones(1, 1, *layer.kernel_size)
    out = nn.functional.conv_transpose2d(
        ones, kernel, stride=layer.stride, padding=layer.padding, output_padding=layer.output_padding,
        dilation=layer.dilation,
    )
    return int(out.sum().item())


@torch.no_grad()
def macs_per_image(generator: nn.Module, latent_dim: int) -> dict[str, int]:
    """MACs of one forward pass: ``{"useful": ..., "zero_insertion": ...}`` (equal without ConvTranspose2d)."""
    totals = {"useful": 0, "zero_insertion": 0}

    def hook(layer, inputs, output):
        x = inputs[0]
        if isinstance(layer, nn.Linear):
            useful = executed = layer.in_features * layer.out_features
        elif isinstance(layer, nn.Conv2d):
            k = layer.kernel_size[0] * layer.kernel_size[1]
            useful = executed = output.shape[2] * output.shape[3] * layer.out_channels * layer.in_channels * k // (
                layer.groups
            )
        elif isinstance(layer, nn.ConvTranspose2d):
            k = layer.kernel_size[0] * layer.kernel_size[1]
            pairs = layer.in_channels * layer.out_channels // layer.groups
            useful = _transposed_taps(layer, tuple(x.shape[2:])) * pairs
            executed = output.shape[2] * output.shape[3] * k * pairs
        else:
            return
        totals["useful"] += useful
        totals["zero_insertion"] += executed

    handles = [m.register_forward_hook(hook) for m in generator.modules()
               if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d)]
    was_training = generator.training
    generator.eval()
    try:
        generator(torch.zeros(1, latent_dim))
    finally:
        for h in handles:
            h.remove()
        generator.train(was_training)
    return totals
