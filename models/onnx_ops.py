"""The ONNX front end's lowerings, one per layer kind (registered as the ``onnx`` back end of
:mod:`fpgagen.core.layers`), and the BatchNormalization and bias folding; :mod:`fpgagen.models.onnx_import` walks a
graph through them.

A node reaches its lowering as an :class:`OnnxOp` (its attributes and constant inputs resolved) together with the
:class:`Flow` of the tensor it takes (shapes, the channels-last permutation Transposes left, the layer a BatchNorm or
a bias Add may fold into). torch-free: onnx and numpy only.

Adding an ONNX spelling of a kind: list its op type in that kind's ``@lowers`` below.
"""


from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import onnx

from fpgagen.core.errors import Unsupported
from fpgagen.core.float_model import FloatLayer
from fpgagen.core.layers import implements
from fpgagen.core.transposed import TRANSPOSED_SUPPORTED, transposed_support
from fpgagen.models.imports import conv_transpose_1x1_as_dense, fold_batchnorm_into


@dataclass(frozen=True)
class Flow:
    """The computed tensor at some point of the chain, as the layers so far produce it.

    Attributes:
        x_shape: per-sample shape of the layers so far (fpgagen's layout: a vector or (C, H, W)).
        view: per-sample shape the graph gives their output, read in C order (shape-only nodes change it).
        perm: the graph's tensor is ``view`` transposed by ``perm`` (Transpose nodes change it).
        fold: the arithmetic layer this tensor is the direct output of (a BatchNormalization or a bias Add after
            it folds into it), else None.
    """

    x_shape: tuple
    view: tuple
    perm: tuple
    fold: FloatLayer | None = None

    @property
    def shape(self) -> tuple:
        """The per-sample shape of the graph's tensor."""
        return tuple(self.view[p] for p in self.perm)

    @property
    def flat_order_kept(self) -> bool:
        """The graph's tensor, read in C order, is the layers' output in C order (the transposes move no value)."""
        n = math.prod(self.view)
        return bool((np.arange(n).reshape(self.view).transpose(self.perm).ravel() == np.arange(n)).all())


def identity_perm(rank: int) -> tuple:
    return tuple(range(rank))


@dataclass
class OnnxOp:
    """One node as a lowering sees it.

    Attributes:
        index, label: graph position and ``"name (OpType)"`` (refusals name it).
        node: the NodeProto.
        attrs: its attributes as Python values (strings decoded).
        values: per input, its constant value (initializer, Constant or evaluated at import), else None.
        data: which input is the computed tensor.
        opset: the default domain's opset.
        batch: the batch size shape arithmetic sees.
    """

    index: int
    label: str
    node: onnx.NodeProto
    attrs: dict
    values: list
    data: int
    opset: int
    batch: int

    @property
    def op_type(self) -> str:
        return self.node.op_type

    def has(self, i: int) -> bool:
        """Input ``i`` is given (not omitted, not an empty tensor)."""
        return i < len(self.node.input) and self.node.input[i] != "" and not (
            self.values[i] is not None and self.values[i].size == 0)

    def const(self, i: int, what: str) -> np.ndarray:
        if not self.has(i):
            raise Unsupported(f"no {what} (input {i})")
        if self.values[i] is None:
            raise Unsupported(f"its {what} (input {i}, {self.node.input[i]!r}) is computed from the latent; "
                              "fpgagen needs it constant")
        return self.values[i]


@dataclass(frozen=True)
class OnnxLowering:
    """The ``onnx`` implementation of a kind.

    Attributes:
        ops: the op types that lower to the kind.
        lower: ``(op, flow) -> FloatLayer`` for an :class:`OnnxOp` whose computed input is ``flow``; raises
            :class:`Unsupported` naming each unsupported attribute. Arithmetic kinds return the layer with its
            float32 weights in torch layouts (a dense layer from a ConvTranspose on a 1x1 map states the
            (C, H, W) view of its output as ``out_shape``); the shape-only kind (``reshape``) returns the new
            :class:`Flow` instead.
        limits: what of those ops is supported, in words (for refusals); empty when everything is.
    """

    ops: tuple[str, ...]
    lower: Callable[[OnnxOp, Flow], FloatLayer | Flow]
    limits: str = ""

    def describe(self) -> str:
        return ", ".join(self.ops) + (f" ({self.limits})" if self.limits else "")


def lowers(kind: str, ops: tuple[str, ...], limits: str = ""):
    """Decorator: register ``fn(op, flow)`` as the lowering of the ONNX ``ops`` to ``kind``."""

    def register(fn):
        implements("onnx", kind)(OnnxLowering(tuple(ops), fn, limits))
        return fn

    return register


