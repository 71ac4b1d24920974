"""fg_axis_f32_in (float32 beats -> fixed vector beats, FixedType.from_float exactly) and fg_axis_f32_out
(fixed pixel beats -> float32 beats, exact): ties, denormals, signed zeros, overflow, Inf/NaN (defined as:
NaN -> 0, Inf as a huge value) and random bit patterns; random idle and backpressure."""

from __future__ import annotations

from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.triggers import Timer

from fpgagen.core.fixed import OVERFLOW, ROUNDING, FixedType
from fpgagen.rtl import sv_source
from fpgagen.rtl.params import type_params
from fpgagen.sim import runner
from fpgagen.sim.tb import (
    StreamTB,
    pack_lanes,
    random_codes,
    read_case,
    run_frames,
    scenario_seed,
    unpack_lanes,
    write_case,
)

T = FixedType.parse

F32_IN = [("in_rndconv_sat", 4, "ap_fixed<16,6,AP_RND_CONV,AP_SAT>")]  # id, lanes, type
F32_MODES = [("modes_s24", "ap_fixed<24,1>"), ("modes_u7_negf", "ap_ufixed<7,9>")]  # id, type (all modes)
WRAPPER = Path(__file__).resolve().parent / "hdl" / "tb_f32_modes.sv"
F32_OUT = [  # id, lanes, type
    ("out_s16", 3, "ap_fixed<16,6>"), ("out_u24", 1, "ap_ufixed<24,30>"), ("out_s24", 2, "ap_fixed<24,-2>")]


@pytest.mark.parametrize("case", F32_IN, ids=[c[0] for c in F32_IN])
def test_axis_f32_in(case):
    name, lanes, t_s = case
    params = {"LANES": lanes, **type_params(T(t_s), "OUT", cast=True)}
    build = runner.build_dir(f"f32in-{name}", "fg_axis_f32_in", params)
    env = write_case(build, direction="in", lanes=lanes, t=t_s)
    runner.run("fg_axis_f32_in", "fpgagen.sim.test_axis_f32", params, build=build, extra_env=env,
               test_filter="f32_stream")


@pytest.mark.parametrize("case", F32_MODES, ids=[c[0] for c in F32_MODES])
def test_f32_to_fixed_modes(case):
    name, t_s = case
    t = T(t_s)
    params = {"OUT_W": t.width, "OUT_F": t.frac, "OUT_SIGNED": int(t.signed)}
    build = runner.build_dir(f"f32modes-{name}", "tb_f32_modes", params)
    env = write_case(build, direction="modes", t=t_s)
    runner.run("tb_f32_modes", "fpgagen.sim.test_axis_f32", params, build=build, extra_env=env,
               sources=[sv_source("fg_requant"), sv_source("fg_f32_to_fixed"), WRAPPER], test_filter="f32_modes")


@pytest.mark.parametrize("case", F32_OUT, ids=[c[0] for c in F32_OUT])
def test_axis_f32_out(case):
    name, lanes, t_s = case
    params = {"LANES": lanes, **type_params(T(t_s), "IN")}
    build = runner.build_dir(f"f32out-{name}", "fg_axis_f32_out", params)
    env = write_case(build, direction="out", lanes=lanes, t=t_s)
    runner.run("fg_axis_f32_out", "fpgagen.sim.test_axis_f32", params, build=build, extra_env=env,
               test_filter="f32_stream")


