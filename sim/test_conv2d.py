"""fg_conv2d (window + dense kernel) against fpgagen.core.golden.conv2d: kernel sizes, padding, channels,
parallelism, cast modes; frames back to back in batches, random idle and backpressure; cycles per frame
between max(PH*PW, OH*OW*NC) (scan- or multiplier-bound) and PH*PW + OH*OW*(NC-1) (no overlap), with
PH x PW the padded image and NC = K*K*C_IN*C_OUT / P cycles per output pixel."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.fixed import FixedType
from fpgagen.rtl.memfiles import conv_weights_as_dense, write_dense
from fpgagen.rtl.params import type_params
from fpgagen.sim import runner
from fpgagen.sim.tb import StreamTB, pack_lanes, random_codes, read_case, unpack_lanes, write_case

T = FixedType.parse

CASES = [
    # id, H, W, C_IN, C_OUT, K, PAD, P, x, w, b, acc, result
    ("k3_rf3", 6, 5, 2, 3, 3, 1, 18, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<26,14>",
     "ap_fixed<8,3,AP_RND,AP_SAT>"),
    ("k5_pad2", 4, 3, 1, 1, 5, 2, 5, "ap_fixed<7,2>", "ap_fixed<7,0>", "ap_fixed<7,2>", "ap_fixed<26,12>",
     "ap_ufixed<6,1,AP_TRN_ZERO,AP_SAT_ZERO>"),
    ("k1_full_u", 3, 4, 4, 2, 1, 0, 8, "ap_ufixed<9,4>", "ap_fixed<8,2>", "ap_fixed<8,4>", "ap_fixed<22,10>",
     "ap_fixed<9,4,AP_RND_CONV,AP_SAT_SYM>"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_conv2d(case):
    name, h, w_, c_in, c_out, k, pad, p, *types = case
    x_t, w_t, b_t, acc_t, res_t = (T(s) for s in types)
    params = {"H": h, "W": w_, "C_IN": c_in, "C_OUT": c_out, "K": k, "PAD": pad, "P": p,
              **type_params(x_t, "X"), **type_params(w_t, "W", signed=False), **type_params(b_t, "B", signed=False),
              **type_params(acc_t, "ACC", signed=False), **type_params(res_t, "OUT", cast=True)}
    build = runner.build_dir(f"conv2d-{name}", "fg_conv2d", params)
    rng = np.random.default_rng(sum(map(ord, name)))
    w = random_codes(rng, w_t, (c_out, c_in, k, k))
    b = random_codes(rng, b_t, c_out)
    write_dense(build / "w.hex", build / "b.hex", conv_weights_as_dense(w), b, p, w_t.width, b_t.width)
    env = write_case(build, h=h, w_=w_, c_in=c_in, c_out=c_out, k=k, pad=pad, p=p, x_t=x_t, w_t=w_t, b_t=b_t,
                     acc_t=acc_t, res_t=res_t, w=w, b=b)
    params |= {"WEIGHTS_FILE": str(build / "w.hex"), "BIAS_FILE": str(build / "b.hex")}
    runner.run("fg_conv2d", "fpgagen.sim.test_conv2d", params, build=build, extra_env=env)


class TB(StreamTB):
    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        s, arrays = read_case()
        self.h, self.w, self.c_in, self.c_out = s["h"], s["w_"], s["c_in"], s["c_out"]
        self.k, self.pad, self.p = s["k"], s["pad"], s["p"]
        self.types = {k: T(s[k]) for k in ("x_t", "w_t", "b_t", "acc_t", "res_t")}
        self.weights, self.bias = arrays["w"], arrays["b"]

    def expected(self, x):
        t = self.types
        w, w_t = self.weights, t["w_t"]
        return golden.conv2d(x, t["x_t"], w, self.bias, w_t, t["b_t"], t["acc_t"], t["res_t"], self.pad)

    def pixels(self, x) -> list[int]:
        """NCHW frames as pixel beats, raster order, channels in lanes."""
        return [pack_lanes(px, self.types["x_t"].width) for px in x.transpose(0, 2, 3, 1).reshape(-1, self.c_in)]


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def conv2d_stream(dut, idle, backpressure):
    """Batches of 1 and 3 random frames (TLAST per batch), every output pixel bit-exact with golden conv2d."""
    tb = TB(dut, seed=2 * idle + backpressure)
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    rng = np.random.default_rng(20 + 2 * idle + backpressure)
    x_t, res_t = tb.types["x_t"], tb.types["res_t"]
    sizes = [1, 3]
    xs = [random_codes(rng, x_t, (n, tb.c_in, tb.h, tb.w)) for n in sizes]
    oh, ow = tb.h + 2 * tb.pad - tb.k + 1, tb.w + 2 * tb.pad - tb.k + 1
    ph, pw = tb.h + 2 * tb.pad, tb.w + 2 * tb.pad
    per_pixel = tb.k * tb.k * tb.c_in * tb.c_out // tb.p
    ideal = sum(sizes) * max(ph * pw, oh * ow * per_pixel)
    worst = sum(sizes) * (ph * pw + oh * ow * (per_pixel - 1)) + 10
    start = tb.cycles()
    await tb.send_frames([tb.pixels(x) for x in xs])
    frames = await tb.recv_frames(len(sizes), timeout_cycles=10 * ideal + 1000)
    elapsed = tb.cycles() - start
    for x, frame in zip(xs, frames, strict=True):
        got = np.array([unpack_lanes(beat, res_t.width, tb.c_out, res_t.signed) for beat in frame])
        want = tb.expected(x).transpose(0, 2, 3, 1).reshape(-1, tb.c_out)
        np.testing.assert_array_equal(got, want)
    if not idle and not backpressure:
        dut._log.info("%d cycles for %d frames, bounds %d..%d", elapsed, sum(sizes), ideal, worst)
        assert ideal <= elapsed <= worst, f"{elapsed} cycles, bounds {ideal}..{worst}"
