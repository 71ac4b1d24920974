"""The ONNX front end: a ``.onnx`` generator -> a FloatModel of the layer vocabulary, checked with onnxruntime.

:func:`read_onnx` reads a graph from one latent input (N, latent_dim) -- or (N, latent_dim, 1, 1) -- to one image
output and lowers it node by node, each node by the ``onnx`` implementation registered here for its kind in
:mod:`fpgagen.core.layers` (each names the op types it lowers and their limits), with

- **BatchNormalization** (inference) folded into the Gemm/MatMul/Conv/ConvTranspose right before it (float64,
  once, as the torch front end folds), and an **Add of a constant** right after one of them taken as its bias
  (MatMul + Add is a dense layer);
- **shape-only nodes** (Reshape, Flatten, Squeeze, Unsqueeze) never lowered one by one: a run of them becomes one
  ``reshape`` layer right before the layer that needs the shape, or none where the shape does not change;
- **Transpose** nodes, which channels-last exporters (tf2onnx, Keras) put around convolutions, tracked as the
  layout of the current tensor (a permutation of fpgagen's channels-first one): a Reshape of a vector to
  (N, H, W, C) transposed to NCHW becomes :func:`~fpgagen.models.imports.channels_last_reshape` (the dense layer's
  rows permuted, no layer added); Conv, ConvTranspose and Resize need NCHW; an output left channels-last is
  delivered NCHW (and ``run`` transposes onnxruntime's output the same way);
- a **ConvTranspose on a 1x1 map** after the latent vector (the PyTorch DCGAN stem, input (N, nz, 1, 1) or a
  Reshape to it) lowered to ``dense`` + ``reshape``, as the torch front end does;
- **Identity**, **Dropout** (inference) passed through, and every node whose inputs are all constants -- Constant,
  and the shape arithmetic torch's exporter writes for ``x.view(x.size(0), ...)``: Shape, Gather, Unsqueeze,
  Concat, Cast, Slice ... -- evaluated at import (by onnx's reference evaluator), not lowered.

Layer ``i`` is named ``<kind>_<i>``. Anything unsupported -- an op outside the vocabulary, an unsupported attribute,
a second input, a branch or merge, an opset outside :data:`OPSETS` -- is refused before anything else is built, in
one :class:`~fpgagen.core.errors.LoweringError` naming every offending node (name, op type, attribute) and the
vocabulary. Nothing is written anywhere.

**Opsets** 9 to 28 of the default domain: 9 is the first whose BatchNormalization has no ``spatial`` attribute and
whose Upsample takes its scales as an input; 28 is the newest both onnx 1.23.2's checker and onnxruntime 1.32.0
accept. torch 2.13's legacy (TorchScript) exporter writes opsets 7 to 20, 20 by default.

torch-free: onnx, onnxruntime and numpy only, so an ONNX file is read and checked without torch.

Adding an ONNX spelling of a kind: list its op type in that kind's ``@lowers`` below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from fpgagen.core.errors import LoweringError, Problems, Unsupported
from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.latents import check_latents
from fpgagen.core.layers import LayerError, get_kind, implements, registered
from fpgagen.core.transposed import TRANSPOSED_SUPPORTED, transposed_support
from fpgagen.models.imports import SourceModel, channels_last_reshape, conv_transpose_1x1_as_dense

OPSETS = (9, 28)  # default-domain opsets read (inclusive)
BATCH = 1021  # the batch size shape arithmetic sees where the graph's batch axis is symbolic (a prime no feature has)
END = 1 << 30  # graph position of problems with the output (reported last)
PASSED = ("Identity", "Dropout")
SHAPE_READERS = ("Shape", "Size")  # read only the shape of a computed tensor: not a use of its values
RANDOM = ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli")


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


def _identity(rank: int) -> tuple:
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
        raise Unsupported(f"{op.op_type} of {_batched(full)} to {_batched(new, op.batch)} does not keep the batch "
                          "axis first")
    if new[1:] == flow.shape:
        return replace(flow, fold=None)
    if not flow.flat_order_kept:
        raise Unsupported(f"reshapes a tensor transposed from fpgagen's layout ({_batched(full)} to "
                          f"{_batched(new, op.batch)}); supported: reshapes before the Transpose")
    return Flow(flow.x_shape, new[1:], _identity(len(new) - 1))


def _batched(shape: tuple, batch: int | None = None) -> str:
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
            raise Unsupported(f"squeezes axes {axes} of {_batched(full)}, not all of size 1")
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
        problems.append(f"scales {factors} on {_batched(full)} (supported: [1, 1, 2, 2] on NCHW)")
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
def _fold_batchnorm(op: OnnxOp, flow: Flow) -> Flow:
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
    s = gamma / np.sqrt(var + _decimal(op.attrs.get("epsilon", 1e-5)))
    weight = layer.weight.astype(np.float64)
    if layer.kind == "dense":  # rows are the graph's tensor in C order: channel c holds rows c*g .. c*g + g - 1
        group = layer.bias.size // channels
        s, mean, beta = (np.repeat(v, group) for v in (s, mean, beta))
        weight *= s[:, None]
    elif layer.kind == "conv2d":
        weight *= s[:, None, None, None]
    else:
        weight *= s[None, :, None, None]
    layer.weight = weight.astype(np.float32)
    layer.bias = (s * (layer.bias.astype(np.float64) - mean) + beta).astype(np.float32)
    return replace(flow, fold=None)


def _fold_bias(op: OnnxOp, flow: Flow) -> Flow:
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
        raise Unsupported(f"adds a constant of shape {c.shape} to {_batched((op.batch, *flow.shape))}") from None
    if layer.kind == "dense":
        add = full.reshape(-1)
    else:
        add = full[:, 0, 0]
        if not (full == add[:, None, None]).all():
            raise Unsupported(f"adds a constant of shape {c.shape} that is not one value per channel")
    layer.bias = (layer.bias + add).astype(np.float32)
    return flow


# ============================================================================================== the walk
def vocabulary() -> str:
    """What fpgagen lowers of ONNX, kind by kind, in words (the tail of every refusal)."""
    lines = [f"  {kind}: {lowering.describe()}" for kind, lowering in registered("onnx").items()]
    lines += ["  BatchNormalization (inference) directly after Gemm, MatMul, Conv or ConvTranspose: folded into it",
              "  Add of a constant directly after Gemm, MatMul, Conv or ConvTranspose: its bias",
              "  Identity, Dropout (inference): passed through",
              "  any node of constant inputs (Constant; Shape, Gather, Unsqueeze, Concat, Cast, Slice ... on known "
              "shapes): evaluated at import",
              f"  default-domain opsets {OPSETS[0]} to {OPSETS[1]}"]
    return "\n".join(lines)


def _lowering_of(op_type: str) -> tuple[str, OnnxLowering] | None:
    for kind, lowering in registered("onnx").items():
        if op_type in lowering.ops:
            return kind, lowering
    return None


def _label(index: int, node: onnx.NodeProto) -> str:
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
    return f"{node.name or f'node #{index}'} ({op})"


def _attributes(node: onnx.NodeProto) -> dict:
    attrs = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        attrs[a.name] = value.decode() if isinstance(value, bytes) else value
    return attrs


def _load(path: Path) -> onnx.ModelProto:
    """The checked model; FileNotFoundError or ValueError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf's DecodeError and friends
        raise ValueError(f"{path} is not an ONNX model: {type(e).__name__}: {e}") from None
    if not model.graph.node and not model.graph.output:
        raise ValueError(f"{path} is not an ONNX model: it holds no graph")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ValueError(f"{path} fails onnx.checker: {str(e).strip().splitlines()[0]}") from None
    return model


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def read_onnx(path: Path, name: str, latent_dim: int | None = None) -> SourceModel:
    """Read a ``.onnx`` generator: its FloatModel and an onnxruntime runner to check it against.

    Args:
        path: the file.
        name: the model's name (the FloatModel's).
        latent_dim: the latent size where the graph input does not state it; where it does, it must agree.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an ONNX file, or one onnx.checker rejects.
        LoweringError: before any layer is built, naming every node fpgagen does not lower and what it lowers.
    """
    path = Path(path)
    model = _load(path)
    graph = model.graph
    problems = Problems()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not OPSETS[0] <= opset <= OPSETS[1]:
        problems.add(-1, "the model", f"opset {opset} of the default domain (supported: {OPSETS[0]} to {OPSETS[1]})")
    opset = opset or OPSETS[1]

    values: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in values]
    flows: dict[str, Flow] = {}
    consumers: dict[str, list[str]] = {}
    for index, node in enumerate(graph.node):
        if node.op_type not in SHAPE_READERS:
            for t in dict.fromkeys(i for i in node.input if i):
                consumers.setdefault(t, []).append(_label(index, node))
    for out in graph.output:
        consumers.setdefault(out.name, []).append(f"graph output {out.name!r}")

    batch, in_shape = BATCH, (1,)
    if not inputs:
        problems.add(-1, "the model", "no graph input (supported: one latent input)")
    for extra in inputs[1:]:
        problems.add(-1, f"input {extra.name!r}", "a second graph input (supported: one latent input)")
        flows[extra.name] = Flow((0,), (0,), (0,))
    if inputs:
        latent_dim, batch, in_shape = _latent_input(inputs[0], latent_dim, problems)
        flows[inputs[0].name] = Flow((math.prod(in_shape),), in_shape, _identity(len(in_shape)))
        _check_branch(inputs[0].name, f"input {inputs[0].name!r}", -1, consumers, problems)
    if len(graph.output) != 1:
        problems.add(END, "the model", f"{len(graph.output)} graph outputs (supported: one image output)")

    layers: list[FloatLayer] = []
    walk = True  # shapes known: layers placed (after a refused node, the flow goes on from onnx's shape inference)
    inferred = _inferred_shapes(model)
    for index, node in enumerate(graph.node):
        label = _label(index, node)
        computed = [i for i, t in enumerate(node.input) if t in flows]
        if not computed:
            _evaluate(index, label, node, values, opset, problems)
            continue
        flow = flows[node.input[computed[0]]]
        if node.op_type in SHAPE_READERS and computed == [0]:
            _read_shape(node, flow, batch, values)
            continue
        if len(computed) > 1:
            problems.add(index, label, f"merges {len(computed)} computed tensors "
                         f"({', '.join(node.input[i] for i in computed)}); fpgagen lowers a chain")
            flows[node.output[0]], walk = _guessed(inferred.get(node.output[0]), flow, walk)
            continue
        op = OnnxOp(index, label, node, _attributes(node), [values.get(t) for t in node.input], computed[0], opset,
                    batch)
        try:
            unused = [t for t in node.output[1:] if t and t in consumers]
            if unused:
                raise Unsupported(f"its extra outputs {unused} are used (supported: the first output only)")
            flow = _lower_node(op, flow, layers if walk else None)
        except Unsupported as e:
            for text in e.problems:
                problems.add(index, label, text)
            flow, walk = _guessed(inferred.get(node.output[0]), flow, walk)
        flows[node.output[0]] = flow
        _check_branch(node.output[0], label, index, consumers, problems)

    image_shape, out_perm = (), ()
    if graph.output and walk:
        out = graph.output[0].name
        if out not in flows:
            problems.add(END, f"graph output {out!r}", "is not computed from the latent input")
        else:
            try:
                image_shape, out_perm = _output(flows[out], layers, problems)
            except Unsupported as e:
                for text in e.problems:
                    problems.add(END, f"graph output {out!r}", text)
    if problems:
        raise LoweringError(f"fpgagen cannot lower {name} ({path.name}): {len(problems)} unsupported node(s)\n"
                            + "\n".join(problems.lines()) + "\nfpgagen lowers a chain from one latent input through "
                            "these ONNX nodes:\n" + vocabulary())
    for index, layer in enumerate(layers):
        layer.name = f"{layer.kind}_{index}"
    float_model = FloatModel(layers, name, latent_dim, image_shape)
    return SourceModel(float_model, _runner(path, inputs[0], latent_dim, in_shape, out_perm),
                       f"onnxruntime {ort.__version__} (onnx opset {opset})", file=path)


