"""The torch front end's one lowering: a trained torch generator -> a FloatModel of the layer vocabulary.

Any module whose ``forward`` torch.fx can trace into a chain (:mod:`fpgagen.models.trace`) lowers, the presets'
``nn.Sequential`` s included: each call becomes the :class:`~fpgagen.core.float_model.FloatLayer` of its kind by
the ``torch`` implementations registered here in :mod:`fpgagen.core.layers` (each names the module types,
functions and Tensor methods it lowers), with

- **BatchNorm** (1d/2d, running statistics) folded into the Linear/Conv2d/ConvTranspose2d call right before it
  (float64, once);
- **shape-only calls** (view, reshape, flatten, unflatten, squeeze, unsqueeze, nn.Flatten, nn.Unflatten,
  :class:`Reshape`) never lowered one by one: a run of them becomes one ``reshape`` layer to the traced per-sample
  shape, placed right before the layer that needs that shape (element-wise activations between commute with it),
  and none at all where the layers already have that shape;
- a **ConvTranspose2d on a 1x1 input** that follows a vector (the canonical PyTorch DCGAN's first layer, after
  ``z.view(-1, nz, 1, 1)``) lowered to a ``dense`` layer whose outputs, viewed as (C_out, H, W) by the ``reshape``
  the next layer needs, are the transposed convolution's: every back end then runs dense + reshape.

Layer ``i`` of the FloatModel is named ``<kind>_<i>``. Whatever is unsupported -- an unknown module, function or
method, an unsupported attribute, a branch or merge, a second input -- is refused before anything else, in one
:class:`~fpgagen.models.trace.LoweringError` naming every offending node and the supported vocabulary.

Adding a torch spelling of a kind: list it in that kind's ``@lowers`` below. Adding a kind: see
:mod:`fpgagen.core.layers`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fpgagen.core.errors import LoweringError, Problems, Unsupported
from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.layers import LayerError, get_kind, implements, registered
from fpgagen.core.transposed import TRANSPOSED_SUPPORTED, transposed_module_problems
from fpgagen.models.imports import conv_transpose_1x1_as_dense, fold_batchnorm_into
from fpgagen.models.trace import TracedOp, qualified_name, trace

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
END = 1 << 30  # graph position of problems with the output (reported last)


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
    """The ``torch`` implementation of a kind.

    Attributes:
        modules: module types whose call lowers to the kind.
        functions: functions (``torch.relu``, ``F.interpolate`` ...) whose call lowers to it.
        methods: Tensor method names (``"relu"`` ...) whose call lowers to it.
        lower: ``(op, x_shape, batchnorm) -> FloatLayer`` for a :class:`~fpgagen.models.trace.TracedOp`, given
            the per-sample shape of the layers before it (None where unknown) and the BatchNorm folded into it
            (arithmetic kinds; else None); raises :class:`Unsupported` naming each unsupported attribute. A
            shape-only kind (``reshape``) is called with an op whose ``out_shape`` is the target.
        limits: what of those calls is supported, in words (for refusals); empty when everything is.
    """

    modules: tuple[type, ...]
    functions: tuple[Callable, ...]
    methods: tuple[str, ...]
    lower: Callable[[TracedOp, tuple | None, nn.Module | None], FloatLayer]
    limits: str = ""

    def matches(self, op: TracedOp) -> bool:
        if op.op == "call_module":
            return type(op.module) in self.modules
        if op.op == "call_method":
            return op.target in self.methods
        return any(op.target is fn for fn in self.functions)

    def describe(self) -> str:
        names = [t.__name__ for t in self.modules] + [_function_name(fn) for fn in self.functions]
        names += [f"Tensor.{m}" for m in self.methods]
        return ", ".join(dict.fromkeys(names)) + (f" ({self.limits})" if self.limits else "")


def _function_name(fn) -> str:
    return qualified_name(fn).replace("torch.nn.functional.", "F.")


def lowers(kind: str, modules=(), functions=(), methods=(), limits: str = ""):
    """Decorator: register ``fn(op, x_shape, batchnorm) -> FloatLayer`` as the lowering of the calls of
    ``modules``, ``functions`` and Tensor ``methods`` to ``kind``."""

    def register(fn):
        implements("torch", kind)(TorchLowering(tuple(modules), tuple(functions), tuple(methods), fn, limits))
        return fn

    return register


# ============================================================================================== weights, folding
def fold_batchnorm(weight: np.ndarray, bias: np.ndarray, bn: nn.Module, channel_axis: int = 0):
    """``(weight, bias)`` (float32 numpy) of a Linear/Conv2d/ConvTranspose2d with the BatchNorm ``bn`` after it folded
    in (:func:`fpgagen.models.imports.fold_batchnorm_into`; ``channel_axis`` 0 for a Linear/Conv2d weight (O, ...),
    1 for a ConvTranspose2d weight (C, O, K, K))."""
    if bn.running_mean is None or bn.running_var is None:
        raise Unsupported(f"{type(bn).__name__} without running statistics (track_running_stats=False) normalizes "
                          "by each batch and cannot be folded")
    if bn.num_features != weight.shape[channel_axis]:
        raise Unsupported(f"{type(bn).__name__}({bn.num_features}) after {weight.shape[channel_axis]} channels")
    n = bn.num_features
    gamma = bn.weight.detach().double().numpy() if bn.weight is not None else np.ones(n)
    beta = bn.bias.detach().double().numpy() if bn.bias is not None else np.zeros(n)
    return fold_batchnorm_into(weight, bias, gamma, beta, bn.running_mean.double().numpy(),
                               bn.running_var.double().numpy(), bn.eps, channel_axis)


@torch.no_grad()
def _weights(m: nn.Module, bn: nn.Module | None, n_out: int, channel_axis: int = 0) -> dict:
    """float32 numpy ``weight`` and ``bias`` of module ``m`` (a zero bias where it has none), ``bn`` folded."""
    weight = m.weight.detach().float().numpy().copy()
    bias = m.bias.detach().float().numpy().copy() if m.bias is not None else np.zeros(n_out, np.float32)
    if bn is not None:
        weight, bias = fold_batchnorm(weight, bias, bn, channel_axis)
    return {"weight": weight, "bias": bias}


def _pair_problems(m: nn.Module, supported: dict[str, object]) -> list[str]:
    """``attribute value (supported: ...)`` for each attribute of ``m`` that is not the supported value."""
    return [f"{key} {getattr(m, key)!r} (supported: {want!r})" for key, want in supported.items()
            if getattr(m, key) != want]


# ============================================================================================== the kinds
@lowers("dense", modules=(nn.Linear,), limits="on a vector")
def _linear(op: TracedOp, x_shape, bn) -> FloatLayer:
    if op.in_shape is not None and len(op.in_shape) != 1:
        raise Unsupported(f"applied to a {op.in_shape} tensor (along its last axis); fpgagen lowers Linear on a "
                          "vector")
    return FloatLayer("", "dense", **_weights(op.module, bn, op.module.out_features))


@lowers("conv2d", modules=(nn.Conv2d,), limits="stride 1, a square kernel, one zero padding for both axes, "
        "dilation 1, groups 1")
def _conv2d(op: TracedOp, x_shape, bn) -> FloatLayer:
    m = op.module
    problems = _pair_problems(m, {"stride": (1, 1), "dilation": (1, 1), "groups": 1, "padding_mode": "zeros"})
    if m.kernel_size[0] != m.kernel_size[1]:
        problems.append(f"kernel_size {m.kernel_size} (supported: square)")
    if not isinstance(m.padding, tuple) or m.padding[0] != m.padding[1]:
        problems.append(f"padding {m.padding!r} (supported: one integer for both axes)")
    if problems:
        raise Unsupported(*problems)
    return FloatLayer("", "conv2d", padding=int(m.padding[0]), **_weights(m, bn, m.out_channels))


@lowers("conv_transpose2d", modules=(nn.ConvTranspose2d,),
        limits=f"{TRANSPOSED_SUPPORTED}; on a 1x1 input after a vector: any kernel, stride, padding and "
               "output_padding, lowered to a dense layer")
def _conv_transpose2d(op: TracedOp, x_shape, bn) -> FloatLayer:
    m = op.module
    if x_shape is not None and len(x_shape) == 1 and op.in_shape is not None and op.in_shape[1:] == (1, 1):
        return _conv_transpose_1x1_as_dense(m, bn)
    problems = transposed_module_problems(m)
    if problems:
        raise Unsupported(*problems)
    return FloatLayer("", "conv_transpose2d", stride=int(m.stride[0]), padding=int(m.padding[0]),
                      output_padding=int(m.output_padding[0]), **_weights(m, bn, m.out_channels, channel_axis=1))


def _conv_transpose_1x1_as_dense(m: nn.ConvTranspose2d, bn) -> FloatLayer:
    """A ConvTranspose2d on a 1x1 map as a dense layer (:func:`~fpgagen.models.imports.conv_transpose_1x1_as_dense`,
    shared with the ONNX front end)."""
    problems = _pair_problems(m, {"dilation": (1, 1), "groups": 1, "padding_mode": "zeros"})
    if problems:
        raise Unsupported(*problems)
    w = _weights(m, bn, m.out_channels, channel_axis=1)
    weight, bias = conv_transpose_1x1_as_dense(w["weight"], w["bias"], tuple(m.padding), tuple(m.output_padding))
    return FloatLayer("", "dense", weight=weight, bias=bias)


def _activation(kind: str, **attributes) -> FloatLayer:
    return FloatLayer("", kind, **attributes)


@lowers("relu", modules=(nn.ReLU,), functions=(torch.relu, torch.relu_, F.relu), methods=("relu", "relu_"))
def _relu(op: TracedOp, x_shape, bn) -> FloatLayer:
    return _activation("relu")


@lowers("leaky_relu", modules=(nn.LeakyReLU,), functions=(F.leaky_relu, F.leaky_relu_))
def _leaky_relu(op: TracedOp, x_shape, bn) -> FloatLayer:
    if op.module is not None:
        return _activation("leaky_relu", alpha=float(op.module.negative_slope))
    return _activation("leaky_relu", alpha=float(op.arguments().get("negative_slope", 0.01)))


@lowers("tanh", modules=(nn.Tanh,), functions=(torch.tanh, torch.tanh_, F.tanh), methods=("tanh", "tanh_"))
def _tanh(op: TracedOp, x_shape, bn) -> FloatLayer:
    return _activation("tanh")


@lowers("sigmoid", modules=(nn.Sigmoid,), functions=(torch.sigmoid, torch.sigmoid_, F.sigmoid),
        methods=("sigmoid", "sigmoid_"))
def _sigmoid(op: TracedOp, x_shape, bn) -> FloatLayer:
    return _activation("sigmoid")


@lowers("reshape", modules=(Reshape, nn.Flatten, nn.Unflatten),
        functions=(torch.reshape, torch.flatten, torch.unflatten, torch.squeeze, torch.unsqueeze),
        methods=("view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "contiguous"),
        limits="a run of them is one view of a vector as (C, H, W), or nothing where the shape does not change")
def _reshape(op: TracedOp, x_shape, bn) -> FloatLayer:
    return FloatLayer("", "reshape", out_shape=tuple(op.out_shape))


@lowers("upsample", modules=(nn.Upsample, nn.UpsamplingNearest2d), functions=(F.interpolate,),
        limits="mode 'nearest', scale factor 2 on a (C, H, W) map")
def _upsample(op: TracedOp, x_shape, bn) -> FloatLayer:
    if op.module is not None:
        mode, factor, size = op.module.mode, op.module.scale_factor, op.module.size
    else:
        args = op.arguments()
        mode, factor, size = args.get("mode", "nearest"), args.get("scale_factor"), args.get("size")
    problems = [] if mode == "nearest" else [f"mode {mode!r} (supported: 'nearest')"]
    factors = factor if isinstance(factor, tuple | list) else (factor,)
    if factor is not None and {float(f) for f in factors} != {2.0}:
        problems.append(f"scale_factor {factor!r} (supported: 2)")
    shapes = op.in_shape is not None and op.out_shape is not None
    if shapes and (len(op.in_shape) != 3 or op.out_shape != (op.in_shape[0], 2 * op.in_shape[1], 2 * op.in_shape[2])):
        if not problems:
            problems.append(f"{op.in_shape} -> {op.out_shape}{f' (size {size!r})' if size is not None else ''} "
                            "(supported: (C, H, W) -> (C, 2H, 2W))")
    elif size is not None and not shapes:
        problems.append(f"size {size!r} (supported: scale_factor 2)")
    if problems:
        raise Unsupported(*problems)
    return FloatLayer("", "upsample", factor=2)


# ============================================================================================== the walk
def vocabulary() -> str:
    """What fpgagen lowers, kind by kind, in words (the tail of every refusal)."""
    lines = [f"  {kind}: {lowering.describe()}" for kind, lowering in registered("torch").items()]
    lines.append("  BatchNorm1d, BatchNorm2d (running statistics) directly after Linear, Conv2d or ConvTranspose2d: "
                 "folded into it")
    return "\n".join(lines)


def _lowering_of(op: TracedOp) -> tuple[str, TorchLowering] | None:
    for kind, lowering in registered("torch").items():
        if lowering.matches(op):
            return kind, lowering
    return None


def _unknown(op: TracedOp) -> str:
    what = {"call_module": "module", "call_method": "Tensor method"}.get(op.op, "function")
    return f"this {what} is not in fpgagen's vocabulary"


def lower_module(module: nn.Module, name: str, latent_dim: int, image_shape, output_range=(-1.0, 1.0)) -> FloatModel:
    """The FloatModel of a torch generator module (latents (N, latent_dim) -> images (N, *image_shape)); a module
    returning a flat (N, C*H*W) is viewed as images of ``image_shape`` (C, H, W), a ``reshape`` appended where its
    layers do not give that shape already.

    Raises:
        LoweringError: before any layer is built, naming every node fpgagen does not lower and what it lowers.
    """
    traced = trace(module, latent_dim)
    problems = traced.problems
    walk = traced.shapes and not problems  # a chain with known shapes: place the layers (else only judge each call)
    image_shape = tuple(int(v) for v in image_shape)
    layers: list[FloatLayer] = []
    x_shape: tuple = (latent_dim,)  # per-sample shape of the layers so far
    pending: TracedOp | None = None  # the last shape-only call, until a layer needs its shape
    for op, bn in _calls(traced.ops, problems):
        try:
            kind, layer = _lower_call(op, x_shape if walk else None, bn)
        except Unsupported as e:
            for text in e.problems:
                problems.add(op.index, op.label, text)
            kind = layer = None
        if not walk:
            continue
        if kind == "reshape":
            pending = op
        elif layer is None:  # refused: judge the rest from its traced shape
            x_shape, pending = op.out_shape, None
        else:
            x_shape = _place(layers, layer, x_shape, op, pending, problems)
            pending = pending if get_kind(layer.kind).role == "activation" else None
    if walk and traced.out_shape not in (image_shape, (math.prod(image_shape),)):
        problems.add(END, f"{type(module).__name__}.forward's return value",
                     f"has shape {traced.out_shape} per latent, the image shape is {image_shape}")
    elif walk:
        _materialize(layers, x_shape, image_shape, pending, problems)
    if problems:
        raise LoweringError(f"fpgagen cannot lower {name} ({type(module).__name__}): {len(problems)} unsupported "
                            "node(s)\n" + "\n".join(problems.lines()) + "\nfpgagen lowers a chain from one latent "
                            "input through these calls:\n" + vocabulary())
    for index, layer in enumerate(layers):
        layer.name = f"{layer.kind}_{index}"
    return FloatModel(layers, name, latent_dim, image_shape, output_range)


def _calls(ops: list[TracedOp], problems: Problems):
    """``(op, batchnorm)`` for each call of the chain, a BatchNorm right after an arithmetic call paired with it;
    any other BatchNorm is a problem."""
    i = 0
    while i < len(ops):
        op, i = ops[i], i + 1
        if isinstance(op.module, BATCHNORMS):
            problems.add(op.index, op.label, "BatchNorm not directly after a Linear, Conv2d or ConvTranspose2d "
                         "cannot be folded")
            continue
        found = _lowering_of(op)
        if found and get_kind(found[0]).role == "arithmetic" and i < len(ops) and isinstance(ops[i].module, BATCHNORMS):
            yield op, ops[i].module
            i += 1
        else:
            yield op, None


def _lower_call(op: TracedOp, x_shape: tuple | None, bn: nn.Module | None) -> tuple[str, FloatLayer | None]:
    """``(kind, layer)`` of a call (no layer for a shape-only call); Unsupported says why not."""
    found = _lowering_of(op)
    if found is None:
        raise Unsupported(_unknown(op))
    kind, lowering = found
    return kind, None if kind == "reshape" else lowering.lower(op, x_shape, bn)


def _place(layers: list[FloatLayer], layer: FloatLayer, x_shape: tuple, op: TracedOp, pending: TracedOp | None,
           problems: Problems) -> tuple:
    """Append ``layer`` (lowered from ``op``) to ``layers``, after the reshape it needs; the shape it gives.

    An activation takes the layers' shape as it is; a dense takes a vector; other kinds take the traced shape of
    their input, a pending run of shape-only calls becoming a reshape to it.
    """
    if layer.kind == "dense" and len(x_shape) != 1:
        problems.add(op.index, op.label, f"takes the {x_shape} feature map as a vector; fpgagen views a vector as a "
                     "feature map, not a feature map as a vector")
        return op.out_shape
    if get_kind(layer.kind).role != "activation" and layer.kind != "dense":
        x_shape = _materialize(layers, x_shape, op.in_shape, pending or op, problems)
    layer.in_shape = x_shape
    try:
        out_shape = tuple(int(v) for v in get_kind(layer.kind).out_shape(layer))
    except LayerError as e:
        problems.add(op.index, op.label, str(e).split(": ", 1)[-1])
        return op.out_shape
    layers.append(layer)
    return out_shape


def _materialize(layers: list[FloatLayer], x_shape: tuple, want: tuple, at: TracedOp | None,
                 problems: Problems) -> tuple:
    """Append the ``reshape`` that gives the layers the shape ``want`` the next layer (or the output) needs, unless
    they have it; ``at`` is the call that asked for the shape (a refusal names it). Returns ``want``."""
    if x_shape == want:
        return want
    at = at or TracedOp("the output", "output", None, None, (), {}, None, want, END)
    if len(x_shape) == 1 and len(want) == 3 and math.prod(want) == x_shape[0]:
        target = replace(at, in_shape=x_shape, out_shape=want)
        layer = registered("torch")["reshape"].lower(target, x_shape, None)
        layer.in_shape = x_shape
        layers.append(layer)
    else:
        problems.add(at.index, at.label, f"reshapes {x_shape} to {want}; fpgagen's reshape views a vector as "
                     "(C, H, W) only")
    return want


def lower(generator) -> FloatModel:
    """The FloatModel of a :class:`~fpgagen.models.generator.Generator` (its latent distribution included)."""
    spec = generator.spec
    model = lower_module(generator.module, spec.name, spec.latent_dim, spec.image_shape, spec.output_range)
    model.latents = spec.latents
    return model
