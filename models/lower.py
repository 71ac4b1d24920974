"""The torch front end's one lowering: a trained torch generator -> a FloatModel of the layer vocabulary.

BatchNorm is folded into the Linear/Conv2d/ConvTranspose2d before it (float64, once), then each module becomes
the :class:`~fpgagen.core.float_model.FloatLayer` of its kind, by the ``torch`` implementations registered here in
:mod:`fpgagen.core.layers` (each names the module types it lowers). Layer ``i`` of the folded module list is named
``<kind>_<i>``. Quantization and the numpy float reference both start from this lowering.

A module no kind lowers, or one with settings fpgagen does not implement (a strided Conv2d, a ConvTranspose2d
with dilation, a bilinear Upsample), is refused here, naming the module and what is supported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.layers import implements, registered
from fpgagen.core.transposed import TRANSPOSED_SUPPORTED, transposed_module_problems


class Reshape(nn.Module):
    """``x.view(-1, *shape)``: the flat Linear output seen as a (C, H, W) feature map.

    Written as a ``view`` call so that torch.fx (and so hls4ml's parser) sees an ordinary ``view``.
    """

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.view(-1, *self.shape)

    def extra_repr(self) -> str:
        return ", ".join(str(s) for s in self.shape)


@dataclass(frozen=True)
class TorchLowering:
    """The ``torch`` implementation of a kind: the module types it lowers and how (``lower(name, module)``)."""

    modules: tuple[type, ...]
    lower: Callable[[str, nn.Module], FloatLayer]


def lowers(kind: str, *modules: type):
    """Decorator: register ``fn(name, module) -> FloatLayer`` as the lowering of ``modules`` to ``kind``."""

    def register(fn):
        implements("torch", kind)(TorchLowering(modules, fn))
        return fn

    return register


def _weights(m: nn.Module, n_out: int) -> dict:
    weight = m.weight.detach().float().numpy().copy()
    bias = m.bias.detach().float().numpy().copy() if m.bias is not None else torch.zeros(n_out).numpy()
    return {"weight": weight, "bias": bias}


@lowers("dense", nn.Linear)
def _linear(name: str, m: nn.Linear) -> FloatLayer:
    return FloatLayer(name, "dense", **_weights(m, m.out_features))


@lowers("conv2d", nn.Conv2d)
def _conv2d(name: str, m: nn.Conv2d) -> FloatLayer:
    if (m.stride != (1, 1) or m.dilation != (1, 1) or m.groups != 1 or m.kernel_size[0] != m.kernel_size[1]
            or m.padding_mode != "zeros"):
        raise ValueError(f"{name} ({m}): only square stride-1 convolutions (dilation 1, groups 1, zero padding) are "
                         "supported")
    if not isinstance(m.padding, tuple) or m.padding[0] != m.padding[1]:
        raise ValueError(f"{name} ({m}): padding must be one integer for both axes")
    return FloatLayer(name, "conv2d", padding=int(m.padding[0]), **_weights(m, m.out_channels))


@lowers("conv_transpose2d", nn.ConvTranspose2d)
def _conv_transpose2d(name: str, m: nn.ConvTranspose2d) -> FloatLayer:
    problems = transposed_module_problems(m)
    if problems:
        raise ValueError(f"{name} ({m}): unsupported transposed convolution: {'; '.join(problems)}. fpgagen "
                         f"implements ConvTranspose2d with {TRANSPOSED_SUPPORTED}")
    return FloatLayer(name, "conv_transpose2d", stride=int(m.stride[0]), padding=int(m.padding[0]),
                      output_padding=int(m.output_padding[0]), **_weights(m, m.out_channels))


@lowers("relu", nn.ReLU)
def _relu(name: str, m: nn.ReLU) -> FloatLayer:
    return FloatLayer(name, "relu")


@lowers("leaky_relu", nn.LeakyReLU)
def _leaky_relu(name: str, m: nn.LeakyReLU) -> FloatLayer:
    return FloatLayer(name, "leaky_relu", alpha=float(m.negative_slope))


@lowers("tanh", nn.Tanh)
def _tanh(name: str, m: nn.Tanh) -> FloatLayer:
    return FloatLayer(name, "tanh")


@lowers("sigmoid", nn.Sigmoid)
def _sigmoid(name: str, m: nn.Sigmoid) -> FloatLayer:
    return FloatLayer(name, "sigmoid")


@lowers("reshape", Reshape)
def _reshape(name: str, m: Reshape) -> FloatLayer:
    return FloatLayer(name, "reshape", out_shape=tuple(m.shape))


@lowers("upsample", nn.Upsample)
def _upsample(name: str, m: nn.Upsample) -> FloatLayer:
    if m.mode != "nearest" or m.scale_factor is None or float(m.scale_factor) != 2.0:
        raise ValueError(f"{name} ({m}): only nearest x2 upsampling is supported")
    return FloatLayer(name, "upsample", factor=2)


@torch.no_grad()
def fold_batchnorm(seq: nn.Sequential) -> nn.Sequential:
    """A copy of ``seq`` with every BatchNorm (running statistics) folded into the Linear/Conv2d/ConvTranspose2d
    before it.

    ``gamma (W x + b - mean) / sqrt(var + eps) + beta = (s W) x + s (b - mean) + beta``, ``s = gamma / sqrt(var +
    eps)``, computed in float64. ``s`` scales the weights of each output channel: rows of a Linear/Conv2d weight
    (O, ...), the second axis of a ConvTranspose2d weight (C, O, K, K).
    """
    out: list[nn.Module] = []
    for i, m in enumerate(copy.deepcopy(seq)):
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            prev = out[-1] if out else None
            if not isinstance(prev, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
                raise ValueError(f"module {i} ({m}): BatchNorm after {type(prev).__name__} cannot be folded (only "
                                 "after Linear, Conv2d or ConvTranspose2d)")
            if isinstance(prev, nn.ConvTranspose2d) and prev.groups != 1:
                raise ValueError(f"module {i} ({m}): BatchNorm after {prev} cannot be folded (grouped transposed "
                                 "convolution; supported: groups 1)")
            s = m.weight.double() / torch.sqrt(m.running_var.double() + m.eps)
            transposed = isinstance(prev, nn.ConvTranspose2d)  # weight (C, O, K, K)
            per_output = (1, -1, 1, 1) if transposed else (-1, *[1] * (prev.weight.dim() - 1))
            w = prev.weight.double() * s.view(per_output)
            b = prev.bias.double() if prev.bias is not None else torch.zeros_like(s)
            prev.weight.data = w.float()
            prev.bias = nn.Parameter((s * (b - m.running_mean.double()) + m.bias.double()).float())
            continue
        out.append(m)
    return nn.Sequential(*out).eval()


def lower_module(i: int, m: nn.Module) -> FloatLayer:
    """The FloatLayer of module ``i`` of a folded generator; ValueError naming it when no kind lowers it."""
    lowerings = registered("torch")
    for kind, lowering in lowerings.items():
        if type(m) in lowering.modules:
            return lowering.lower(f"{kind}_{i}", m)
    known = ", ".join(t.__name__ for lowering in lowerings.values() for t in lowering.modules)
    raise ValueError(f"layer {i}: {type(m).__name__} is not supported (fpgagen lowers {known}, and BatchNorm after "
                     "Linear, Conv2d or ConvTranspose2d)")


def lower_sequential(seq: nn.Sequential, name: str, latent_dim: int, image_shape, output_range) -> FloatModel:
    """The FloatModel of a torch ``nn.Sequential`` generator (BatchNorm folded here)."""
    if not isinstance(seq, nn.Sequential):
        raise ValueError(f"{name}: fpgagen lowers an nn.Sequential generator, got {type(seq).__name__}")
    layers = [lower_module(i, m) for i, m in enumerate(fold_batchnorm(seq))]
    return FloatModel(layers, name, latent_dim, image_shape, output_range)


def lower(generator) -> FloatModel:
    """The FloatModel of a :class:`~fpgagen.models.generator.Generator`."""
    spec = generator.spec
    return lower_sequential(generator.module, spec.name, spec.latent_dim, spec.image_shape, spec.output_range)
