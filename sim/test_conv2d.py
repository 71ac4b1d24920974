"""fg_conv2d (window + dense kernel) against fpgagen.core.golden.conv2d: kernel sizes, padding, channels,
parallelism, cast modes; frames back to back in batches, random idle and backpressure; cycles per frame
between max(PH*PW, OH*OW*NC) (scan- or multiplier-bound) and PH*PW + OH*OW*(NC-1) (no overlap), with
PH x PW the padded image and NC = K*K*C_IN*C_OUT / P cycles per output pixel. Weights from a ROM or from a RAM
loaded after reset (LOADED, fg_dense's: the words on s_axis_w with random gaps, pixels sent while they load;
nothing issues before the last word, exactly NWords words taken, then the ROM's cycles)."""

from __future__ import annotations

from pathlib import Path

import cocotb
import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.fixed import FixedType
from fpgagen.core.weights_file import conv_weights_as_dense, dense_words
from fpgagen.rtl.memfiles import write_dense
from fpgagen.rtl.params import type_params
from fpgagen.sim import runner
from fpgagen.sim.tb import (
    ConvStageTB,
    assert_loaded_timing_is_roms,
    random_codes,
    run_weight_source,
    write_case,
    write_timing,
)

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


# fg_conv2d's PI and the MAC array's PACK and LUT_OUTS, then CASES' columns: N_IN = 18 in blocks of PI = 3 (not
# min(P, N_IN) = 12) for PO = 4 outputs, two packed pairs less the last output, in LUTs; unsigned 9-bit input
MAC_CASES = [
    ("pi3_packed_lut", {"PI": 3, "PACK": 1, "LUT_OUTS": 1}, 5, 4, 2, 4, 3, 1, 12, "ap_ufixed<9,4>",
     "ap_fixed<8,2>", "ap_fixed<8,3>", "ap_fixed<26,14>", "ap_fixed<8,3,AP_RND,AP_SAT>"),
]


