"""``$readmemh`` files of the RTL library: weights, biases, activation tables.

Format (all files): one memory word per line, address 0 first, no address markers; a word is ``ceil(bits / 4)``
hex digits, the lanes of the word concatenated with lane 0 in the least significant bits, each lane the
two's-complement code of its value on the lane width.

- ``fg_dense`` weights (``WEIGHTS_FILE``): ``n_in * n_out / P`` words of ``P`` lanes of ``W_W`` bits. Word
  ``og * (n_in / PI) + ib`` holds, in lane ``po * PI + pi``, the weight from input ``ib * PI + pi`` to output
  ``og * PO + po`` (``PI``, ``PO`` from :func:`fpgagen.core.folding.dense_split`).
- ``fg_dense`` biases (``BIAS_FILE``): ``n_out / PO`` words of ``PO`` lanes of ``B_W`` bits; word ``og`` lane
  ``po`` is the bias of output ``og * PO + po``.
- ``fg_conv2d``: the same files for the dense kernel over a window, whose inputs are ordered (kh, kw, c), as
  hls4ml's: :func:`conv_weights_as_dense` turns torch-layout weights (O, C, KH, KW) into that matrix.
- ``fg_conv_transpose2d`` weights: ``NOG * K * K * C / PI`` words of ``PI * PO`` lanes (``NOG = ceil(O / PO)``;
  ``PI``, ``PO`` from :func:`fpgagen.core.transposed.tap_split`); word ``((og * K + ty) * K + tx) * (C / PI) + ib``
  holds, in lane ``po * PI + pi``, the weight of tap ``(ty, tx)`` from input channel ``ib * PI + pi`` to output
  channel ``og * PO + po`` (torch layout ``w[c, o, ty, tx]``; 0 for an output channel beyond O, the ragged last
  group): one tap's slices are consecutive words. Biases: ``NOG`` words of ``PO`` lanes, 0 beyond O.
- ``fg_lut_act`` table (``TABLE_FILE``): ``N`` words of one lane of ``TABLE_W`` bits, entry ``i`` on line ``i``.

The weight and bias word orders are :mod:`fpgagen.core.weights_file`'s (hls4ml's weight ports read the same words):
weights that are not a ROM arrive as the same words, in the same order, in the weights file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpgagen.core.cache import write_atomic
from fpgagen.core.weights_file import bias_words, conv_transpose_bias_words, conv_transpose_words, dense_words

HEX = np.array(list("0123456789abcdef"))
CHUNK_BITS = 1 << 22  # bits unpacked at a time: bounds the memory of a wide ROM


def memh_text(codes: np.ndarray, width: int) -> str:
    """Rows of ``codes`` (words x lanes, lane 0 first; one lane per word when 1-d) as ``$readmemh`` lines:
    ``ceil(lanes * width / 4)`` hex digits each, each lane the two's-complement code on ``width`` bits."""
    codes = np.asarray(codes, np.int64)
    if codes.ndim == 1:
        codes = codes[:, None]
    lo, hi = -(1 << (width - 1)), (1 << width) - 1
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise ValueError(f"codes out of range for {width}-bit lanes: [{codes.min()}, {codes.max()}]")
    words, lanes = codes.shape
    digits = max(1, -(-lanes * width // 4))
    shifts = np.arange(width, dtype=np.int64)
    nibble = np.array([1, 2, 4, 8], np.uint8)
    lines = []
    rows = max(1, CHUNK_BITS // max(1, lanes * width))
    for start in range(0, words, rows):
        block = codes[start:start + rows]
        # bit j of lane i at position i * width + j (an arithmetic shift gives negative codes' two's complement)
        bits = ((block[:, :, None] >> shifts) & 1).astype(np.uint8).reshape(len(block), lanes * width)
        bits = np.pad(bits, ((0, 0), (0, digits * 4 - lanes * width)))
        values = bits.reshape(len(block), digits, 4) @ nibble  # least significant digit first
        chars = np.ascontiguousarray(HEX[values[:, ::-1]])
        lines.append(chars.view(f"<U{digits}").ravel())
    return "".join(f"{line}\n" for part in lines for line in part.tolist())


def write_memh(path: str | Path, codes: np.ndarray, width: int) -> Path:
    """Write ``codes`` (words x lanes, or one lane per word when 1-d) as a ``$readmemh`` file (:func:`memh_text`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # renamed into place: a reader (another process writing the same file, say) never sees it half written
    write_atomic(path, memh_text(codes, width))
    return path


def read_memh(path: str | Path, width: int, lanes: int = 1, signed: bool = True) -> np.ndarray:
    """Inverse of :func:`write_memh`: (words, lanes) codes."""
    mask = (1 << width) - 1
    rows = []
    for line in Path(path).read_text().split():
        word = int(line, 16)
        row = [(word >> (lane * width)) & mask for lane in range(lanes)]
        if signed:
            row = [v - (1 << width) if v >> (width - 1) else v for v in row]
        rows.append(row)
    return np.array(rows, np.int64).reshape(-1, lanes)






def write_dense(weights_path, bias_path, w: np.ndarray, b: np.ndarray, p: int, w_width: int, b_width: int,
                pi: int | None = None):
    """Write the weight and bias files of an ``fg_dense`` with ``p`` multipliers (``pi`` inputs per output per
    cycle, its ``PI``; None: :func:`fpgagen.core.folding.dense_split`'s); returns the two paths."""
    n_out, n_in = w.shape
    return (write_memh(weights_path, dense_words(w, p, pi), w_width),
            write_memh(bias_path, bias_words(b, n_in, p, pi), b_width))








def write_conv_transpose(weights_path, bias_path, w: np.ndarray, b: np.ndarray, pi: int, po: int, w_width: int,
                         b_width: int):
    """Write the weight and bias files of an ``fg_conv_transpose2d`` split ``pi`` x ``po`` (``w`` in torch's
    (C, O, K, K) layout); returns the two paths."""
    return (write_memh(weights_path, conv_transpose_words(w, pi, po), w_width),
            write_memh(bias_path, conv_transpose_bias_words(b, po), b_width))


def write_table(path, table: np.ndarray, width: int) -> Path:
    """Write an activation table (``N`` codes) for ``fg_lut_act``."""
    return write_memh(path, np.asarray(table, np.int64), width)
