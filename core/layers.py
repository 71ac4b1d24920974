"""The layer vocabulary: every layer kind fpgagen knows, declared once, and what each back end implements of it.

A :class:`LayerKind` says what a kind *is*: its role (arithmetic layers hold weights and a bias, activations map
values one by one, copies move values without a cast), the attributes it carries, its shape rule and its contract
checks on a quantized layer. :data:`KINDS` holds them all; nothing else in fpgagen lists layer kinds.

Back ends register their implementation of a kind under their name, the way hls4ml registers layer handlers::

    from fpgagen.core.layers import implements

    @implements("golden", "relu")
    def relu(x, x_t, layer): ...

=============  ===================================================  ==========================================
back end       what it registers per kind                           registered by
=============  ===================================================  ==========================================
``float``      numpy float32 kernel (the board CPU's reference)      :mod:`fpgagen.core.float_model`
``golden``     integer kernel, bit-exact with C-sim and RTL          :mod:`fpgagen.core.golden`
``quantize``   the fixed-point type rules of a float layer           :mod:`fpgagen.core.quantize`
``torch``      the torch modules that lower to the kind              :mod:`fpgagen.models.lower`
``onnx``       the ONNX op types that lower to the kind              :mod:`fpgagen.models.onnx_ops`
``keras``      the Keras 3 layers that lower to the kind             :mod:`fpgagen.models.keras_import`
``hls4ml``     the torch module hls4ml's converter reads + config    :mod:`fpgagen.hls.hls4ml_flow`
``rtl``        the RTL stage (module, parameters, memory files)      :mod:`fpgagen.rtl.generate`
=============  ===================================================  ==========================================

Adding a kind: declare it here with :func:`register_kind` (shape rule and checks), then register one function
per back end in that back end's module. A back end asked to run a model with a layer it does not implement
refuses before any work with :class:`UnsupportedLayerError`, naming the layer (:func:`require`);
``tests/core/test_layers.py`` prints which back ends implement which kind.

Layers are duck-typed: a quantized :class:`~fpgagen.core.quantized_model.Layer` and a float
:class:`~fpgagen.core.float_model.FloatLayer` both carry ``name``, ``kind``, ``in_shape``, ``out_shape``,
``weight`` and the kind's attributes, so the shape rules serve both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fpgagen.core.fixed import FixedType
from fpgagen.core.transposed import (
    tap_split,
    transposed_out_size,
    transposed_phases,
    transposed_support,
    transposed_taps,
)

ROLES = ("arithmetic", "activation", "copy")


class LayerError(ValueError):
    """A layer whose attributes or shapes break its kind's rules."""


class UnsupportedLayerError(ValueError):
    """A back end asked to handle a layer kind it does not implement."""


@dataclass(frozen=True)
class LayerKind:
    """One layer kind.

    Attributes:
        name: e.g. ``"conv2d"``; the ``kind`` of every layer of this kind.
        role: ``"arithmetic"`` (weights and bias, an exact accumulator, one cast), ``"activation"`` (elementwise,
            shape kept) or ``"copy"`` (values moved, no cast: the result type is the input type).
        attributes: the kind's own attributes (beyond name, kind, shapes, weights and types).
        description: one line for docs and errors.
        out_shape: ``(layer) -> shape`` of one output sample; raises LayerError where the layer's input shape,
            weights or attributes do not fit the kind.
        checks: ``(layer, input type) -> [problems]``: the kind's contract on a quantized layer beyond its shape.
        kernel: arithmetic kinds: ``(layer) -> (n_in, n_out)`` of the dense kernel the layer runs (the product its
            reuse factor divides), from its weights alone.
        kernel_uses: arithmetic kinds: ``(layer) -> runs of that kernel per image`` (from its shapes).
    """

    name: str
    role: str
    attributes: tuple[str, ...]
    description: str
    out_shape: Callable
    checks: Callable | None = None
    kernel: Callable | None = None
    kernel_uses: Callable | None = None


