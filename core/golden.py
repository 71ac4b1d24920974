"""The golden model: numpy integer arithmetic, bit-exact with hls4ml's io_stream C simulation and the RTL twin.

Tensors are int64 code arrays (see :mod:`fpgagen.core.fixed`), NCHW for feature maps and (N, D) for vectors;
the types travel beside them. Each layer function states the hls4ml template it reproduces.

fpgagen keeps every accumulator *exact*: its fraction bits cover the product's (``F_acc >= F_x + F_w``) and the
bias's, and its integer bits the largest sum the layer can form (checked by the QuantizedModel). Then the
order of accumulation cannot matter, a layer reduces to one integer matrix product, and the only rounding is the
cast of the accumulator to the result type -- the same in hls4ml, numpy and any adder tree in RTL.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np

from fpgagen.core.fixed import FixedType
from fpgagen.core.latents import check_latents as check_stream_latents
from fpgagen.core.layers import implementation, implements, require

# Integer matrix products run through float64 BLAS while every partial sum stays below 2**53 (exact).
_EXACT_FLOAT = 2**53


def _int_matmul(a: np.ndarray, b: np.ndarray, bound: int) -> np.ndarray:
    """``a @ b`` on int64 codes; ``bound`` is an upper bound of any |partial sum|."""
    if bound < _EXACT_FLOAT:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def _sum_bound(x_t: FixedType, w_codes: np.ndarray, axis) -> int:
    """Largest |sum_i x_i w_i| over inputs of type x_t (per output, maximised)."""
    x_max = max(abs(x_t.min_code), abs(x_t.max_code))
    return int(np.abs(w_codes).sum(axis=axis).max(initial=0)) * x_max


def dense(x, x_t: FixedType, w, b, w_t: FixedType, b_t: FixedType, acc_t: FixedType, res_t: FixedType):
    """``nnet::dense`` (Resource): acc = bias + sum_i x_i * w_io (exact), result = res_t(acc).

    Args:
        x: (N, n_in) codes of type ``x_t``; w: (n_out, n_in) weight codes; b: (n_out,) bias codes.
    """
    acc = _int_matmul(x, w.T, _sum_bound(x_t, w, axis=1)) << (acc_t.frac - x_t.frac - w_t.frac)
    return res_t.requantize(acc + (b << (acc_t.frac - b_t.frac))[None, :], acc_t.frac)


def conv2d(x, x_t: FixedType, w, b, w_t: FixedType, b_t: FixedType, acc_t: FixedType, res_t: FixedType,
           padding: int):
    """ZeroPadding2D (zeros) then ``nnet::conv_2d_cl`` (line buffer; the dense kernel over each window), stride 1.

    Args:
        x: (N, C, H, W) codes; w: (O, C, KH, KW) weight codes (torch layout); b: (O,) bias codes.
    """
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = h + 2 * padding - kh + 1, wd + 2 * padding - kw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))).transpose(0, 2, 3, 1)  # NHWC
    exact = _sum_bound(x_t, w.reshape(o, -1), axis=1) < _EXACT_FLOAT
    dtype = np.float64 if exact else np.int64
    xp, wt = xp.astype(dtype), w.transpose(2, 3, 1, 0).astype(dtype, order="C")  # KH, KW, C, O (BLAS-ready)
    acc = np.zeros((n, oh, ow, o), dtype)
    for i in range(kh):  # one tap at a time: no im2col copy of the whole map
        for j in range(kw):
            acc += (xp[:, i : i + oh, j : j + ow, :].reshape(-1, c) @ wt[i, j]).reshape(acc.shape)
    acc = np.rint(acc).astype(np.int64) if exact else acc
    acc = (acc << (acc_t.frac - x_t.frac - w_t.frac)) + (b << (acc_t.frac - b_t.frac))
    return res_t.requantize(acc, acc_t.frac).transpose(0, 3, 1, 2)


def conv_transpose2d(x, x_t: FixedType, w, b, w_t: FixedType, b_t: FixedType, acc_t: FixedType,
                     res_t: FixedType, stride: int, padding: int, output_padding: int):
    """torch's ConvTranspose2d on codes: every input pixel times every kernel tap, scattered to
    ``y = i * stride + t - padding`` (taps landing outside the output dropped; a negative ``output_padding`` drops
    more rows and columns at the end, as Keras's 'same' does), then the bias and one cast. The
    sum is exact, so this equals the sub-pixel (per-phase) order in which hls4ml's extension layer and the RTL
    accumulate (:func:`fpgagen.core.transposed.transposed_phases`).

    Args:
        x: (N, C, H, W) codes; w: (C, O, K, K) weight codes (torch's ConvTranspose2d layout); b: (O,) bias codes.
    """
    n, c, h, wd = x.shape
    _, o, k, _ = w.shape
    oh = (h - 1) * stride - 2 * padding + k + output_padding
    ow = (wd - 1) * stride - 2 * padding + k + output_padding
    full_h, full_w = max((h - 1) * stride + k, padding + oh), max((wd - 1) * stride + k, padding + ow)
    exact = _sum_bound(x_t, w.transpose(1, 0, 2, 3).reshape(o, -1), axis=1) < _EXACT_FLOAT
    dtype = np.float64 if exact else np.int64
    # taps first, each a contiguous C x O matrix: a strided (C, O) slice would make numpy skip BLAS
    xs, wt = x.transpose(0, 2, 3, 1).reshape(-1, c).astype(dtype), w.transpose(2, 3, 0, 1).astype(dtype, order="C")
    acc = np.zeros((n, full_h, full_w, o), dtype)
    span_h, span_w = (h - 1) * stride + 1, (wd - 1) * stride + 1
    for i in range(k):  # one tap at a time: N*H*W x C times C x O
        for j in range(k):
            acc[:, i : i + span_h : stride, j : j + span_w : stride] += (xs @ wt[i, j]).reshape(n, h, wd, o)
    acc = acc[:, padding : padding + oh, padding : padding + ow]
    acc = np.rint(acc).astype(np.int64) if exact else acc
    acc = (acc << (acc_t.frac - x_t.frac - w_t.frac)) + (b << (acc_t.frac - b_t.frac))
    return res_t.requantize(acc, acc_t.frac).transpose(0, 3, 1, 2)


def relu(x, x_t: FixedType, res_t: FixedType):
    """``nnet::relu``: x > 0 ? res_t(x) : 0."""
    return np.where(x > 0, res_t.requantize(x, x_t.frac), 0)


def leaky_relu(x, x_t: FixedType, alpha: int, param_t: FixedType, res_t: FixedType):
    """``nnet::leaky_relu``: x > 0 ? res_t(x) : res_t(alpha * x), ``alpha`` a code of ``param_t``."""
    return np.where(x > 0, res_t.requantize(x, x_t.frac), res_t.requantize(alpha * x, param_t.frac + x_t.frac))


def upsample_nearest(x, factor: int):
    """``nnet::resize_nearest``: each pixel repeated ``factor`` x ``factor`` times (a copy, no cast)."""
    return x.repeat(factor, axis=2).repeat(factor, axis=3)


# Input spans of hls4ml's activation tables: tanh covers [-4, 4), sigmoid [-8, 8).
TABLE_SPAN = {"tanh": 8, "sigmoid": 16}


def _libm():
    lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for fn in ("tanhf", "expf"):
        getattr(lib, fn).restype = ctypes.c_float
        getattr(lib, fn).argtypes = [ctypes.c_float]
    return lib


@functools.lru_cache(maxsize=32)
def activation_table(kind: str, size: int, table_t: FixedType) -> np.ndarray:
    """Codes of hls4ml's ``init_tanh_table`` / ``init_sigmoid_table``, computed with the C library's float
    ``tanhf`` / ``expf`` as the C simulation does (numpy's tanh differs in ~15% of float results)."""
    libm = _libm()
    span = TABLE_SPAN[kind]
    inputs = (span * (np.arange(size) - size / 2.0) / size).astype(np.float32)
    if kind == "tanh":
        values = np.array([libm.tanhf(float(v)) for v in inputs], np.float32)
    else:
        e = np.array([libm.expf(float(-v)) for v in inputs], np.float32)
        values = (1.0 / (np.float32(1) + e).astype(np.float64)).astype(np.float32)
    return table_t.from_float(values.astype(np.float64))


def table_index(x, x_t: FixedType, size: int, span: int):
    """``int(x * N / span) + N / 2`` (the int conversion truncates toward zero), clamped to [0, N - 1]."""
    num = x * size  # exact: x * N / span = num / (span * 2**F)
    if x_t.frac >= 0:
        den = span << x_t.frac
        q = np.abs(num) // den
    else:
        q = np.abs(num) * (1 << -x_t.frac) // span
    return np.clip(np.where(num < 0, -q, q) + size // 2, 0, size - 1)


def lut_activation(x, x_t: FixedType, table: np.ndarray, table_t: FixedType, res_t: FixedType, span: int):
    """``nnet::tanh`` / ``nnet::sigmoid``: res_t(table[index(x)])."""
    return res_t.requantize(table[table_index(x, x_t, len(table), span)], table_t.frac)


def check_latents(z, latent_dim: int) -> np.ndarray:
    """Latents as float64 (N, latent_dim) holding float32 values (the stream's beat format, so every
    fixed-point target agrees for any float input); see :func:`fpgagen.core.latents.check_latents`."""
    return check_stream_latents(z, latent_dim).astype(np.float64)


# ---------------------------------------------------------------------------------------- the kinds, registered
@implements("golden", "dense")
def _dense_layer(x, x_t: FixedType, lr):
    return dense(x, x_t, lr.weight, lr.bias, lr.weight_t, lr.bias_t, lr.accum_t, lr.result_t)


@implements("golden", "conv2d")
def _conv2d_layer(x, x_t: FixedType, lr):
    return conv2d(x, x_t, lr.weight, lr.bias, lr.weight_t, lr.bias_t, lr.accum_t, lr.result_t, lr.padding)


@implements("golden", "conv_transpose2d")
def _conv_transpose2d_layer(x, x_t: FixedType, lr):
    return conv_transpose2d(x, x_t, lr.weight, lr.bias, lr.weight_t, lr.bias_t, lr.accum_t, lr.result_t, lr.stride,
                            lr.padding, lr.output_padding)


@implements("golden", "relu")
def _relu_layer(x, x_t: FixedType, lr):
    return relu(x, x_t, lr.result_t)


@implements("golden", "leaky_relu")
def _leaky_relu_layer(x, x_t: FixedType, lr):
    return leaky_relu(x, x_t, lr.alpha, lr.param_t, lr.result_t)


@implements("golden", "tanh", "sigmoid")
def _table_layer(x, x_t: FixedType, lr):
    table = activation_table(lr.kind, lr.table_size, lr.table_t)
    return lut_activation(x, x_t, table, lr.table_t, lr.result_t, TABLE_SPAN[lr.kind])


@implements("golden", "reshape")
def _reshape_layer(x, x_t: FixedType, lr):
    return x.reshape(x.shape[0], *lr.out_shape)


@implements("golden", "upsample")
def _upsample_layer(x, x_t: FixedType, lr):
    return upsample_nearest(x, lr.factor)


def run_codes(model, z) -> np.ndarray:
    """Output codes (N, *image_shape) of QuantizedModel ``model`` for float latents ``z`` (N, latent_dim).

    Latents are cast to ``model.input_t`` (with its rounding and overflow modes: out-of-range values saturate
    under AP_SAT).
    """
    require("golden", model.layers, placements=False)  # the arithmetic does not depend on where weights live
    x = model.input_t.from_float(check_latents(z, model.latent_dim))
    x_t = model.input_t
    for lr in model.layers:
        x = implementation("golden", lr)(x, x_t, lr)
        x_t = lr.result_t
    return x


def generate(model, z, batch_size: int | None = None) -> np.ndarray:
    """Images (N, *image_shape) float32 of QuantizedModel ``model`` for latents ``z``: the golden executor.

    Works through ``batch_size`` latents at a time; by default as many as keep the largest feature map of a
    batch near 4 M values (memory stays bounded, small models run in one batch)."""
    z = check_latents(z, model.latent_dim)
    if batch_size is None:
        largest = max(int(np.prod(lr.out_shape)) for lr in model.layers)
        batch_size = max(1, (1 << 22) // largest)
    codes = np.concatenate([run_codes(model, z[i : i + batch_size]) for i in range(0, len(z), batch_size)])
    return model.output_t.to_float(codes).astype(np.float32)
