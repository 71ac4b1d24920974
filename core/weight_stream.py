"""Weight passes as the DMA streams them: the byte layout of a ``.weights`` file (numpy only).

A weight stage that does not keep its weights in a ROM (``fg_dense`` with ``WEIGHT_SOURCE`` LOADED or STREAMED)
reads them as a stream of words, one word per issue cycle, in the order and lane layout of its ROM file
(:mod:`fpgagen.rtl.memfiles`): a word is ``lanes`` codes, lane 0 in the least significant bits, each the two's
complement of its code on ``lane_bits`` bits. The DMA delivers beats of ``beat_bits`` bits (64 on Zynq-7000 HP
ports, 128 on UltraScale+); ``fg_weight_gearbox`` turns them back into words.

Layout of one pass (everything else refers here):

- the ``n_words`` words of ``word_bits = lanes * lane_bits`` bits each, concatenated bit-contiguously, least
  significant bit first: bit ``b`` of word ``k`` is bit ``k * word_bits + b`` of the pass;
- zero-padded at the end to a whole number of beats, ``ceil(n_words * word_bits / beat_bits)``;
- stored little-endian: bit ``i`` of the pass is bit ``i % 8`` of byte ``i // 8`` (so bit ``i % beat_bits`` of
  beat ``i // beat_bits``, the beat's bytes little-endian as the DMA reads memory).

Passes follow each other, each starting on a beat boundary; a reader drops the padding of each pass's last beat.
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
    """Beats of one pass: ``ceil(n_words * lanes * lane_bits / beat_bits)``."""
    return -(-n_words * lanes * lane_bits // beat_bits)


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
    bits = bits[:, :lane_bits].ravel()
    total = pass_beats(n_words, lanes, lane_bits, beat_bits) * beat_bits
    bits = np.concatenate([bits, np.zeros(total - bits.size, np.uint8)])
    return np.packbits(bits, bitorder="little")


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
    n = n_words * lanes
    bits = np.unpackbits(data, bitorder="little")[:n * lane_bits].reshape(n, lane_bits)
    bits = np.pad(bits, ((0, 0), (0, 8 * dtype.itemsize - lane_bits)))
    codes = np.packbits(bits, axis=1, bitorder="little").view(dtype).ravel().astype(np.int64)
    if signed:
        codes = np.where(codes >> (lane_bits - 1) & 1, codes - (1 << lane_bits), codes)
    return codes.reshape(n_words, lanes)
