"""fg_weight_gearbox against a local reference of the beat-aligned `.weights` layout (:func:`pack_words`, the
module header's layout, checked against :func:`fpgagen.core.weight_stream.pack_pass`): passes of weight words
packed into DMA beats go in (random idle, several passes back to back, TLAST on each pass's last beat and ignored),
the same words come out (random backpressure); words narrower than a beat (dividing it or not, a pass ending in a
part-filled beat), as wide, and wider (a multiple or not). Throughput rule, both sides always ready: a word every
cycle when WORD_W <= IN_W, every R = ceil(WORD_W / IN_W) cycles otherwise, counted from the first word to the last
across passes."""

from __future__ import annotations

import random

import cocotb
import numpy as np
import pytest
from cocotb.simtime import convert
from cocotb.triggers import with_timeout

from fpgagen.core.weight_stream import pack_pass
from fpgagen.sim import runner
from fpgagen.sim.tb import CLOCK_NS, StreamTB, pack_lanes, read_case, write_case

CASES = [
    # id, beat bits, word bits, words per pass
    # K = 6 words of 10 bits in a 64-bit beat (4 zero bits), a pass of 15 words: 3 beats, the last holding 3 words
    ("k6", 64, 10, 15),
    # 16-bit words divide the beat: K = 4, 10 words a pass (the last beat half empty)
    ("k4", 64, 16, 10),
    # K = 2 and a pass of whole beats (no word counter)
    ("k2", 64, 32, 6),
    # a word as wide as a beat: a beat per word
    ("equal", 64, 64, 5),
    # K = 1 with 56 zero bits a beat (P = 9 weights of 8 bits on UltraScale+)
    ("k1", 128, 72, 4),
    # 1-bit words: K = 64, 100 words a pass (the last beat 36 of 64)
    ("bits", 64, 1, 100),
    # R = 3 beats per 150-bit word (42 zero bits in the last)
    ("r3", 64, 150, 4),
    # R = 4 beats per 256-bit word (a multiple of the beat)
    ("r4", 64, 256, 3),
]


def pack_words(words: list[int], word_bits: int, beat_bits: int) -> list[int]:
    """One pass of words (unsigned ints of ``word_bits``) as beats (ints of ``beat_bits``), the beat-aligned
    layout: K = beat_bits // word_bits words a beat at offsets (k % K) * word_bits when word_bits <= beat_bits,
    else R = ceil(word_bits / beat_bits) beats a word, its bits LSB first; unused bits zero."""
    if word_bits <= beat_bits:
        k = beat_bits // word_bits
        return [sum(w << (i * word_bits) for i, w in enumerate(words[j:j + k])) for j in range(0, len(words), k)]
    r = -(-word_bits // beat_bits)
    mask = (1 << beat_bits) - 1
    return [(w >> (i * beat_bits)) & mask for w in words for i in range(r)]


def test_pack_words():
    """The reference layout by hand: 10-bit words in 64-bit beats, 150-bit words in 64-bit beats."""
    words = [(1 << 10) - 1 - i for i in range(7)]  # 6 a beat, then 1
    assert pack_words(words, 10, 64) == [sum(w << (10 * i) for i, w in enumerate(words[:6])), words[6]]
    assert pack_words(words, 10, 64)[0] >> 60 == 0
    word = (1 << 150) - 1
    assert pack_words([word, 5], 150, 64) == [2**64 - 1, 2**64 - 1, 2**22 - 1, 5, 0, 0]


# (beat bits, lanes, lane bits, words): the words of every CASES shape as lanes, for pack_pass
PACK_SHAPES = [(64, 1, 10, 15), (64, 2, 8, 10), (64, 4, 8, 6), (64, 8, 8, 5), (128, 9, 8, 4), (64, 1, 1, 100),
               (64, 10, 15, 4), (64, 8, 32, 3)]


@pytest.mark.parametrize("shape", PACK_SHAPES, ids=[f"{b}-{n}x{w}" for b, n, w, _ in PACK_SHAPES])
def test_pack_words_is_pack_pass(shape):
    """The reference is the `.weights` layout: :func:`fpgagen.core.weight_stream.pack_pass`'s beats."""
    beat_bits, lanes, lane_bits, n_words = shape
    codes = np.random.default_rng(n_words).integers(0, 1 << lane_bits, (n_words, lanes))
    data = pack_pass(codes, lane_bits, beat_bits).tobytes()
    step = beat_bits // 8
    beats = [int.from_bytes(data[i:i + step], "little") for i in range(0, len(data), step)]
    assert pack_words([pack_lanes(w, lane_bits) for w in codes], lanes * lane_bits, beat_bits) == beats


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_weight_gearbox(case):
    name, beat_bits, word_bits, n_words = case
    params = {"IN_W": beat_bits, "WORD_W": word_bits, "N_WORDS": n_words}
    build = runner.build_dir(f"gearbox-{name}", "fg_weight_gearbox", params)
    env = write_case(build, beat_bits=beat_bits, word_bits=word_bits, n_words=n_words)
    runner.run("fg_weight_gearbox", "fpgagen.sim.test_weight_gearbox", params, build=build, extra_env=env)


class TB(StreamTB):
    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        scalars, _ = read_case()
        self.beat_bits, self.word_bits = scalars["beat_bits"], scalars["word_bits"]
        self.n_words = scalars["n_words"]
        self.words_rng = random.Random(100 + seed)
        # cycles between words at full rate: 1, or R beats a word
        self.period = -(-self.word_bits // self.beat_bits) if self.word_bits > self.beat_bits else 1

    def random_passes(self, count: int) -> list[list[int]]:
        return [[self.words_rng.getrandbits(self.word_bits) for _ in range(self.n_words)] for _ in range(count)]

    def beats(self, words: list[int]) -> list[int]:
        return pack_words(words, self.word_bits, self.beat_bits)

    async def recv_words(self, count: int, timeout_cycles: int) -> tuple[list[int], list[int]]:
        """``count`` words and the cycle each arrived in."""
        words, cycles = [], []
        for _ in range(count):
            frame = await with_timeout(self.sink.recv(), timeout_cycles * CLOCK_NS, "ns")
            words.append(int(frame.tdata[0]))
            cycles.append(int(convert(frame.sim_time_end, "step", to="ns")) // CLOCK_NS)
        return words, cycles


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def gearbox_passes(dut, idle, backpressure):
    """Several passes, each its own frame (TLAST ignored): every word in order, the empty slots and zero bits
    dropped."""
    tb = TB(dut, seed=2 * idle + backpressure)
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    passes = tb.random_passes(5)
    await tb.send_frames([tb.beats(p) for p in passes])
    expected = [w for p in passes for w in p]
    beats = sum(len(tb.beats(p)) for p in passes)
    words, _ = await tb.recv_words(len(expected), timeout_cycles=20 * (len(expected) + beats))
    assert words == expected


@cocotb.test()
async def gearbox_throughput(dut):
    """Both sides always ready, passes back to back in one frame: a word every cycle when WORD_W <= IN_W (across
    beats and passes), every R cycles when WORD_W > IN_W, from the first word to the last."""
    tb = TB(dut, seed=7)
    await tb.reset()
    passes = tb.random_passes(4)
    await tb.send_frames([[beat for p in passes for beat in tb.beats(p)]])  # one frame: no gap between passes
    expected = [w for p in passes for w in p]
    words, cycles = await tb.recv_words(len(expected), timeout_cycles=20 * len(expected) * tb.period + 1000)
    assert words == expected
    assert np.diff(cycles).tolist() == [tb.period] * (len(cycles) - 1), f"words at cycles {cycles}"