def _latent_input(value: onnx.ValueInfoProto, latent_dim: int | None, problems: Problems):
    """(latent size, batch size shape arithmetic sees, per-sample input shape or None) of the latent input."""
    label = f"input {value.name!r}"
    tensor = value.type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        problems.add(-1, label, f"element type {onnx.TensorProto.DataType.Name(tensor.elem_type)} (supported: "
                     "FLOAT)")
    dims = _dims(value)
    if len(dims) not in (2, 4) or (len(dims) == 4 and dims[2:] != [1, 1]):
        problems.add(-1, label, f"shape {['?' if d is None else d for d in dims]} (supported: (N, latent_dim) or "
                     "(N, latent_dim, 1, 1))")
        return latent_dim, BATCH, tuple(d or 1 for d in dims[1:]) or (1,)  # to judge the nodes after it
    stated = dims[1]
    if stated is not None and latent_dim is not None and int(latent_dim) != stated:
        problems.add(-1, label, f"takes latents of {stated}, but latent_dim {latent_dim} was given")
    elif stated is None and latent_dim is None:
        problems.add(-1, label, "its latent size is symbolic: give latent_dim")
        latent_dim = 1
    latent_dim = int(stated if stated is not None else latent_dim)
    batch = dims[0] if dims[0] is not None else BATCH
    return latent_dim, batch, (latent_dim,) if len(dims) == 2 else (latent_dim, 1, 1)


