"""Weight passes as the DMA streams them: the byte layout of a ``.weights`` file (numpy only).

A weight stage that does not keep its weights in a ROM (``fg_dense`` with ``WEIGHT_SOURCE`` LOADED or STREAMED)
reads them as a stream of words, one word per issue cycle, in the order and lane layout of its ROM file
(:mod:`fpgagen.rtl.memfiles`): a word is ``lanes`` codes, lane 0 in the least significant bits, each the two's
complement of its code on ``lane_bits`` bits. The DMA delivers beats of ``beat_bits`` bits (64 on Zynq-7000 HP
ports, 128 on UltraScale+); ``fg_weight_gearbox`` turns them back into words.

Layout of one pass (everything else refers here), words aligned to beats so that the gearbox needs no shifter
(a bit-contiguous layout cost yosys ~100,000 LUTs of variable shifting for 3,840-bit words on 128-bit beats):

- ``n_words`` words of ``W = lanes * lane_bits`` bits each, in beats of ``B = beat_bits`` bits;
- ``W <= B``: ``K = B // W`` words per beat; word ``k`` lies in beat ``k // K`` at bit offset ``(k % K) * W``, least
  significant bit first; a beat's other bits are zero. A pass is ``ceil(n_words / K)`` beats, its last holding the
  words left over;
- ``W > B``: ``R = ceil(W / B)`` beats per word; word ``k`` is beats ``k * R`` to ``k * R + R - 1``, bit ``b`` of it
  bit ``b % B`` of beat ``k * R + b // B``; the top bits of its last beat are zero. A pass is ``n_words * R`` beats;
- each beat's bytes little-endian, as the DMA reads memory.

The padding costs at most ``B / (K + 1)`` bits in ``B`` (``W <= B``) or under one beat per word (``W > B``): none when
``W`` divides ``B`` or is a multiple of it, as the folding's words usually are. Passes follow each other, each
starting on a beat boundary.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pass_beats", "pack_pass", "unpack_pass"]


def _check_widths(lane_bits: int, beat_bits: int) -> None:
    if not 1 <= lane_bits <= 32:
        raise ValueError(f"lane_bits must be 1..32, got {lane_bits}")
    if beat_bits < 8 or beat_bits % 8:
        raise ValueError(f"beat_bits must be a positive multiple of 8, got {beat_bits}")


def pass_beats(n_words: int, lanes: int, lane_bits: int, beat_bits: int) -> int:
    """Beats of one pass: ``ceil(n_words / K)`` with ``K = beat_bits // word_bits`` words per beat, or ``n_words *
    ceil(word_bits / beat_bits)`` for words wider than a beat."""
    per_beat, beats_per_word = _geometry(lanes * lane_bits, beat_bits)
    return -(-n_words // per_beat) * beats_per_word


def _geometry(word_bits: int, beat_bits: int) -> tuple[int, int]:
    """(words per beat, beats per word): (K, 1) for words no wider than a beat, (1, R) for wider ones."""
    if word_bits <= beat_bits:
        return beat_bits // word_bits, 1
    return 1, -(-word_bits // beat_bits)


def _beat_rows(word_bits: np.ndarray, beat_bits: int) -> np.ndarray:
    """The (beats, beat_bits) bit matrix of a pass from its (n_words, W) word bits."""
    n_words, width = word_bits.shape
    per_beat, beats_per_word = _geometry(width, beat_bits)
    if beats_per_word > 1:  # each word padded to whole beats
        rows = np.pad(word_bits, ((0, 0), (0, beats_per_word * beat_bits - width)))
        return rows.reshape(-1, beat_bits)
    beats = -(-n_words // per_beat)
    rows = np.pad(word_bits, ((0, beats * per_beat - n_words), (0, 0))).reshape(beats, per_beat * width)
    return np.pad(rows, ((0, 0), (0, beat_bits - per_beat * width)))


def _uint_dtype(lane_bits: int) -> np.dtype:
    return np.dtype(f"<u{next(n for n in (1, 2, 4) if 8 * n >= lane_bits)}")


def pack_pass(words: np.ndarray, lane_bits: int, beat_bits: int) -> np.ndarray:
    """One pass of weight words as bytes (the module docstring's layout).

    Args:
        words: (n_words, lanes) integer codes, e.g. :func:`fpgagen.rtl.memfiles.dense_words`; each in
            ``[-2**(lane_bits-1), 2**lane_bits - 1]`` (signed codes, or their unsigned two's complement, as the
            ``$readmemh`` files take them).
        lane_bits: bits of one lane (a weight's width).
        beat_bits: bits of one DMA beat, a multiple of 8.

    Returns:
        uint8 array of ``pass_beats(...) * beat_bits / 8`` bytes.

    Raises:
        ValueError: ``words`` not 2-d integers, a code out of range, or widths out of range.
    """
    _check_widths(lane_bits, beat_bits)
    words = np.asarray(words)
    if words.ndim != 2:
        raise ValueError(f"words must be (n_words, lanes), got shape {words.shape}")
    if words.size and not np.issubdtype(words.dtype, np.integer):
        raise ValueError(f"words must be integer codes, got {words.dtype}")
    words = words.astype(np.int64, copy=False)
    n_words, lanes = words.shape
    lo, hi = -(1 << (lane_bits - 1)), (1 << lane_bits) - 1
    if words.size and (words.min() < lo or words.max() > hi):
        raise ValueError(f"codes out of range for {lane_bits}-bit lanes [{lo}, {hi}]: "
                         f"[{words.min()}, {words.max()}]")
    dtype = _uint_dtype(lane_bits)
    # two's complement on lane_bits, each lane's bits LSB first, lanes in order, words in order
    codes = (words.ravel().view(np.uint64) & np.uint64((1 << lane_bits) - 1)).astype(dtype)
    bits = np.unpackbits(codes.view(np.uint8).reshape(-1, dtype.itemsize), axis=1, bitorder="little")
    word_bits = bits[:, :lane_bits].reshape(n_words, lanes * lane_bits)
    return np.packbits(_beat_rows(word_bits, beat_bits).ravel(), bitorder="little")


def unpack_pass(data, n_words: int, lanes: int, lane_bits: int, beat_bits: int, signed: bool = True) -> np.ndarray:
    """Inverse of :func:`pack_pass`: the (n_words, lanes) codes of one pass.

    Args:
        data: the pass's bytes (uint8 array or ``bytes``), exactly ``pass_beats(...) * beat_bits / 8`` of them.
        n_words, lanes, lane_bits, beat_bits: the pass's geometry.
        signed: codes as two's complement (else unsigned).

    Raises:
        ValueError: a truncated (or overlong) pass, or widths out of range.
    """
    _check_widths(lane_bits, beat_bits)
    if n_words < 0 or lanes < 1:
        raise ValueError(f"need n_words >= 0 and lanes >= 1, got {n_words}, {lanes}")
    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError(f"data must be 1-d uint8 bytes, got {data.dtype} of shape {data.shape}")
    expected = pass_beats(n_words, lanes, lane_bits, beat_bits) * beat_bits // 8
    if data.size != expected:
        what = "truncated" if data.size < expected else "too long"
        raise ValueError(f"pass {what}: {data.size} bytes, {n_words} words of {lanes} x {lane_bits} bits in "
                         f"{beat_bits}-bit beats take {expected}")
    dtype = _uint_dtype(lane_bits)
    n, width = n_words * lanes, lanes * lane_bits
    per_beat, beats_per_word = _geometry(width, beat_bits)
    beats = np.unpackbits(data, bitorder="little").reshape(-1, beat_bits)
    if beats_per_word > 1:
        words = beats.reshape(n_words, beats_per_word * beat_bits)[:, :width]
    else:
        words = beats[:, :per_beat * width].reshape(-1, width)[:n_words]
    bits = words.reshape(n, lane_bits)
    bits = np.pad(bits, ((0, 0), (0, 8 * dtype.itemsize - lane_bits)))
    codes = np.packbits(bits, axis=1, bitorder="little").view(dtype).ravel().astype(np.int64)
    if signed:
        codes = np.where(codes >> (lane_bits - 1) & 1, codes - (1 << lane_bits), codes)
    return codes.reshape(n_words, lanes)
