"""A FloatModel as a torch module: how an imported generator (ONNX, Keras, a model folder) runs on the ``torch``
target.

:func:`to_module` builds one torch module per layer with the float model's own weights (BatchNorm already folded),
so the module computes what :meth:`~fpgagen.core.float_model.FloatModel.run` computes, in torch; lowering it again
(:func:`fpgagen.models.lower.lower_module`) gives the same float model back.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from fpgagen.core.float_model import FloatModel
from fpgagen.models.lower import Reshape


class CropEnd(nn.Module):
    """Drop the last ``rows`` rows and columns of a feature map: a transposed convolution whose end crop exceeds its
    start crop (``output_padding < 0``, Keras's 'same' padding), which torch's ConvTranspose2d cannot express."""

    def __init__(self, rows: int):
        super().__init__()
        self.rows = rows

    def forward(self, x):
        return x[:, :, : x.shape[2] - self.rows, : x.shape[3] - self.rows]


def _conv_transpose(lr) -> nn.Module:
    c_in, c_out, k, _ = lr.weight.shape
    conv = nn.ConvTranspose2d(c_in, c_out, k, stride=lr.stride, padding=lr.padding,
                              output_padding=max(lr.output_padding, 0))
    return conv if lr.output_padding >= 0 else nn.Sequential(conv, CropEnd(-lr.output_padding))


_BUILDERS = {
    "dense": lambda lr: nn.Linear(lr.weight.shape[1], lr.weight.shape[0]),
    "conv2d": lambda lr: nn.Conv2d(lr.weight.shape[1], lr.weight.shape[0], lr.weight.shape[-1], padding=lr.padding),
    "conv_transpose2d": _conv_transpose,
    "relu": lambda lr: nn.ReLU(),
    "leaky_relu": lambda lr: nn.LeakyReLU(float(lr.alpha)),
    "tanh": lambda lr: nn.Tanh(),
    "sigmoid": lambda lr: nn.Sigmoid(),
    "reshape": lambda lr: Reshape(*lr.out_shape),
    "upsample": lambda lr: nn.Upsample(scale_factor=lr.factor, mode="nearest"),
}


@torch.no_grad()
def to_module(model: FloatModel) -> nn.Sequential:
    """An ``nn.Sequential`` (eval mode, float32) computing ``model``: one child per layer, named as the layer."""
    children = {}
    for lr in model.layers:
        if lr.kind not in _BUILDERS:
            raise ValueError(f"layer {lr.name}: no torch module for kind {lr.kind!r}")
        m = _BUILDERS[lr.kind](lr)
        if lr.weight is not None:
            target = m[0] if isinstance(m, nn.Sequential) else m
            target.weight.copy_(torch.from_numpy(lr.weight.copy()))  # a loaded file's arrays may be read-only
            target.bias.copy_(torch.from_numpy(lr.bias.copy()))
        children[lr.name] = m
    return nn.Sequential(OrderedDict(children)).eval()