def _inferred_shapes(model: onnx.ModelProto) -> dict[str, tuple]:
    """Per-sample shapes onnx's shape inference finds (the refusal goes on judging the nodes after a refused one)."""
    try:
        graph = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    except Exception:  # a refusal is coming anyway; judge what can be judged
        return {}
    shapes = {}
    for value in [*graph.value_info, *graph.output]:
        dims = _dims(value)
        if len(dims) > 1 and None not in dims[1:]:
            shapes[value.name] = tuple(dims[1:])
    return shapes


def _guessed(shape: tuple | None, flow: Flow, walk: bool) -> tuple[Flow, bool]:
    """The flow after a refused node: its inferred shape in fpgagen's layout, else the old one, no longer walked."""
    if shape is None or not walk:
        return flow, False
    return Flow(shape, shape, _identity(len(shape))), walk


def _check_branch(tensor: str, label: str, index: int, consumers: dict, problems: Problems) -> None:
    users = consumers.get(tensor, [])
    if len(users) > 1:
        problems.add(index, label, f"its output {tensor!r} feeds {len(users)} nodes ({', '.join(users)}): a branch; "
                     "fpgagen lowers a chain")


def _evaluate(index: int, label: str, node: onnx.NodeProto, values: dict, opset: int, problems: Problems) -> None:
    """A node of constant inputs, evaluated at import (onnx's reference evaluator, numpy)."""
    from onnx.reference import ReferenceEvaluator

    if any(t and t not in values for t in node.input):
        return  # downstream of a refused node: already reported
    if node.op_type in RANDOM:
        problems.add(index, label, "draws random numbers at run time (supported: constants evaluated at import)")
        return
    try:
        results = ReferenceEvaluator(node, opsets={"": opset}).run(None, {t: values[t] for t in node.input if t})
    except Exception as e:
        problems.add(index, label, f"could not be evaluated at import ({type(e).__name__}: {e})")
        return
    for t, v in zip(node.output, results, strict=False):
        if t:
            values[t] = np.asarray(v)