KINDS: dict[str, LayerKind] = {}
# back end -> kind -> implementation
_IMPLEMENTATIONS: dict[str, dict[str, object]] = {}
BACKENDS = ("float", "golden", "quantize", "torch", "onnx", "keras", "hls4ml", "rtl")


def register_kind(kind: LayerKind) -> LayerKind:
    if kind.name in KINDS:
        raise ValueError(f"layer kind {kind.name!r} is already declared")
    if kind.role not in ROLES:
        raise ValueError(f"layer kind {kind.name!r}: role {kind.role!r} is not one of {', '.join(ROLES)}")
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> LayerKind:
    if name not in KINDS:
        raise LayerError(f"unknown kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def implements(backend: str, *kinds: str):
    """Decorator: register the decorated object as ``backend``'s implementation of ``kinds``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown back end {backend!r}; known: {', '.join(BACKENDS)}")
    for kind in kinds:
        get_kind(kind)

    def register(impl):
        table = _IMPLEMENTATIONS.setdefault(backend, {})
        for kind in kinds:
            if kind in table:
                raise ValueError(f"{backend} already implements {kind!r}")
            table[kind] = impl
        return impl

    return register


def implementation(backend: str, layer):
    """``backend``'s implementation of ``layer``'s kind; UnsupportedLayerError naming the layer otherwise."""
    impl = _IMPLEMENTATIONS.get(backend, {}).get(layer.kind)
    if impl is None:
        raise UnsupportedLayerError(f"layer {layer.name} ({layer.kind}): the {backend} back end does not implement "
                                    f"{layer.kind!r}; it implements {', '.join(implemented(backend)) or 'nothing'}")
    return impl


def registered(backend: str) -> dict[str, object]:
    """``{kind: implementation}`` of ``backend`` (of the back-end modules imported so far), in KINDS order."""
    table = _IMPLEMENTATIONS.get(backend, {})
    return {kind: table[kind] for kind in KINDS if kind in table}


def implemented(backend: str) -> list[str]:
    """The kinds ``backend`` implements (of the back-end modules imported so far)."""
    return list(registered(backend))


# (kind, placement) pairs each back end realises beyond ``rom``, which implementing a kind implies
_PLACEMENTS: dict[str, set[tuple[str, str]]] = {}


def realises(backend: str, placement: str, *kinds: str) -> None:
    """Declare that ``backend`` realises weights placed ``placement`` (``loaded`` or ``streamed``, see
    :mod:`fpgagen.core.folding`) for layers of ``kinds``; a back end that ignores placement (golden, float)
    declares nothing and is never asked."""
    _PLACEMENTS.setdefault(backend, set()).update((kind, placement) for kind in kinds)


def require(backend: str, layers, placements: bool = True) -> None:
    """Refuse, before any work, a model with layers ``backend`` does not implement (every such layer named), or,
    with ``placements``, whose weights it cannot place where a layer's ``placement`` says."""
    missing = [f"{lr.name} ({lr.kind})" for lr in layers if lr.kind not in _IMPLEMENTATIONS.get(backend, {})]
    if missing:
        raise UnsupportedLayerError(f"the {backend} back end does not implement {', '.join(missing)}; it "
                                    f"implements {', '.join(implemented(backend)) or 'nothing'}")
    realised = _PLACEMENTS.get(backend, set())
    unplaced = [f"{lr.name} ({lr.kind}, {lr.placement})" for lr in layers
                if placements and getattr(lr, "placement", "rom") != "rom" and (lr.kind, lr.placement) not in realised]
    if unplaced:
        can = ", ".join(f"{placement} {kind}" for kind, placement in sorted(realised))
        raise UnsupportedLayerError(
            f"the {backend} back end keeps weights in bitstream ROMs only"
            + (f" (and realises {can})" if can else "") + f"; it cannot place {', '.join(unplaced)}: quantize for "
            "a board whose block RAM holds these weights (--board), or run a back end that realises the placement")


def by_role(role: str) -> tuple[str, ...]:
    return tuple(name for name, kind in KINDS.items() if kind.role == role)


# ============================================================================================== contract helpers
def codes_fit(codes: np.ndarray, t: FixedType) -> bool:
    """Codes lie in ``t``'s range; under AP_SAT_SYM the most negative code is excluded (a cast makes it -max)."""
    lo = -t.max_code if t.signed and t.overflow == "SAT_SYM" else t.min_code
    return codes.size == 0 or (codes.min() >= lo and codes.max() <= t.max_code)


def weight_rows(lr) -> np.ndarray:
    """The weights summed into one accumulator, one row per distinct sum (for accumulator bounds):
    dense (O, I); conv2d (O, C*K*K); conv_transpose2d (O * stride**2, C * taps): one row per output channel and
    phase, holding that phase's taps."""
    w = lr.weight
    if lr.kind == "conv_transpose2d":
        phases = transposed_phases(w.shape[2], lr.stride)
        rows = []
        for ry in phases:
            for rx in phases:
                sub = w[:, :, ry][:, :, :, rx]  # C, O, taps_y, taps_x
                rows.append(sub.transpose(1, 0, 2, 3).reshape(w.shape[1], -1))
        width = max(r.shape[1] for r in rows)
        return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]))) for r in rows])
    return w.reshape(w.shape[0], -1)