def float_inputs(rng: np.random.Generator, t: FixedType, n: int) -> np.ndarray:
    """float32 values that matter for a cast to ``t``, n random ones among them."""
    lsb = 2.0 ** -t.frac
    k = rng.integers(t.min_code, t.max_code, n, endpoint=True)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -3e38, 2.0 ** (62 - t.frac), -(2.0 ** (62 - t.frac)),
                2.0 ** (61 - t.frac) * 1.5, t.max_value, t.min_value, t.max_value + lsb, t.min_value - lsb,
                1e-45, -1e-45, 1.17e-38, -5e-39, 0.5 * lsb, -0.5 * lsb, 1.5 * lsb, -1.5 * lsb, 0.25 * lsb]
    values = np.concatenate([
        np.array(specials, np.float64),
        (k + 0.5) * lsb,  # ties
        k * lsb * (1 + rng.uniform(-1e-6, 1e-6, n)),  # near a code
        rng.normal(0, 1, n) * max(abs(t.min_value), t.max_value) * 1.3,  # in range and beyond
    ]).astype(np.float32)
    bits = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)  # anything
    nans = np.array([0x7FC00000, 0xFFC00001, 0x7F800001], np.uint32).view(np.float32)
    return np.concatenate([values, bits, nans])


def from_float_defined(t: FixedType, values: np.ndarray) -> np.ndarray:
    """FixedType.from_float, with the adapter's definition for what ap_fixed leaves undefined."""
    x = np.asarray(values, np.float64)
    x = np.where(np.isnan(x), 0.0, np.where(np.isinf(x), np.sign(x) * 1e300, x))
    return t.from_float(x)


@cocotb.test()
async def f32_modes(dut):
    """fg_f32_to_fixed in every rounding x overflow mode (tb_f32_modes) on the interesting floats."""
    s, _ = read_case()
    t = T(s["t"])
    values = float_inputs(np.random.default_rng(5), t, 600)
    got = np.zeros((len(values), 28), np.int64)
    for i, word in enumerate(values.view(np.uint32).tolist()):
        dut.in_i.value = word
        await Timer(1, unit="ns")
        got[i] = unpack_lanes(dut.out_o.value.to_unsigned(), t.width, 28, t.signed)
    for r, rounding in enumerate(ROUNDING):
        for o, overflow in enumerate(OVERFLOW):
            tm = FixedType(t.width, t.integer, t.signed, rounding, overflow)
            want = from_float_defined(tm, values)
            bad = np.nonzero(got[:, r * 4 + o] != want)[0]
            assert len(bad) == 0, f"{tm}: {values[bad[:5]]} -> {got[bad[:5], r * 4 + o]} != {want[bad[:5]]}"


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def f32_stream(dut, idle, backpressure):
    """Bit-exact conversions, lanes in order, TLAST at each batch end."""
    s, _ = read_case()
    lanes, t = s["lanes"], T(s["t"])
    tb = StreamTB(dut, seed=scenario_seed(idle, backpressure))
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    rng = np.random.default_rng(scenario_seed(idle, backpressure))
    if s["direction"] == "in":
        values = float_inputs(rng, t, 400)
        values = np.resize(values, -(-len(values) // lanes) * lanes)
        words = values.view(np.uint32).astype(np.int64)
        half = (len(words) // lanes // 2) * lanes
        frames_in = [words[:half].tolist(), words[half:].tolist()]
        frames, _ = await run_frames(tb, frames_in)
        got = np.concatenate([unpack_lanes(b, t.width, lanes, t.signed) for f in frames for b in f])
        want = from_float_defined(t, values)
        bad = np.nonzero(got != want)[0]
        assert len(bad) == 0, f"{len(bad)} mismatches, first: {values[bad[:5]]} -> {got[bad[:5]]} != {want[bad[:5]]}"
    else:
        codes = np.concatenate([[t.min_code, t.max_code, 0, 1], random_codes(rng, t, 600)])
        codes = np.resize(codes, -(-len(codes) // lanes) * lanes).reshape(-1, lanes)
        frames_in = [[pack_lanes(px, t.width) for px in part] for part in (codes[:50], codes[50:])]
        frames, _ = await run_frames(tb, frames_in)
        got = np.array([b for f in frames for b in f], np.uint32)
        want = t.to_float(codes.ravel()).astype(np.float32).view(np.uint32)
        np.testing.assert_array_equal(got, want)