def _read_shape(node: onnx.NodeProto, flow: Flow, batch: int, values: dict) -> None:
    """Shape or Size of a computed tensor: a constant (the batch axis as ``batch``)."""
    full = np.array((batch, *flow.shape), np.int64)
    if node.op_type == "Size":
        values[node.output[0]] = np.array(math.prod(full.tolist()), np.int64)
        return
    attrs = _attributes(node)
    values[node.output[0]] = full[attrs.get("start", 0) : attrs.get("end", len(full))]


def _lower_node(op: OnnxOp, flow: Flow, layers: list[FloatLayer] | None) -> Flow:
    """The flow after ``op``; its layer (if any) appended to ``layers`` (None: only judge the node)."""
    if op.op_type in PASSED:
        if op.op_type == "Dropout" and op.has(2) and op.values[2] is not None and bool(op.values[2]):
            raise Unsupported("training_mode true (supported: inference)")
        return flow
    if op.op_type == "BatchNormalization":
        return _fold_batchnorm(op, flow) if layers is not None else flow
    if op.op_type == "Add":
        return _fold_bias(op, flow) if layers is not None else flow
    found = _lowering_of(op.op_type) if op.node.domain in ("", "ai.onnx") else None
    if found is None:
        raise Unsupported("this op is not in fpgagen's vocabulary")
    kind, lowering = found
    if kind == "reshape":
        return lowering.lower(op, flow)
    layer = lowering.lower(op, flow)
    role = get_kind(layer.kind).role
    if layers is None:
        return flow
    if layer.kind != "dense" and role != "activation":
        flow = _materialize(flow, layers)
    if role == "activation":
        layer.in_shape = flow.x_shape
        layers.append(layer)
        return replace(flow, fold=None)
    view = layer.out_shape if layer.kind == "dense" else None
    if layer.kind == "dense" and view is None and (len(flow.shape) != 1 or len(flow.x_shape) != 1):
        if len(flow.x_shape) == 3:
            raise Unsupported(f"takes the {flow.x_shape} feature map as a vector; fpgagen views a vector as a "
                              "feature map, not a feature map as a vector")
        raise Unsupported(f"applied to a {_batched((op.batch, *flow.shape))} tensor (supported: (N, K))")
    layer.in_shape = flow.x_shape
    try:
        out_shape = tuple(int(v) for v in get_kind(layer.kind).out_shape(layer))
    except LayerError as e:
        raise Unsupported(str(e).split(": ", 1)[-1]) from None
    layers.append(layer)
    view = view or out_shape
    return Flow(out_shape, view, _identity(len(view)), layer if role == "arithmetic" else None)


