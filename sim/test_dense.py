"""fg_dense against fpgagen.core.golden.dense: widths, signedness, parallelism (reuse factor), cast modes, the
result as one beat or as N_OUT / OUT_LANES beats; random idle and backpressure; cycles per vector against
N_IN * N_OUT / P. Weights from a ROM, from a RAM loaded after reset (LOADED: a reset mid-load loads again) or
streamed per vector (STREAMED: idle on the weight stream too, and a weight stream slower than the stage); with a
weight stream that never idles, the cycles are ROM's."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles

from fpgagen.core import golden
from fpgagen.core.fixed import FixedType
from fpgagen.core.folding import dense_split, legal_parallelism
from fpgagen.core.weights_file import dense_words
from fpgagen.rtl.memfiles import write_dense
from fpgagen.rtl.params import type_params
from fpgagen.sim import runner
from fpgagen.sim.tb import (
    StreamTB,
    WeightStream,
    pack_lanes,
    random_codes,
    read_case,
    run_weight_source,
    unpack_lanes,
    write_case,
)

T = FixedType.parse

CASES = [
    # id, n_in, n_out, P, OUT_LANES (None: N_OUT, one beat per vector), x, w, b, acc, result
    ("rf2", 16, 8, 64, None, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<28,16>",
     "ap_fixed<8,3,AP_RND,AP_SAT>"),
    ("serial", 4, 6, 1, None, "ap_fixed<6,2>", "ap_fixed<5,1>", "ap_fixed<6,2>", "ap_fixed<16,8>",
     "ap_fixed<7,2,AP_RND_MIN_INF,AP_WRAP>"),
    ("full_u", 6, 12, 72, None, "ap_ufixed<10,4>", "ap_fixed<6,2>", "ap_fixed<10,4>", "ap_fixed<24,12>",
     "ap_ufixed<6,8,AP_RND_CONV,AP_SAT_SYM>"),
    # pixel beats: several cycles per output group, three groups per beat (mnist28's dense in small)
    ("beats_rf", 16, 12, 8, 3, "ap_fixed<9,4>", "ap_fixed<7,1>", "ap_fixed<7,1>", "ap_fixed<24,12>",
     "ap_fixed<9,4,AP_RND,AP_SAT>"),
    # two groups of PO = 2 outputs per beat, a group every cycle
    ("beats_po", 4, 24, 8, 4, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<24,12>",
     "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"),
    # a whole beat every cycle: the output register refills while it is taken
    ("beats_full", 4, 8, 16, 4, "ap_ufixed<8,3>", "ap_fixed<6,1>", "ap_fixed<8,3>", "ap_fixed<24,12>",
     "ap_fixed<8,3,AP_TRN,AP_WRAP>"),
    # one lane per beat, one multiplier
    ("beats_serial", 3, 5, 1, 1, "ap_fixed<6,2>", "ap_fixed<5,1>", "ap_fixed<6,2>", "ap_fixed<16,8>",
     "ap_fixed<7,2,AP_RND,AP_SAT>"),
]


def test_dense_split_out_lanes():
    """PO outputs per cycle must divide the lanes of an output beat, and those the outputs."""
    assert dense_split(16, 12, 8, 3) == (8, 1)
    assert dense_split(4, 24, 8, 4) == (4, 2)
    with pytest.raises(ValueError, match="do not split"):
        dense_split(4, 24, 12, 4)  # PO = 3 outputs per cycle, beats of 4
    with pytest.raises(ValueError, match="do not divide"):
        dense_split(4, 24, 4, 5)
    assert 12 in legal_parallelism(4, 24) and 12 not in legal_parallelism(4, 24, 4)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_dense(case):
    _run_dense("rom", *case)


MAC_CASES = [
    # id, fg_dense's PI and the MAC array's PACK and LUT_OUTS, then CASES' columns
    # a free split, PI = 2 (not min(P, N_IN) = 8) x PO = 4: outputs 0 and 1 share DSPs, 2 has its own, 3 in LUTs;
    # the presets' 9-bit data and 7-bit weights (a pair fits a DSP48E1)
    ("pi2_packed_lut", {"PI": 2, "PACK": 1, "LUT_OUTS": 1}, 16, 12, 8, 4, "ap_fixed<9,4>", "ap_fixed<7,1>",
     "ap_fixed<7,1>", "ap_fixed<24,12>", "ap_fixed<9,4,AP_RND,AP_SAT>"),
]


@pytest.mark.parametrize("case", MAC_CASES, ids=[c[0] for c in MAC_CASES])
def test_dense_mac(case):
    """A free PI x PO split (the ROM file's words in that split), packed DSP pairs and LUT multipliers together."""
    name, mac, *rest = case
    _run_dense("rom", name, *rest, mac=mac)


WEIGHT_SOURCES = {"rom": 0, "loaded": 1, "streamed": 2}
WEIGHT_CASES = [
    # id, weight source, n_in, n_out, P, OUT_LANES, x, w, b, acc, result
    # PI = 4, PO = 2: two groups of two outputs per beat, a group every cycle
    ("loaded_po", "loaded", 4, 24, 8, 4, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<24,12>",
     "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"),
    # fully parallel: one weight word, a vector every cycle
    ("loaded_full", "loaded", 4, 6, 24, None, "ap_ufixed<10,4>", "ap_fixed<6,2>", "ap_fixed<10,4>",
     "ap_fixed<24,12>", "ap_ufixed<6,8,AP_RND,AP_SAT_SYM>"),
    # PI = 8, PO = 1: two cycles per output, three outputs per beat
    ("streamed_beats", "streamed", 16, 12, 8, 3, "ap_fixed<9,4>", "ap_fixed<7,1>", "ap_fixed<7,1>",
     "ap_fixed<24,12>", "ap_fixed<9,4,AP_RND,AP_SAT>"),
    # one multiplier, one lane per beat
    ("streamed_serial", "streamed", 3, 5, 1, 1, "ap_fixed<6,2>", "ap_fixed<5,1>", "ap_fixed<6,2>",
     "ap_fixed<16,8>", "ap_fixed<7,2,AP_RND_MIN_INF,AP_WRAP>"),
]


@pytest.mark.parametrize("case", WEIGHT_CASES, ids=[c[0] for c in WEIGHT_CASES])
def test_dense_weight_source(case):
    """LOADED and STREAMED weights: no WEIGHTS_FILE, the weight words on s_axis_w."""
    name, source, *rest = case
    _run_dense(source, name, *rest)


# the cocotb tests each weight source runs
SOURCE_TESTS = {"rom": "dense_stream", "loaded": "dense_stream|dense_reload",
                "streamed": "dense_stream|dense_slow_weights"}


def _run_dense(source, name, n_in, n_out, p, out_lanes, *types, mac=None):
    """Build fg_dense for a case with its weights at ``source`` and run that source's cocotb tests; ``mac``: the
    parameters PI, PACK, LUT_OUTS (default: none, fg_dense's defaults)."""
    mac = mac or {}
    x_t, w_t, b_t, acc_t, res_t = (T(s) for s in types)
    params = {"N_IN": n_in, "N_OUT": n_out, "P": p, **({"OUT_LANES": out_lanes} if out_lanes else {}),
              **({"WEIGHT_SOURCE": WEIGHT_SOURCES[source]} if source != "rom" else {}),
              **type_params(x_t, "X"), **type_params(w_t, "W", signed=False),
              **type_params(b_t, "B", signed=False), **type_params(acc_t, "ACC", signed=False),
              **type_params(res_t, "OUT", cast=True), **mac}
    build = runner.build_dir(f"dense-{name}", "fg_dense", params)
    rng = np.random.default_rng(sum(map(ord, name)))
    w = random_codes(rng, w_t, (n_out, n_in))
    b = random_codes(rng, b_t, n_out)
    pi = mac.get("PI")
    write_dense(build / "w.hex", build / "b.hex", w, b, p, w_t.width, b_t.width, pi)
    env = write_case(build, n_in=n_in, n_out=n_out, p=p, out_lanes=out_lanes or n_out, x_t=x_t, w_t=w_t, b_t=b_t,
                     acc_t=acc_t, res_t=res_t, w=w, b=b, **({"pi": pi} if pi else {}),
                     **({"weight_source": source} if source != "rom" else {}))
    run_weight_source("fg_dense", "fpgagen.sim.test_dense", params, build=build, env=env, source=source,
                      tests=SOURCE_TESTS)


class TB(StreamTB):
    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        scalars, arrays = read_case()
        self.n_in, self.n_out, self.p, self.pi = scalars["n_in"], scalars["n_out"], scalars["p"], scalars.get("pi")
        self.out_lanes = scalars["out_lanes"]
        self.types = {k: T(scalars[k]) for k in ("x_t", "w_t", "b_t", "acc_t", "res_t")}
        self.w, self.b = arrays["w"], arrays["b"]
        self.weight_source = scalars.get("weight_source", "rom")
        self.weights = WeightStream(self) if self.weight_source != "rom" else None

    @property
    def words_taken(self) -> int:
        """s_axis_w handshakes (since the last ``weights.taken.cycles.clear()``)."""
        return 0 if self.weights is None else self.weights.taken.count

    def words(self, w=None) -> list[int]:
        """The weight words of ``w`` (default the case's) as s_axis_w beats, in ROM order."""
        words = dense_words(self.w if w is None else w, self.p, self.pi)
        return [pack_lanes(row, self.types["w_t"].width) for row in words]

    def set_weight_pause(self, probability: float) -> None:
        """Random idle cycles on the weight stream (0: never idle)."""
        if self.weights is not None:
            self.weights.set_pause(probability)

    async def send_weights(self, vectors: int, w=None) -> None:
        """LOADED: the words once; STREAMED: the words for each of ``vectors`` vectors; ROM: nothing."""
        if self.weight_source == "loaded":
            await self.weights.send(self.words(w))
        elif self.weight_source == "streamed":
            await self.weights.send(self.words(w) * vectors)

    def expected(self, x, w=None):
        t = self.types
        w_t = t["w_t"]
        return golden.dense(x, t["x_t"], self.w if w is None else w, self.b, w_t, t["b_t"], t["acc_t"], t["res_t"])

    async def check_vectors(self, xs: list[np.ndarray], w=None, timeout_factor: int = 10) -> int:
        """Send batches ``xs`` (TLAST per batch), check every output against golden; returns the cycles taken."""
        x_t, res_t = self.types["x_t"], self.types["res_t"]
        n = sum(len(x) for x in xs)
        cycles_per_vector = self.n_in * self.n_out // self.p
        start = self.cycles()
        await self.send_frames([[pack_lanes(v, x_t.width) for v in x] for x in xs])
        frames = await self.recv_frames(len(xs), timeout_cycles=n * (cycles_per_vector + 4) * timeout_factor + 1000)
        elapsed = self.cycles() - start
        beats_per_vector = self.n_out // self.out_lanes
        for x, frame in zip(xs, frames, strict=True):
            assert len(frame) == len(x) * beats_per_vector, f"{len(frame)} beats for {len(x)} vectors"
            lanes = np.array([unpack_lanes(beat, res_t.width, self.out_lanes, res_t.signed) for beat in frame])
            np.testing.assert_array_equal(lanes.reshape(len(x), self.n_out), self.expected(x, w))
        return elapsed


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def dense_stream(dut, idle, backpressure):
    """Batches of random vectors (TLAST per batch), every output bit-exact with the golden dense, N_OUT /
    OUT_LANES beats per vector in output order, TLAST only on the last beat of a batch. Idle cycles on the input
    come with idle cycles on the weight stream. LOADED: with idle, the vectors are sent while the weights load;
    words beyond the first pass are never taken."""
    tb = TB(dut, seed=2 * idle + backpressure)
    tb.set_pauses(idle, backpressure)
    tb.set_weight_pause(0.4 if idle else 0.0)
    await tb.reset()
    rng = np.random.default_rng(10 + 2 * idle + backpressure)
    sizes = [1, 7, 40]
    xs = [random_codes(rng, tb.types["x_t"], (n, tb.n_in)) for n in sizes]
    # weights on s_axis_w: new ones in each scenario (the RAM keeps the last scenario's across a reset)
    w = None if tb.weights is None else random_codes(rng, tb.types["w_t"], (tb.n_out, tb.n_in))
    await tb.send_weights(sum(sizes), w)
    n_words = len(tb.words())
    if tb.weight_source == "loaded":
        # words after the pass stay unread: s_axis_w_tready is low until the next reset
        await tb.send_weights(1, random_codes(rng, tb.types["w_t"], (tb.n_out, tb.n_in)))
        if not idle:  # time the vectors from a loaded RAM
            await ClockCycles(dut.clk_i, n_words + 2)
            assert tb.words_taken == n_words and not dut.s_axis_w_tready.value
    elapsed = await tb.check_vectors(xs, w)
    expected_words = {"rom": 0, "loaded": n_words, "streamed": n_words * sum(sizes)}[tb.weight_source]
    assert tb.words_taken == expected_words, f"{tb.words_taken} weight words taken, {expected_words} expected"
    if not idle and not backpressure:
        ideal = sum(sizes) * tb.n_in * tb.n_out // tb.p
        assert ideal <= elapsed <= ideal + 12, f"{elapsed} cycles for {sum(sizes)} vectors, ideal {ideal}"


@cocotb.test()
@cocotb.parametrize(backpressure=[False, True])
async def dense_slow_weights(dut, backpressure):
    """STREAMED with a weight stream slower than the stage (idle 3 cycles in 4): the issue stage waits for each
    word, nothing lost or repeated; the vectors take at least the words' time."""
    tb = TB(dut, seed=20 + backpressure)
    tb.set_pauses(False, backpressure)
    tb.set_weight_pause(0.75)
    await tb.reset()
    rng = np.random.default_rng(30 + backpressure)
    sizes = [3, 9]
    xs = [random_codes(rng, tb.types["x_t"], (n, tb.n_in)) for n in sizes]
    w = random_codes(rng, tb.types["w_t"], (tb.n_out, tb.n_in))
    await tb.send_weights(sum(sizes), w)
    elapsed = await tb.check_vectors(xs, w, timeout_factor=40)
    words = sum(sizes) * len(tb.words())
    assert tb.words_taken == words, f"{tb.words_taken} weight words taken, {words} sent"
    assert elapsed >= 2 * words, f"{elapsed} cycles for {words} words at a quarter of a word per cycle"


@cocotb.test()
async def dense_reload(dut):
    """LOADED: a reset mid-load (or after a whole load) forgets the load: the next words load the RAM again from
    address 0. Two weight sets, each loaded after a reset, each checked against golden."""
    tb = TB(dut, seed=40)
    tb.set_pauses(True, True)
    tb.set_weight_pause(0.3)
    await tb.reset()
    rng = np.random.default_rng(40)
    w_t, x_t = tb.types["w_t"], tb.types["x_t"]
    n_words = len(tb.words())
    await tb.send_weights(1, random_codes(rng, w_t, (tb.n_out, tb.n_in)))  # cut short by the reset below
    await ClockCycles(dut.clk_i, n_words // 2 + 1)
    tb.weights.clear()
    await tb.reset()
    for w in (tb.w, random_codes(rng, w_t, (tb.n_out, tb.n_in))):
        tb.weights.taken.cycles.clear()
        xs = [random_codes(rng, x_t, (n, tb.n_in)) for n in (2, 5)]
        await tb.send_weights(1, w)
        await tb.send_weights(1, random_codes(rng, w_t, (tb.n_out, tb.n_in)))  # never taken
        await tb.check_vectors(xs, w)
        assert tb.words_taken == n_words and not dut.s_axis_w_tready.value
        tb.weights.clear()
        await tb.reset()