# weights LOADED into a RAM after reset (WEIGHT_SOURCE 1), same columns as CASES
LOADED_CASES = [
    # N_IN = 18 in blocks of PI = 6, one output a cycle: 9 words of 6 lanes
    ("loaded_k3", 5, 4, 2, 3, 3, 1, 6, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<26,14>",
     "ap_fixed<8,3,AP_RND,AP_SAT>"),
    # kernel 5, padding 2, N_IN = 25 in blocks of PI = 5: 10 words of 5 lanes
    ("loaded_k5_pad2", 4, 4, 1, 2, 5, 2, 5, "ap_fixed<7,2>", "ap_fixed<7,0>", "ap_fixed<7,2>", "ap_fixed<26,12>",
     "ap_fixed<9,4,AP_RND_CONV,AP_SAT_SYM>"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_conv2d(case):
    _run_conv2d("rom", case)


@pytest.mark.parametrize("case", MAC_CASES, ids=[c[0] for c in MAC_CASES])
def test_conv2d_mac(case):
    """A free PI x PO split, packed DSP pairs and LUT multipliers together."""
    name, mac, *rest = case
    _run_conv2d("rom", (name, *rest), mac)


@pytest.mark.parametrize("case", LOADED_CASES, ids=[c[0] for c in LOADED_CASES])
def test_conv2d_loaded(case):
    """LOADED weights (the ROM file's words, fg_dense's, on s_axis_w): once loaded, the ROM's cycles."""
    assert_loaded_timing_is_roms(_run_conv2d, case)


# the cocotb tests each weight source runs
SOURCE_TESTS = {"rom": "conv2d_stream", "loaded": "conv2d_stream|conv2d_load_overlap"}


def _run_conv2d(source, case, mac=None) -> Path:
    """Build fg_conv2d for a case with its weights at ``source`` and run that source's cocotb tests; ``mac``: the
    parameters PI, PACK, LUT_OUTS (default: none, fg_conv2d's defaults)."""
    mac = mac or {}
    name, h, w_, c_in, c_out, k, pad, p, *types = case
    x_t, w_t, b_t, acc_t, res_t = (T(s) for s in types)
    params = {"H": h, "W": w_, "C_IN": c_in, "C_OUT": c_out, "K": k, "PAD": pad, "P": p,
              **type_params(x_t, "X"), **type_params(w_t, "W", signed=False), **type_params(b_t, "B", signed=False),
              **type_params(acc_t, "ACC", signed=False), **type_params(res_t, "OUT", cast=True),
              **({"WEIGHT_SOURCE": 1} if source == "loaded" else {}), **mac}
    build = runner.build_dir(f"conv2d-{name}", "fg_conv2d", params)
    rng = np.random.default_rng(sum(map(ord, name)))
    w = random_codes(rng, w_t, (c_out, c_in, k, k))
    b = random_codes(rng, b_t, c_out)
    pi = mac.get("PI")
    write_dense(build / "w.hex", build / "b.hex", conv_weights_as_dense(w), b, p, w_t.width, b_t.width, pi)
    env = write_case(build, h=h, w_=w_, c_in=c_in, c_out=c_out, k=k, pad=pad, p=p, x_t=x_t, w_t=w_t, b_t=b_t,
                     acc_t=acc_t, res_t=res_t, w=w, b=b, weight_source=source, **({"pi": pi} if pi else {}))
    return run_weight_source("fg_conv2d", "fpgagen.sim.test_conv2d", params, build=build, env=env, source=source,
                             tests=SOURCE_TESTS)


class TB(ConvStageTB):
    """ConvStageTB of fg_conv2d: the case's ``p`` too, golden's conv2d, the ROM words of fg_dense for the
    (K*K*C_IN) x C_OUT matrix (memfiles.conv_weights_as_dense)."""

    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        self.p, self.pi = self.case["p"], self.case.get("pi")
        self.oh, self.ow = self.h + 2 * self.pad - self.k + 1, self.w + 2 * self.pad - self.k + 1

    def expected(self, x):
        t = self.types
        w, w_t = self.weights, t["w_t"]
        return golden.conv2d(x, t["x_t"], w, self.bias, w_t, t["b_t"], t["acc_t"], t["res_t"], self.pad)

    def weight_words(self) -> np.ndarray:
        return dense_words(conv_weights_as_dense(self.weights), self.p, self.pi)

    def first_output_pixels(self) -> int:
        """The first window's last input pixel is (K - 1 - PAD, K - 1 - PAD)."""
        last = self.k - 1 - self.pad
        return last * self.w + last + 1


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def conv2d_stream(dut, idle, backpressure):
    """Batches of 1 and 3 random frames (TLAST per batch), every output pixel bit-exact with golden conv2d.
    LOADED: the weights load first (with idle: with gaps, and the frames sent while they load), then the same
    checks: with the RAM loaded, the ROM's cycles."""
    tb = TB(dut, seed=2 * idle + backpressure)
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    await tb.load_weights(pause=0.4 if idle else 0.0, wait=not idle)
    rng = np.random.default_rng(20 + 2 * idle + backpressure)
    sizes = [1, 3]
    xs = tb.random_frames(rng, sizes)
    oh, ow = tb.oh, tb.ow
    ph, pw = tb.h + 2 * tb.pad, tb.w + 2 * tb.pad
    per_pixel = tb.k * tb.k * tb.c_in * tb.c_out // tb.p
    ideal = sum(sizes) * max(ph * pw, oh * ow * per_pixel)
    worst = sum(sizes) * (ph * pw + oh * ow * (per_pixel - 1)) + 10
    start = tb.cycles()
    await tb.send_frames([tb.pixels(x) for x in xs])
    frames = await tb.recv_frames(len(sizes), timeout_cycles=10 * ideal + 1000)
    elapsed = tb.cycles() - start
    tb.check_frames(xs, frames)
    if tb.w_stream is not None:
        tb.check_loaded()
    if not idle and not backpressure:
        dut._log.info("%d cycles for %d frames, bounds %d..%d", elapsed, sum(sizes), ideal, worst)
        assert ideal <= elapsed <= worst, f"{elapsed} cycles, bounds {ideal}..{worst}"
        # test_*_loaded compares a LOADED build's with a ROM build's: the cycles between consecutive output beats
        write_timing(beat_gaps=np.diff(tb.beats_out.cycles).tolist())


@cocotb.test()
@cocotb.parametrize(backpressure=[False, True])
async def conv2d_load_overlap(dut, backpressure):
    """LOADED: frames sent at once after reset while the weights load with gaps: nothing issues before the last
    word, every output bit-exact, exactly NWords words taken (ConvStageTB.check_load_overlap)."""
    tb = TB(dut, seed=50 + backpressure)
    await tb.check_load_overlap(np.random.default_rng(50 + backpressure), [1, 3], backpressure)