def accumulator_bound(lr, x_t: FixedType, frac: int) -> int:
    """Largest |accumulator code| of arithmetic layer ``lr`` at ``frac`` fraction bits, over every input of type
    ``x_t``."""
    rows = weight_rows(lr)
    w = np.abs(rows).sum(axis=1)
    bias = np.tile(lr.bias, rows.shape[0] // lr.bias.size)
    x_max = max(abs(x_t.min_code), abs(x_t.max_code))
    sums = w * x_max * (1 << (frac - x_t.frac - lr.weight_t.frac)) + np.abs(bias) * (1 << (frac - lr.bias_t.frac))
    return int(sums.max(initial=0))


def kernel_dims(lr) -> tuple[int, int]:
    """(n_in, n_out) of the dense kernel an arithmetic layer runs (the product its reuse factor divides)."""
    return get_kind(lr.kind).kernel(lr)


def kernel_uses(lr) -> int:
    """How often an arithmetic layer's dense kernel runs per image, each time for ``reuse_factor`` cycles."""
    return get_kind(lr.kind).kernel_uses(lr)


def _arithmetic_checks(lr, x_t: FixedType) -> list[str]:
    """Types present, bias shape, codes in their types, the accumulator exact, the reuse factor dividing."""
    p = [f"{key} missing" for key in ("weight_t", "bias_t", "accum_t") if getattr(lr, key) is None]
    if lr.weight is None or lr.bias is None:
        return p + ["weight or bias codes missing"]
    if p:
        return p
    n_in, n_out = kernel_dims(lr) if lr.weight.ndim in (2, 4) else (0, -1)
    if tuple(lr.bias.shape) != (n_out,):
        p.append(f"bias shape {tuple(lr.bias.shape)}, expected {(n_out,)}")
    if not codes_fit(lr.weight, lr.weight_t):
        p.append(f"weight codes outside {lr.weight_t}")
    if not codes_fit(lr.bias, lr.bias_t):
        p.append(f"bias codes outside {lr.bias_t}")
    acc = lr.accum_t
    if acc.frac < x_t.frac + lr.weight_t.frac or acc.frac < lr.bias_t.frac:
        p.append(f"accumulator {acc} has {acc.frac} fraction bits; exact accumulation needs "
                 f"{max(x_t.frac + lr.weight_t.frac, lr.bias_t.frac)} (input {x_t}, weight {lr.weight_t}, "
                 f"bias {lr.bias_t})")
    elif not p:
        bound = accumulator_bound(lr, x_t, acc.frac)
        if bound > acc.max_code:
            width = int(bound).bit_length() + 1
            p.append(f"accumulator {acc} can overflow: sums reach {bound} codes, it holds {acc.max_code} "
                     f"(needs at least ap_fixed<{width},{width - acc.frac}>)")
    if lr.kind == "conv_transpose2d":
        try:
            tap_split(n_in, n_out, lr.reuse_factor)
        except ValueError as e:
            p.append(str(e))
    elif lr.reuse_factor < 1 or (n_in * n_out) % lr.reuse_factor:
        p.append(f"reuse factor {lr.reuse_factor} does not divide the {n_in * n_out} weights")
    return p


def _copy_checks(lr, x_t: FixedType) -> list[str]:
    if lr.result_t != x_t:
        return [f"result_t {lr.result_t} must equal its input type {x_t} (a {lr.kind} copies)"]
    return []


# ============================================================================================== shape rules
def _need(cond: bool, lr, text: str) -> None:
    if not cond:
        raise LayerError(f"layer {lr.name} ({lr.kind}): {text}")


def _feature_map(lr) -> tuple[int, int, int]:
    _need(len(lr.in_shape) == 3, lr, f"needs a (C, H, W) input, got {tuple(lr.in_shape)}")
    return tuple(int(v) for v in lr.in_shape)


def _square_kernel(lr, channel_axis: int, channels: int) -> int:
    w = lr.weight
    _need(w is not None and w.ndim == 4 and w.shape[2] == w.shape[3] and w.shape[channel_axis] == channels, lr,
          f"weight {None if w is None else tuple(w.shape)} does not take {channels} input channels with a square "
          "kernel")
    return int(w.shape[2])


def _dense_shape(lr) -> tuple:
    w = lr.weight
    _need(len(lr.in_shape) == 1, lr, f"needs a vector input, got {tuple(lr.in_shape)}")
    _need(w is not None and w.ndim == 2 and w.shape[1] == lr.in_shape[0], lr,
          f"weight {None if w is None else tuple(w.shape)} (out, in) does not take ({lr.in_shape[0]},)")
    return (int(w.shape[0]),)


def _conv2d_shape(lr) -> tuple:
    c, h, w = _feature_map(lr)
    k = _square_kernel(lr, 1, c)
    pad = lr.padding
    _need(isinstance(pad, int | np.integer) and pad >= 0, lr, f"padding must be a non-negative integer, got {pad!r}")
    _need(h + 2 * pad >= k and w + 2 * pad >= k, lr, f"kernel {k}x{k} larger than the padded input {(c, h, w)}")
    return (int(lr.weight.shape[0]), h + 2 * pad - k + 1, w + 2 * pad - k + 1)


def _conv_transpose2d_shape(lr) -> tuple:
    c, h, w = _feature_map(lr)
    k = _square_kernel(lr, 0, c)
    s, pad, out_pad = lr.stride, lr.padding, lr.output_padding
    _need(all(isinstance(v, int | np.integer) for v in (s, pad, out_pad)) and s >= 1 and pad >= 0, lr,
          f"integers stride >= 1, padding >= 0 and output_padding needed, got stride {s}, padding {pad}, "
          f"output_padding {out_pad}")
    size = [transposed_out_size(n, k, s, pad, out_pad) for n in (h, w)]
    _need(min(size) >= 1, lr, f"output size {size} from input {(c, h, w)}")
    return (int(lr.weight.shape[1]), *size)


def _conv_transpose2d_checks(lr, x_t: FixedType) -> list[str]:
    k = lr.weight.shape[-1] if lr.weight is not None and lr.weight.ndim == 4 else -1
    return [f"unsupported {u}" for u in transposed_support(k, lr.stride, lr.padding, lr.output_padding)]


def _same_shape(lr) -> tuple:
    return tuple(lr.in_shape)


def _reshape_shape(lr) -> tuple:
    _need(int(np.prod(lr.in_shape)) == int(np.prod(lr.out_shape)), lr,
          f"cannot reshape {tuple(lr.in_shape)} to {tuple(lr.out_shape)}")
    return tuple(lr.out_shape)


def _upsample_shape(lr) -> tuple:
    c, h, w = _feature_map(lr)
    _need(lr.factor == 2, lr, f"only nearest x2 upsampling is supported, got factor {lr.factor!r}")
    return (c, h * lr.factor, w * lr.factor)


def _leaky_relu_checks(lr, x_t: FixedType) -> list[str]:
    if lr.alpha is None or lr.param_t is None:
        return ["alpha or param_t missing"]
    if not codes_fit(np.array([lr.alpha]), lr.param_t):
        return [f"alpha code {lr.alpha} outside {lr.param_t}"]
    return []


def _table_checks(lr, x_t: FixedType) -> list[str]:
    if lr.table_t is None or lr.table_size is None:
        return ["table_t or table_size missing"]
    if lr.table_size < 2 or lr.table_size & (lr.table_size - 1):
        return [f"table_size must be a power of two >= 2, got {lr.table_size}"]
    return []


def _useful_taps(lr) -> int:
    """Useful (output pixel, kernel tap) pairs of one channel pair: those whose input pixel exists."""
    k = lr.weight.shape[-1]
    return transposed_taps(k, lr.stride, lr.padding, lr.out_shape[1:], lr.in_shape[1:])[1]


# dense: one (I x O) kernel per image; conv2d: one (C*K*K x O) kernel per output pixel; conv_transpose2d: one
# tap's (C x O) kernel per useful (output pixel, tap) pair -- the border and inserted zeros are never multiplied.
register_kind(LayerKind("dense", "arithmetic", (), "x @ weight.T + bias; weight (out, in)", _dense_shape,
                        _arithmetic_checks, kernel=lambda lr: (lr.weight.shape[1], lr.weight.shape[0]),
                        kernel_uses=lambda lr: 1))
register_kind(LayerKind("conv2d", "arithmetic", ("padding",),
                        "stride-1 square convolution (cross-correlation) with zero padding; weight (O, C, K, K)",
                        _conv2d_shape, _arithmetic_checks, kernel=lambda lr: (lr.weight[0].size, lr.weight.shape[0]),
                        kernel_uses=lambda lr: lr.out_shape[1] * lr.out_shape[2]))
register_kind(LayerKind("conv_transpose2d", "arithmetic", ("stride", "padding", "output_padding"),
                        "torch's ConvTranspose2d, square kernel, sub-pixel; weight (C, O, K, K)",
                        _conv_transpose2d_shape,
                        lambda lr, x_t: _conv_transpose2d_checks(lr, x_t) + _arithmetic_checks(lr, x_t),
                        kernel=lambda lr: (lr.weight.shape[0], lr.weight.shape[1]), kernel_uses=_useful_taps))
register_kind(LayerKind("relu", "activation", (), "max(x, 0)", _same_shape))
register_kind(LayerKind("leaky_relu", "activation", ("alpha",), "x if x > 0 else alpha * x", _same_shape,
                        _leaky_relu_checks))
register_kind(LayerKind("tanh", "activation", ("table_size",), "tanh(x), by hls4ml's table on [-4, 4)",
                        _same_shape, _table_checks))
register_kind(LayerKind("sigmoid", "activation", ("table_size",), "1 / (1 + exp(-x)), by hls4ml's table on [-8, 8)",
                        _same_shape, _table_checks))
register_kind(LayerKind("reshape", "copy", (), "a flat vector viewed as (C, H, W), torch's view(-1, C, H, W)",
                        _reshape_shape, _copy_checks))
register_kind(LayerKind("upsample", "copy", ("factor",), "nearest-neighbour upsampling by 2", _upsample_shape,
                        _copy_checks))

ARITHMETIC = by_role("arithmetic")
ACTIVATIONS = by_role("activation")


def check_layer(lr, x_t: FixedType) -> list[str]:
    """Every problem of quantized layer ``lr`` whose input has type ``x_t``: its shape rule, then its checks."""
    try:
        kind = get_kind(lr.kind)
    except LayerError as e:
        return [str(e)]
    try:
        want = kind.out_shape(lr)
    except LayerError as e:
        return [str(e).split(": ", 1)[1]]
    p = []
    if tuple(lr.out_shape) != tuple(want):
        p.append(f"out_shape {tuple(lr.out_shape)} does not follow from in_shape {tuple(lr.in_shape)} and the "
                 f"layer's weights and attributes (expected {tuple(want)})")
    return p + (kind.checks(lr, x_t) if kind.checks else [])
