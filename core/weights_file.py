"""The weights file: every ``loaded`` or ``streamed`` layer's weight words, in the order its kernel reads them.

Both back ends read the same file (numpy only, so that the board side, hls4ml's C simulation, the board project and
the RTL twin all share it): the RTL's stages and their ROM files (:mod:`fpgagen.rtl.memfiles`) and hls4ml's weight
ports (:mod:`fpgagen.hls.hls4ml_weight_ports`) take a layer's weights as *words* -- one word per issue cycle, ``P``
lanes of codes -- in the orders below; a layer off the ROMs gets them as one *pass* of such words packed into DMA
beats (:mod:`fpgagen.core.weight_stream`), the passes of all such layers concatenated in stream order into
``<name>.weights.bin`` beside the bitstream, one weight port ``s_axis_w<k>`` per pass.

Word orders (``PI``, ``PO`` of :func:`fpgagen.core.folding.dense_split` or :func:`fpgagen.core.transposed.tap_split`):

- dense ``w`` (n_out, n_in), ``P`` multipliers: word ``og * (n_in / PI) + ib`` holds, in lane ``po * PI + pi``, the
  weight from input ``ib * PI + pi`` to output ``og * PO + po``; biases: ``n_out / PO`` words of ``PO`` lanes. A dense
  that streams its result into a (C, H, W) reshape has its rows in the view fix's order (:func:`channels_last_rows`).
- conv2d: the dense over a window, inputs ordered (kh, kw, c) as hls4ml's (:func:`conv_weights_as_dense`).
- conv_transpose2d ``w`` (C, O, K, K), torch layout: ``NOG * K * K * C / PI`` words of ``PI * PO`` lanes
  (``NOG = ceil(O / PO)``); word ``((og * K + ty) * K + tx) * (C / PI) + ib`` holds, in lane ``po * PI + pi``, the
  weight of tap ``(ty, tx)`` from input channel ``ib * PI + pi`` to output channel ``og * PO + po`` (0 beyond O, the
  ragged last group); biases: ``NOG`` words of ``PO`` lanes, 0 beyond O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fpgagen.core.folding import dense_split, stage_cost, streamed_lanes, streamed_reshape
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.transposed import pad_output_groups, tap_split
from fpgagen.core.weight_stream import pack_pass

__all__ = ["WeightPass", "weight_image", "memory_words", "dense_words", "bias_words", "conv_weights_as_dense",
           "conv_transpose_words", "conv_transpose_bias_words", "channels_last_rows"]


@dataclass(frozen=True)
class WeightPass:
    """Weight port ``s_axis_w<port>`` and the layer behind it: each pass is ``beats`` beats of the port's width,
    ``nbytes`` bytes at ``offset`` in the weights file, ``words`` words of ``word_bits`` bits, sent once after reset
    (``loaded``) or once per image (``streamed``)."""

    port: int
    layer: str
    placement: str
    word_bits: int
    words: int
    beats: int
    offset: int
    nbytes: int


def _split(n_in: int, n_out: int, p: int, pi: int | None) -> tuple[int, int]:
    """``(PI, PO)`` of a dense with ``p`` multipliers: :func:`dense_split`'s rule, or the explicit ``pi`` (the RTL's
    ``fg_dense`` parameter ``PI``), which must divide ``p`` and ``n_in``, ``p / pi`` dividing ``n_out``."""
    if pi is None:
        return dense_split(n_in, n_out, p)
    if pi < 1 or p % pi or n_in % pi or n_out % (p // pi):
        raise ValueError(f"{p} multipliers do not split {n_in} inputs x {n_out} outputs as PI = {pi} inputs per "
                         f"output: need PI | p, PI | n_in and (p / PI) | n_out")
    return pi, p // pi


def dense_words(w: np.ndarray, p: int, pi: int | None = None) -> np.ndarray:
    """Weight matrix ``w`` (n_out, n_in) as the words of a dense with ``p`` multipliers: (n_in * n_out / p, p).
    ``pi``: inputs per output per cycle (``fg_dense``'s ``PI``); None is :func:`dense_split`'s."""
    n_out, n_in = w.shape
    pi, po = _split(n_in, n_out, p, pi)
    # w[og*PO + po, ib*PI + pi] -> word og*NIB + ib, lane po*PI + pi
    blocks = np.asarray(w, np.int64).reshape(n_out // po, po, n_in // pi, pi).transpose(0, 2, 1, 3)
    return blocks.reshape(-1, p)


def bias_words(b: np.ndarray, n_in: int, p: int, pi: int | None = None) -> np.ndarray:
    """Bias vector ``b`` (n_out,) as a dense's bias words: (n_out / PO, PO) codes (``pi`` as :func:`dense_words`)."""
    n_out = len(b)
    _, po = _split(n_in, n_out, p, pi)
    return np.asarray(b, np.int64).reshape(n_out // po, po)


def conv_weights_as_dense(w: np.ndarray) -> np.ndarray:
    """Torch-layout conv weights (O, C, KH, KW) as the (O, KH*KW*C) matrix of the window dense kernel."""
    o = w.shape[0]
    return np.asarray(w, np.int64).transpose(0, 2, 3, 1).reshape(o, -1)


def conv_transpose_words(w: np.ndarray, pi: int, po: int) -> np.ndarray:
    """Transposed-convolution weights ``w`` (C, O, K, K), torch layout, as the words of a ``pi`` x ``po`` split:
    (NOG * K * K * C / pi, pi * po) codes, the lanes of output channels beyond O (a ragged last group) zero."""
    padded = pad_output_groups(np.asarray(w, np.int64), po, axis=1)
    c, o, k, _ = padded.shape
    # w[ib*PI + pi, og*PO + po, ty, tx] -> word ((og*K + ty)*K + tx)*NIB + ib, lane po*PI + pi
    blocks = padded.reshape(c // pi, pi, o // po, po, k, k).transpose(2, 4, 5, 0, 3, 1)
    return blocks.reshape(-1, pi * po)


def conv_transpose_bias_words(b: np.ndarray, po: int) -> np.ndarray:
    """Biases ``b`` (O,) as a transposed convolution's bias words: (NOG, po) codes, zero beyond O."""
    return pad_output_groups(np.asarray(b, np.int64), po, axis=0).reshape(-1, po)


def channels_last_rows(c: int, h: int, w: int) -> np.ndarray:
    """Row order of the view fix: output ``(y*W + x)*C + ch`` of the kernels takes torch row ``ch*H*W + y*W + x``."""
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def memory_words(lr, reshape=None) -> tuple[np.ndarray, np.ndarray]:
    """The weight and bias words of an arithmetic layer, in the order its weight memory holds them and its weight
    pass carries them (module docstring); ``reshape``: the (C, H, W) reshape a dense streams its result into."""
    out_lanes = reshape.out_shape[0] if reshape is not None else None
    p = stage_cost(lr, lr.reuse_factor, out_lanes, mac=lr.mac).multipliers
    pi = lr.mac.pi if lr.mac is not None else None  # the RTL kernel's own split, else dense_split's
    if lr.kind == "dense":
        w, b = lr.weight, lr.bias
        if reshape is not None:
            rows = channels_last_rows(*reshape.out_shape)
            w, b = w[rows], b[rows]
        return dense_words(w, p, pi), bias_words(b, w.shape[1], p, pi)
    if lr.kind == "conv_transpose2d":
        pi, po = ((lr.mac.pi, lr.mac.po) if lr.mac is not None
                  else tap_split(lr.in_shape[0], lr.out_shape[0], lr.reuse_factor))
        return conv_transpose_words(lr.weight, pi, po), conv_transpose_bias_words(lr.bias, po)
    k = lr.weight.shape[-1]
    return dense_words(conv_weights_as_dense(lr.weight), p, pi), bias_words(lr.bias, k * k * lr.in_shape[0], p, pi)


def weight_image(model) -> tuple[np.ndarray, list[WeightPass]]:
    """The weights file of ``model`` (a QuantizedModel): every loaded or streamed layer's pass (its words packed for
    the model's weight ports), concatenated in stream order, and the :class:`WeightPass` of each (port k is the k-th
    such layer). ``(empty, [])`` when every weight is a ROM."""
    layers = list(model.layers)
    lanes = streamed_lanes(layers)
    passes, chunks, offset = [], [], 0
    for i, lr in enumerate(layers):
        if lr.kind not in ARITHMETIC or lr.placement == "rom":
            continue
        j = streamed_reshape(layers, i) if lr.name in lanes else None
        words, _ = memory_words(lr, layers[j] if j is not None else None)
        data = pack_pass(words, lr.weight_t.width, model.weight_ports.bits)
        passes.append(WeightPass(len(passes), lr.name, lr.placement, words.shape[1] * lr.weight_t.width, len(words),
                                 len(data) * 8 // model.weight_ports.bits, offset, len(data)))
        chunks.append(data)
        offset += len(data)
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)), passes