def _materialize(flow: Flow, layers: list[FloatLayer]) -> Flow:
    """The flow with the layers' output in the (C, H, W) shape the graph's tensor has (a ``reshape`` appended, or
    the dense layer before permuted by :func:`channels_last_reshape`); Unsupported where fpgagen cannot."""
    shape = flow.shape
    done = Flow(shape, shape, _identity(len(shape)))
    if flow.x_shape == shape and flow.flat_order_kept:
        return replace(done, fold=flow.fold)
    if len(flow.x_shape) != 1 or len(shape) != 3:
        raise Unsupported(f"needs its input as {shape}, the layers give {flow.x_shape}; fpgagen's reshape views a "
                          "vector as (C, H, W) only")
    if flow.flat_order_kept:
        layer = FloatLayer("", "reshape", out_shape=shape)
    elif len(flow.view) == 3 and flow.perm == (2, 0, 1):
        try:
            layer = channels_last_reshape(layers, flow.view, "")
        except ValueError as e:
            raise Unsupported(str(e)) from None
    else:
        raise Unsupported(f"its input is the vector viewed as {flow.view} and transposed by {list(flow.perm)}; "
                          "fpgagen views a vector as (C, H, W), or as (H, W, C) transposed to (C, H, W)")
    layer.in_shape = flow.x_shape
    layers.append(layer)
    return done


def _output(flow: Flow, layers: list[FloatLayer], problems: Problems) -> tuple[tuple, tuple]:
    """(image shape, permutation from it to the graph's output) of the final flow; a pending view materialized."""
    if len(flow.x_shape) == 3 and flow.view == flow.x_shape:
        return flow.x_shape, flow.perm
    if len(flow.shape) != 3:
        raise Unsupported(f"has shape {_batched((0, *flow.shape), 0)} (supported: images (N, C, H, W))")
    return _materialize(flow, layers).x_shape, _identity(3)


def _runner(path: Path, value: onnx.ValueInfoProto, latent_dim: int, in_shape: tuple, out_perm: tuple):
    """``run(z)``: onnxruntime (CPU) on float32 latents -> (N, C, H, W) float32 images; a fixed batch size is fed
    in chunks, a channels-last output transposed."""
    session = None
    fixed = _dims(value)[0]
    back = (0, *(1 + int(p) for p in np.argsort(out_perm)))

    def run(z: np.ndarray) -> np.ndarray:
        nonlocal session
        if session is None:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        z = check_latents(z, latent_dim).reshape(-1, *in_shape)
        step = fixed or len(z)
        outs = []
        for lo in range(0, len(z), step):
            chunk = z[lo : lo + step]
            pad = step - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *in_shape), np.float32)])
            outs.append(session.run(None, {value.name: chunk})[0][: step - pad])
        return np.ascontiguousarray(np.concatenate(outs).transpose(back), np.float32)

    return run