def _decimal(value: float) -> float:
    """A float32 attribute (alpha, epsilon) as the decimal it was written from: exporters store 0.2 as float32
    0.200000003, the torch module held 0.2; folding and quantizing from the same number keeps the two front ends'
    models identical."""
    return float(str(np.float32(value)))


def _ints(op: OnnxOp, key: str, default) -> list[int]:
    return [int(v) for v in op.attrs.get(key, default)]


def _pair(values: list[int], name: str, problems: list[str], supported: str = "the same on both axes") -> int:
    if len(set(values)) != 1:
        problems.append(f"{name} {values} (supported: {supported})")
    return values[0]


# ============================================================================================== the kinds
@lowers("dense", ("Gemm", "MatMul"), limits="on a vector (N, K): Gemm with transA 0 (any alpha, beta, transB); "
        "MatMul by a constant (K, M) weight; ConvTranspose on a 1x1 map after the latent vector")
def _dense(op: OnnxOp, flow: Flow) -> FloatLayer:
    if op.data != 0:
        raise Unsupported(f"the computed tensor is input {op.data} (supported: input 0, times a constant weight)")
    weight = op.const(1, "weight")
    if weight.ndim != 2:
        raise Unsupported(f"weight of shape {weight.shape} (supported: 2-d)")
    if op.op_type == "MatMul":
        return FloatLayer("", "dense", weight=np.ascontiguousarray(weight.T, np.float32),
                          bias=np.zeros(weight.shape[1], np.float32))
    if op.attrs.get("transA", 0):
        raise Unsupported(f"transA {op.attrs['transA']} (supported: 0)")
    weight = weight if op.attrs.get("transB", 0) else weight.T
    alpha, beta = float(op.attrs.get("alpha", 1.0)), float(op.attrs.get("beta", 1.0))
    if alpha != 1.0:
        weight = (weight.astype(np.float64) * alpha).astype(np.float32)
    n_out = weight.shape[0]
    bias = np.zeros(n_out, np.float32)
    if op.has(2):
        c = op.const(2, "bias C")
        if c.size not in (1, n_out) or any(d != 1 for d in c.shape[:-1]):
            raise Unsupported(f"bias C of shape {c.shape} (supported: one value per output, (M,) or (1, M))")
        bias = np.broadcast_to(c.reshape(-1), (n_out,)).astype(np.float32)
        if beta != 1.0:
            bias = (bias.astype(np.float64) * beta).astype(np.float32)
    return FloatLayer("", "dense", weight=np.ascontiguousarray(weight, np.float32), bias=np.ascontiguousarray(bias))


