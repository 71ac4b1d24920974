"""fg_dense against fpgagen.hls.golden.dense: widths, signedness, parallelism (reuse factor), cast modes;
random idle and backpressure; cycles per vector against N_IN * N_OUT / P."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest

from fpgagen.hls import golden
from fpgagen.hls.fixed import FixedType
from fpgagen.rtl.memfiles import write_dense
from fpgagen.rtl.params import type_params
from fpgagen.sim import runner
from fpgagen.sim.tb import StreamTB, pack_lanes, random_codes, read_case, unpack_lanes, write_case

T = FixedType.parse

CASES = [
    # id, n_in, n_out, P, x, w, b, acc, result
    ("rf2", 16, 8, 64, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<28,16>",
     "ap_fixed<8,3,AP_RND,AP_SAT>"),
    ("serial", 4, 6, 1, "ap_fixed<6,2>", "ap_fixed<5,1>", "ap_fixed<6,2>", "ap_fixed<16,8>",
     "ap_fixed<7,2,AP_RND_MIN_INF,AP_WRAP>"),
    ("full_u", 6, 12, 72, "ap_ufixed<10,4>", "ap_fixed<6,2>", "ap_fixed<10,4>", "ap_fixed<24,12>",
     "ap_ufixed<6,8,AP_RND_CONV,AP_SAT_SYM>"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_dense(case):
    name, n_in, n_out, p, *types = case
    x_t, w_t, b_t, acc_t, res_t = (T(s) for s in types)
    params = {"N_IN": n_in, "N_OUT": n_out, "P": p, **type_params(x_t, "X"), **type_params(w_t, "W", signed=False),
              **type_params(b_t, "B", signed=False), **type_params(acc_t, "ACC", signed=False),
              **type_params(res_t, "OUT", cast=True)}
    build = runner.build_dir(f"dense-{name}", "fg_dense", params)
    rng = np.random.default_rng(sum(map(ord, name)))
    w = random_codes(rng, w_t, (n_out, n_in))
    b = random_codes(rng, b_t, n_out)
    write_dense(build / "w.hex", build / "b.hex", w, b, p, w_t.width, b_t.width)
    env = write_case(build, n_in=n_in, n_out=n_out, p=p, x_t=x_t, w_t=w_t, b_t=b_t, acc_t=acc_t, res_t=res_t,
                     w=w, b=b)
    params |= {"WEIGHTS_FILE": str(build / "w.hex"), "BIAS_FILE": str(build / "b.hex")}
    runner.run("fg_dense", "fpgagen.sim.test_dense", params, build=build, extra_env=env)


class TB(StreamTB):
    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        scalars, arrays = read_case()
        self.n_in, self.n_out, self.p = scalars["n_in"], scalars["n_out"], scalars["p"]
        self.types = {k: T(scalars[k]) for k in ("x_t", "w_t", "b_t", "acc_t", "res_t")}
        self.w, self.b = arrays["w"], arrays["b"]

    def expected(self, x):
        t = self.types
        w, w_t = self.w, t["w_t"]
        return golden.dense(x, t["x_t"], w, self.b, w_t, t["b_t"], t["acc_t"], t["res_t"])


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def dense_stream(dut, idle, backpressure):
    """Batches of random vectors (TLAST per batch), every output bit-exact with the golden dense."""
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
    for x, frame in zip(xs, frames, strict=True):
        got = np.array([unpack_lanes(beat, res_t.width, tb.n_out, res_t.signed) for beat in frame])
        np.testing.assert_array_equal(got, tb.expected(x))
    if not idle and not backpressure:
        ideal = sum(sizes) * cycles_per_vector
        assert ideal <= elapsed <= ideal + 12, f"{elapsed} cycles for {sum(sizes)} vectors, ideal {ideal}"
