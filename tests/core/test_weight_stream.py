"""core/weight_stream: the `.weights` byte layout of a pass (pack/unpack), bit by bit and round trip."""

import time

import numpy as np
import pytest

from fpgagen.core.weight_stream import pack_pass, pass_beats, unpack_pass


def test_layout_by_hand():
    # two words of two 3-bit lanes: word 0 = lanes (1, -1) = 0b111_001, word 1 = lanes (2, -4) = 0b100_010
    words = np.array([[1, -1], [2, -4]])
    # 8-bit beats hold one 6-bit word each (K = 1), the top two bits zero
    assert pack_pass(words, 3, 8).tolist() == [0b00_111_001, 0b00_100_010]
    # a 64-bit beat holds ten: word 0 | word 1 << 6 = 0x8b9, then zeros to 8 bytes
    assert pack_pass(words, 3, 64).tolist() == [0xB9, 0x08, 0, 0, 0, 0, 0, 0]
    # 15-bit words in 16-bit beats: one per beat, never straddling; lanes (-16, 15, 7) = 0b00111_01111_10000
    assert pack_pass(np.array([[-16, 15, 7]] * 3), 5, 16).tolist() == [0xF0, 0x1D] * 3
    # 21-bit words in 16-bit beats: two beats each (R = 2), the second holding bits 16..20
    wide = np.array([[-1, 0, 64]] * 2)  # 7-bit lanes: 0b1000000_0000000_1111111 = 0x10007F
    assert pack_pass(wide, 7, 16).tolist() == [0x7F, 0x00, 0x10, 0x00] * 2


def test_memfile_lane_order():
    """A word's value equals the $readmemh word of the same codes (lane 0 in the least significant bits)."""
    from fpgagen.rtl.memfiles import memh_text

    rng = np.random.default_rng(3)
    words = rng.integers(-64, 64, (5, 4))
    data = pack_pass(words, 7, 64)  # 28-bit words, two per 64-bit beat
    beats = [int.from_bytes(data[8 * i : 8 * i + 8].tobytes(), "little") for i in range(3)]
    hex_words = [int(line, 16) for line in memh_text(words, 7).split()]
    assert [(beats[k // 2] >> (28 * (k % 2))) & ((1 << 28) - 1) for k in range(5)] == hex_words


@pytest.mark.parametrize("beat_bits", [64, 128])
def test_round_trip(beat_bits):
    rng = np.random.default_rng(beat_bits)
    for _ in range(40):
        lane_bits = int(rng.integers(2, 17))
        lanes = int(rng.integers(1, 20))
        n_words = int(rng.integers(0, 60))
        words = rng.integers(-(1 << (lane_bits - 1)), 1 << (lane_bits - 1), (n_words, lanes))
        data = pack_pass(words, lane_bits, beat_bits)
        assert data.dtype == np.uint8
        width = lanes * lane_bits
        beats = pass_beats(n_words, lanes, lane_bits, beat_bits)
        assert data.size == beats * beat_bits // 8
        assert beats == (-(-n_words // (beat_bits // width)) if width <= beat_bits
                         else n_words * -(-width // beat_bits))
        codes = words & ((1 << lane_bits) - 1)  # padding is zeros: the pass has exactly the words' set bits
        assert np.unpackbits(data).sum() == sum(bin(int(c)).count("1") for c in codes.ravel())
        np.testing.assert_array_equal(unpack_pass(data, n_words, lanes, lane_bits, beat_bits), words)
        np.testing.assert_array_equal(unpack_pass(data.tobytes(), n_words, lanes, lane_bits, beat_bits), words)
        unsigned = unpack_pass(data, n_words, lanes, lane_bits, beat_bits, signed=False)
        np.testing.assert_array_equal(unsigned, words & ((1 << lane_bits) - 1))


def test_large_layer_is_fast():
    """A 1.25 M-weight layer packs (and unpacks) in well under a second: numpy bit operations, no Python loop."""
    words = np.random.default_rng(0).integers(-128, 128, (1_250_000 // 16, 16))
    start = time.perf_counter()
    data = pack_pass(words, 8, 128)
    back = unpack_pass(data, *words.shape, 8, 128)
    assert time.perf_counter() - start < 1.0
    np.testing.assert_array_equal(back, words)


def test_errors():
    words = np.zeros((4, 2), np.int64)
    with pytest.raises(ValueError, match="out of range"):
        pack_pass(np.array([[16, 0]]), 4, 64)  # -8..15 fit 4 bits (signed, or unsigned two's complement)
    with pytest.raises(ValueError, match="out of range"):
        pack_pass(np.array([[-9, 0]]), 4, 64)
    pack_pass(np.array([[15, -8]]), 4, 64)  # the extremes fit
    with pytest.raises(ValueError, match="n_words, lanes"):
        pack_pass(np.zeros(4, np.int64), 4, 64)
    with pytest.raises(ValueError, match="integer"):
        pack_pass(np.zeros((2, 2)), 4, 64)
    with pytest.raises(ValueError, match="multiple of 8"):
        pack_pass(words, 4, 60)
    with pytest.raises(ValueError, match="multiple of 8"):
        unpack_pass(bytes(8), 4, 2, 4, 12)
    with pytest.raises(ValueError, match="lane_bits"):
        pack_pass(words, 0, 64)
    data = pack_pass(words, 4, 64)
    with pytest.raises(ValueError, match="truncated"):
        unpack_pass(data[:-1], 4, 2, 4, 64)
    with pytest.raises(ValueError, match="too long"):
        unpack_pass(np.concatenate([data, data]), 4, 2, 4, 64)
    with pytest.raises(ValueError, match="uint8"):
        unpack_pass(data.astype(np.int16), 4, 2, 4, 64)