def _conv_common(op: OnnxOp, problems: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias (a zero bias where none is given); dilation 1, group 1 and a 2-d square kernel checked."""
    weight = op.const(1, "weight")
    if op.data != 0:
        raise Unsupported(f"the computed tensor is input {op.data} (supported: input 0)")
    if weight.ndim != 4:
        raise Unsupported(f"a {weight.ndim - 2}-d kernel {weight.shape} (supported: 2-d)")
    if op.attrs.get("group", 1) != 1:
        problems.append(f"group {op.attrs['group']} (supported: 1)")
    if any(d != 1 for d in _ints(op, "dilations", [1, 1])):
        problems.append(f"dilations {_ints(op, 'dilations', [])} (supported: [1, 1])")
    if weight.shape[2] != weight.shape[3]:
        problems.append(f"kernel_shape {list(weight.shape[2:])} (supported: square)")
    n_out = weight.shape[0] if op.op_type == "Conv" else weight.shape[1] * int(op.attrs.get("group", 1))
    bias = op.const(2, "bias") if op.has(2) else np.zeros(n_out, np.float32)
    return np.asarray(weight, np.float32), np.asarray(bias, np.float32).reshape(-1)


@lowers("conv2d", ("Conv",), limits="strides 1, a square kernel, the same zero padding on every side (pads, or "
        "auto_pad VALID, or SAME_* with an odd kernel), dilations 1, group 1")
def _conv2d(op: OnnxOp, flow: Flow) -> FloatLayer:
    problems: list[str] = []
    weight, bias = _conv_common(op, problems)
    k = weight.shape[2]
    if any(s != 1 for s in _ints(op, "strides", [1, 1])):
        problems.append(f"strides {_ints(op, 'strides', [])} (supported: [1, 1])")
    auto_pad = op.attrs.get("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        pad = 0
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pad = (k - 1) // 2
        if k % 2 == 0:
            problems.append(f"auto_pad {auto_pad} with the even kernel {k} (pads one side more; supported: odd)")
    elif auto_pad == "NOTSET":
        pad = _pair(_ints(op, "pads", [0, 0, 0, 0]), "pads", problems, "the same on every side")
    else:
        raise Unsupported(f"auto_pad {auto_pad!r}")
    if problems:
        raise Unsupported(*problems)
    return FloatLayer("", "conv2d", weight=weight, bias=bias, padding=int(pad))


@lowers("conv_transpose2d", ("ConvTranspose",),
        limits=f"{TRANSPOSED_SUPPORTED} (pads the same at both ends, no output_shape); on a 1x1 map after the "
               "latent vector: any kernel, strides, pads and output_padding, lowered to a dense layer")
def _conv_transpose2d(op: OnnxOp, flow: Flow) -> FloatLayer:
    problems: list[str] = []
    weight, bias = _conv_common(op, problems)
    if "output_shape" in op.attrs:
        problems.append(f"output_shape {_ints(op, 'output_shape', [])} (supported: pads and output_padding)")
    if op.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        problems.append(f"auto_pad {op.attrs['auto_pad']} (supported: NOTSET, VALID)")
    pads = _ints(op, "pads", [0, 0, 0, 0]) if op.attrs.get("auto_pad", "NOTSET") == "NOTSET" else [0, 0, 0, 0]
    if pads[:2] != pads[2:]:
        problems.append(f"pads {pads} (supported: the same at both ends of an axis)")
    strides, out_pads = _ints(op, "strides", [1, 1]), _ints(op, "output_padding", [0, 0])
    one_by_one = len(flow.x_shape) == 1 and len(flow.shape) == 3 and flow.shape[1:] == (1, 1)
    if one_by_one:
        if problems:
            raise Unsupported(*problems)
        dense, dense_bias = conv_transpose_1x1_as_dense(weight, bias, tuple(pads[:2]), tuple(out_pads))
        h, w = weight.shape[2] - 2 * pads[0] + out_pads[0], weight.shape[3] - 2 * pads[1] + out_pads[1]
        return FloatLayer("", "dense", weight=dense, bias=dense_bias, out_shape=(weight.shape[1], h, w))
    s = _pair(strides, "strides", problems)
    p = _pair(pads[:2], "pads", problems)
    out_pad = _pair(out_pads, "output_padding", problems)
    problems += transposed_support(weight.shape[2], s, p, out_pad)
    if problems:
        raise Unsupported(*problems)
    return FloatLayer("", "conv_transpose2d", weight=weight, bias=bias, stride=s, padding=p, output_padding=out_pad)


@lowers("relu", ("Relu",))
def _relu(op: OnnxOp, flow: Flow) -> FloatLayer:
    return FloatLayer("", "relu")


@lowers("leaky_relu", ("LeakyRelu",))
def _leaky_relu(op: OnnxOp, flow: Flow) -> FloatLayer:
    return FloatLayer("", "leaky_relu", alpha=_decimal(op.attrs.get("alpha", 0.01)))


@lowers("tanh", ("Tanh",))
def _tanh(op: OnnxOp, flow: Flow) -> FloatLayer:
    return FloatLayer("", "tanh")


@lowers("sigmoid", ("Sigmoid",))
def _sigmoid(op: OnnxOp, flow: Flow) -> FloatLayer:
    return FloatLayer("", "sigmoid")


@lowers("reshape", ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"),
        limits="the batch axis kept first; a run of them is one view of a vector as (C, H, W) -- or as (H, W, C) "
               "transposed to (C, H, W) -- or nothing where the shape does not change; Transposes elsewhere only "
               "change the layout the graph sees")
def _reshape(op: OnnxOp, flow: Flow) -> Flow:
    full = (op.batch, *flow.shape)
    if op.op_type == "Transpose":
        perm = _ints(op, "perm", list(reversed(range(len(full)))))
        if sorted(perm) != list(range(len(full))) or perm[0] != 0:
            raise Unsupported(f"perm {perm} (supported: the batch axis kept first)")
        return replace(flow, perm=tuple(flow.perm[p - 1] for p in perm[1:]), fold=None)
    new = tuple(int(v) for v in _reshaped(op, full))
    if new[:1] != (op.batch,):
        raise Unsupported(f"{op.op_type} of {batched(full)} to {batched(new, op.batch)} does not keep the batch "
                          "axis first")
    if new[1:] == flow.shape:
        return replace(flow, fold=None)
    if not flow.flat_order_kept:
        raise Unsupported(f"reshapes a tensor transposed from fpgagen's layout ({batched(full)} to "
                          f"{batched(new, op.batch)}); supported: reshapes before the Transpose")
    return Flow(flow.x_shape, new[1:], identity_perm(len(new) - 1))


def batched(shape: tuple, batch: int | None = None) -> str:
    batch = shape[0] if batch is None else batch
    return "(" + ", ".join("N" if i == 0 and v == batch else str(v) for i, v in enumerate(shape)) + ")"


def _reshaped(op: OnnxOp, full: tuple) -> tuple:
    """The full shape (batch first) of a Reshape, Flatten, Squeeze or Unsqueeze's output."""
    rank = len(full)
    if op.op_type == "Reshape":
        target = [int(v) for v in op.const(1, "shape").reshape(-1)]
        if not op.attrs.get("allowzero", 0):
            target = [full[i] if v == 0 and i < rank else v for i, v in enumerate(target)]
        if target.count(-1) > 1:
            raise Unsupported(f"shape {target} with more than one -1")
        if -1 in target:
            known = math.prod(v for v in target if v != -1)
            target[target.index(-1)] = math.prod(full) // known if known else 0
        if math.prod(target) != math.prod(full):
            raise Unsupported(f"shape {target} does not hold the {math.prod(full) // op.batch} values per sample")
        return tuple(target)
    if op.op_type == "Flatten":
        axis = int(op.attrs.get("axis", 1))
        axis = axis + rank if axis < 0 else axis
        return (math.prod(full[:axis]), math.prod(full[axis:]))
    if "axes" in op.attrs:
        axes = _ints(op, "axes", [])
    elif op.has(1):
        axes = [int(v) for v in op.const(1, "axes").reshape(-1)]
    else:
        axes = None
    if op.op_type == "Squeeze":
        axes = [i for i, v in enumerate(full) if v == 1] if axes is None else [a % rank for a in axes]
        if any(full[a] != 1 for a in axes):
            raise Unsupported(f"squeezes axes {axes} of {batched(full)}, not all of size 1")
        return tuple(v for i, v in enumerate(full) if i not in axes)
    out_rank = rank + len(axes or [])
    axes = sorted(a % out_rank for a in axes or [])
    shape = list(full)
    for a in axes:
        shape.insert(a, 1)
    return tuple(shape)


# (coordinate_transformation_mode) -> source coordinate of output x, for an input of n and an output of m pixels
_COORDINATES: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "asymmetric": lambda x, n, m: x * n / m,
    "half_pixel": lambda x, n, m: (x + 0.5) * n / m - 0.5,
    "pytorch_half_pixel": lambda x, n, m: (x + 0.5) * n / m - 0.5 if m > 1 else 0 * x,
    "tf_half_pixel_for_nn": lambda x, n, m: (x + 0.5) * n / m,
    "align_corners": lambda x, n, m: x * (n - 1) / (m - 1) if m > 1 else 0 * x,
}
_ROUNDING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "round_prefer_floor": lambda x: np.ceil(x - 0.5),
    "round_prefer_ceil": lambda x: np.floor(x + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


def _replicates(coordinates: str, nearest: str) -> bool:
    """Nearest x2 resizing with these modes copies each input pixel into two outputs (fpgagen's upsample)."""
    n = 5
    x = np.arange(2 * n, dtype=np.float64)
    source = np.clip(_ROUNDING[nearest](_COORDINATES[coordinates](x, n, 2 * n)), 0, n - 1)
    return bool((source == np.repeat(np.arange(n), 2)).all())


@lowers("upsample", ("Resize", "Upsample"),
        limits="mode nearest, scales (or sizes) of 2 on H and W of an NCHW map, with a coordinate_transformation_mode "
               "and nearest_mode whose nearest x2 copies each pixel twice: asymmetric (nearest_mode floor or "
               "round_prefer_floor); half_pixel, pytorch_half_pixel, align_corners (round_prefer_floor or "
               "round_prefer_ceil); tf_half_pixel_for_nn (floor); not tf_crop_and_resize")
def _upsample(op: OnnxOp, flow: Flow) -> FloatLayer:
    problems = []
    if op.data != 0:
        raise Unsupported(f"the computed tensor is input {op.data} (supported: input 0)")
    mode = op.attrs.get("mode", "nearest")
    if mode != "nearest":
        problems.append(f"mode {mode!r} (supported: 'nearest')")
    full = (op.batch, *flow.shape)
    legacy = op.op_type == "Upsample" or op.opset < 11
    if legacy:
        coordinates, nearest = "asymmetric", "floor"
        scales = op.const(1, "scales") if op.has(1) else np.array(op.attrs.get("scales", []), np.float32)
        sizes = None
    else:
        coordinates = op.attrs.get("coordinate_transformation_mode", "half_pixel")
        nearest = op.attrs.get("nearest_mode", "round_prefer_floor")
        scales = op.const(2, "scales") if op.has(2) else None
        sizes = op.const(3, "sizes") if op.has(3) else None
    axes = _ints(op, "axes", list(range(len(full))))
    factors = [1.0] * len(full)
    given = scales if scales is not None else sizes
    if given is None or len(given) != len(axes):
        raise Unsupported(f"scales {scales} / sizes {sizes} for the axes {axes}")
    for a, v in zip(axes, given.reshape(-1).tolist(), strict=True):
        factors[a % len(full)] = float(v) if scales is not None else float(v) / full[a % len(full)]
    if len(full) != 4 or factors != [1.0, 1.0, 2.0, 2.0]:
        problems.append(f"scales {factors} on {batched(full)} (supported: [1, 1, 2, 2] on NCHW)")
    if coordinates not in _COORDINATES:
        problems.append(f"coordinate_transformation_mode {coordinates!r} (supported: {', '.join(_COORDINATES)})")
    elif nearest not in _ROUNDING:
        problems.append(f"nearest_mode {nearest!r} (supported: {', '.join(_ROUNDING)})")
    elif mode == "nearest" and not _replicates(coordinates, nearest):
        problems.append(f"coordinate_transformation_mode {coordinates!r} with nearest_mode {nearest!r} does not copy "
                        "each pixel twice (supported: asymmetric with floor or round_prefer_floor; half_pixel, "
                        "pytorch_half_pixel, align_corners with round_prefer_floor or round_prefer_ceil)")
    if problems:
        raise Unsupported(*problems)
    return FloatLayer("", "upsample", factor=2)


# ============================================================================================== folding
def fold_batchnorm(op: OnnxOp, flow: Flow) -> Flow:
    """Fold an inference BatchNormalization into the arithmetic layer right before it (float64, as
    :func:`fpgagen.models.lower.fold_batchnorm` does)."""
    layer = flow.fold
    problems = []
    if op.attrs.get("training_mode", 0):
        problems.append(f"training_mode {op.attrs['training_mode']} (supported: 0, inference)")
    if op.attrs.get("spatial", 1) != 1:
        problems.append(f"spatial {op.attrs['spatial']} (supported: 1)")
    if layer is None:
        problems.append("not directly after a Gemm, MatMul, Conv or ConvTranspose: it cannot be folded")
    if problems:
        raise Unsupported(*problems)
    gamma, beta, mean, var = (op.const(i, what).astype(np.float64).reshape(-1)
                              for i, what in enumerate(("scale", "B", "input_mean", "input_var"), start=1))
    channels = flow.shape[0]
    if gamma.size != channels:
        raise Unsupported(f"{gamma.size} channels after a layer of {channels}")
    if layer.kind == "dense":  # rows are the graph's tensor in C order: channel c holds rows c*g .. c*g + g - 1
        group = layer.bias.size // channels
        gamma, beta, mean, var = (np.repeat(v, group) for v in (gamma, beta, mean, var))
    layer.weight, layer.bias = fold_batchnorm_into(layer.weight, layer.bias, gamma, beta, mean, var,
                                                   _decimal(op.attrs.get("epsilon", 1e-5)),
                                                   channel_axis=1 if layer.kind == "conv_transpose2d" else 0)
    return replace(flow, fold=None)


def fold_bias(op: OnnxOp, flow: Flow) -> Flow:
    """An Add of a constant right after an arithmetic layer: added to its bias (float32, as onnxruntime adds)."""
    layer = flow.fold
    if layer is None:
        raise Unsupported("an Add not directly after a Gemm, MatMul, Conv or ConvTranspose (supported there: a "
                          "constant bias)")
    c = op.const(1 - op.data, "addend")
    shape = (1, *flow.shape)
    try:
        full = np.broadcast_to(c.astype(np.float32), shape)[0]
    except ValueError:
        raise Unsupported(f"adds a constant of shape {c.shape} to {batched((op.batch, *flow.shape))}") from None
    if layer.kind == "dense":
        add = full.reshape(-1)
    else:
        add = full[:, 0, 0]
        if not (full == add[:, None, None]).all():
            raise Unsupported(f"adds a constant of shape {c.shape} that is not one value per channel")
    layer.bias = (layer.bias + add).astype(np.float32)
    return flow


