"""fg_dense against fpgagen.core.golden.dense: widths, signedness, parallelism (reuse factor), cast modes, the
result as one beat or as N_OUT / OUT_LANES beats; random idle and backpressure; cycles per vector against
N_IN * N_OUT / P."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.fixed import FixedType
from fpgagen.core.folding import dense_split, legal_parallelism
from fpgagen.rtl.memfiles import write_dense
from fpgagen.rtl.params import type_params
from fpgagen.sim import runner
from fpgagen.sim.tb import StreamTB, pack_lanes, random_codes, read_case, unpack_lanes, write_case

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
    name, n_in, n_out, p, out_lanes, *types = case
    x_t, w_t, b_t, acc_t, res_t = (T(s) for s in types)
    params = {"N_IN": n_in, "N_OUT": n_out, "P": p, **({"OUT_LANES": out_lanes} if out_lanes else {}),
              **type_params(x_t, "X"), **type_params(w_t, "W", signed=False),
              **type_params(b_t, "B", signed=False), **type_params(acc_t, "ACC", signed=False),
              **type_params(res_t, "OUT", cast=True)}
    build = runner.build_dir(f"dense-{name}", "fg_dense", params)
    rng = np.random.default_rng(sum(map(ord, name)))
    w = random_codes(rng, w_t, (n_out, n_in))
    b = random_codes(rng, b_t, n_out)
    write_dense(build / "w.hex", build / "b.hex", w, b, p, w_t.width, b_t.width)
    env = write_case(build, n_in=n_in, n_out=n_out, p=p, out_lanes=out_lanes or n_out, x_t=x_t, w_t=w_t, b_t=b_t,
                     acc_t=acc_t, res_t=res_t, w=w, b=b)
    params |= {"WEIGHTS_FILE": str(build / "w.hex"), "BIAS_FILE": str(build / "b.hex")}
    runner.run("fg_dense", "fpgagen.sim.test_dense", params, build=build, extra_env=env)


class TB(StreamTB):
    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        scalars, arrays = read_case()
        self.n_in, self.n_out, self.p = scalars["n_in"], scalars["n_out"], scalars["p"]
        self.out_lanes = scalars["out_lanes"]
        self.types = {k: T(scalars[k]) for k in ("x_t", "w_t", "b_t", "acc_t", "res_t")}
        self.w, self.b = arrays["w"], arrays["b"]

    def expected(self, x):
        t = self.types
        w, w_t = self.w, t["w_t"]
        return golden.dense(x, t["x_t"], w, self.b, w_t, t["b_t"], t["acc_t"], t["res_t"])


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def dense_stream(dut, idle, backpressure):
    """Batches of random vectors (TLAST per batch), every output bit-exact with the golden dense, N_OUT /
    OUT_LANES beats per vector in output order, TLAST only on the last beat of a batch."""
    tb = TB(dut, seed=2 * idle + backpressure)
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    rng = np.random.default_rng(10 + 2 * idle + backpressure)
    x_t, res_t = tb.types["x_t"], tb.types["res_t"]
    sizes = [1, 7, 40]
    xs = [random_codes(rng, x_t, (n, tb.n_in)) for n in sizes]
    cycles_per_vector = tb.n_in * tb.n_out // tb.p
    start = tb.cycles()
    await tb.send_frames([[pack_lanes(v, x_t.width) for v in x] for x in xs])
    frames = await tb.recv_frames(len(sizes), timeout_cycles=sum(sizes) * (cycles_per_vector + 4) * 10 + 1000)
    elapsed = tb.cycles() - start
    beats_per_vector = tb.n_out // tb.out_lanes
    for x, frame in zip(xs, frames, strict=True):
        assert len(frame) == len(x) * beats_per_vector, f"{len(frame)} beats for {len(x)} vectors"
        lanes = np.array([unpack_lanes(beat, res_t.width, tb.out_lanes, res_t.signed) for beat in frame])
        np.testing.assert_array_equal(lanes.reshape(len(x), tb.n_out), tb.expected(x))
    if not idle and not backpressure:
        ideal = sum(sizes) * cycles_per_vector
        assert ideal <= elapsed <= ideal + 12, f"{elapsed} cycles for {sum(sizes)} vectors, ideal {ideal}"
