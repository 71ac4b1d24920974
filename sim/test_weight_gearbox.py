"""fg_weight_gearbox against fpgagen.core.weight_stream.pack_pass: passes of weight words packed into DMA beats go
in (random idle, several passes back to back, TLAST on each pass's last beat and ignored), the same words come
out (random backpressure); words narrower, wider and not multiples of the beat. Throughput rule: with both sides
always ready, passes leave every max(N_WORDS, beats per pass) cycles."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest
from cocotb.simtime import convert
from cocotb.triggers import with_timeout

from fpgagen.core.weight_stream import pack_pass, pass_beats
from fpgagen.sim import runner
from fpgagen.sim.tb import CLOCK_NS, StreamTB, pack_lanes, read_case, write_case

CASES = [
    # id, beat bits, lanes, lane bits, words per pass
    # a word wider than a beat, not a multiple (P = 9 weights of 8 bits on a Zynq-7000 HP port): 12 beats a pass
    ("wide", 64, 9, 8, 10),
    # narrower, not a divisor (P = 5 of 8 bits on UltraScale+): 7 words in 3 beats, 104 padding bits
    ("narrow", 128, 5, 8, 7),
    # 7-bit words (one multiplier): offsets at every bit of the beat, a pass of 105 bits in 2 beats
    ("serial", 64, 1, 7, 15),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_weight_gearbox(case):
    name, beat_bits, lanes, lane_bits, n_words = case
    params = {"IN_W": beat_bits, "WORD_W": lanes * lane_bits, "N_WORDS": n_words}
    build = runner.build_dir(f"gearbox-{name}", "fg_weight_gearbox", params)
    env = write_case(build, beat_bits=beat_bits, lanes=lanes, lane_bits=lane_bits, n_words=n_words)
    runner.run("fg_weight_gearbox", "fpgagen.sim.test_weight_gearbox", params, build=build, extra_env=env)


class TB(StreamTB):
    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        scalars, _ = read_case()
        self.beat_bits, self.lanes = scalars["beat_bits"], scalars["lanes"]
        self.lane_bits, self.n_words = scalars["lane_bits"], scalars["n_words"]
        self.np_rng = np.random.default_rng(seed)
        self.beats_per_pass = pass_beats(self.n_words, self.lanes, self.lane_bits, self.beat_bits)

    def random_passes(self, count: int) -> list[np.ndarray]:
        half = 1 << (self.lane_bits - 1)
        return [self.np_rng.integers(-half, half, (self.n_words, self.lanes)) for _ in range(count)]

    def beats(self, words: np.ndarray) -> list[int]:
        """One pass as DMA beats: pack_pass's bytes, each beat's bytes little-endian."""
        data = pack_pass(words, self.lane_bits, self.beat_bits).tobytes()
        step = self.beat_bits // 8
        return [int.from_bytes(data[i:i + step], "little") for i in range(0, len(data), step)]

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
    """Several passes back to back, each its own frame (TLAST ignored): every word in order, the padding dropped."""
    tb = TB(dut, seed=2 * idle + backpressure)
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    passes = tb.random_passes(5)
    await tb.send_frames([tb.beats(p) for p in passes])
    expected = [pack_lanes(word, tb.lane_bits) for p in passes for word in p]
    words, _ = await tb.recv_words(len(expected), timeout_cycles=20 * (len(expected) + 5 * tb.beats_per_pass))
    assert words == expected


@cocotb.test()
async def gearbox_throughput(dut):
    """Both sides always ready: after the first pass, a pass every max(N_WORDS, beats per pass) cycles exactly
    (one word per cycle when words are no wider than beats, one beat per cycle otherwise)."""
    tb = TB(dut, seed=7)
    await tb.reset()
    passes = tb.random_passes(6)
    await tb.send_frames([[beat for p in passes for beat in tb.beats(p)]])  # one frame: no gap between passes
    expected = [pack_lanes(word, tb.lane_bits) for p in passes for word in p]
    words, cycles = await tb.recv_words(len(expected), timeout_cycles=20 * len(expected) + 1000)
    assert words == expected
    period = max(tb.n_words, tb.beats_per_pass)
    ends = cycles[tb.n_words - 1::tb.n_words]
    assert np.diff(ends).tolist() == [period] * (len(passes) - 1), f"pass ends at cycles {ends}, period {period}"
    if tb.lanes * tb.lane_bits <= tb.beat_bits:  # a word every cycle, across pass boundaries too
        assert np.diff(cycles[tb.n_words:]).tolist() == [1] * (len(cycles) - tb.n_words - 1)
