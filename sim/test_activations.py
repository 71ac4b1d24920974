"""fg_relu, fg_leaky_relu and fg_lut_act (tanh / sigmoid tables) against fpgagen.core.golden: lane-parallel
on pixel beats, signed and unsigned types, several cast modes, every input code of narrow types (or
random codes plus the extremes), random idle and backpressure."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.fixed import FixedType
from fpgagen.rtl.memfiles import write_table
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

RELU = [  # id, lanes, x, result
    ("relu_u", 3, "ap_fixed<12,5>", "ap_ufixed<8,3,AP_RND,AP_SAT>"),
]
LEAKY = [  # id, lanes, x, param type, slope, result
    ("leaky_02", 2, "ap_fixed<12,5>", "ap_fixed<10,0>", 0.2, "ap_fixed<9,3,AP_RND,AP_SAT>"),
    # a negative slope wider than 1: every bit of the shift-and-add product and its negation
    ("leaky_neg", 2, "ap_fixed<10,4>", "ap_fixed<8,2>", -1.75, "ap_fixed<10,5,AP_RND_CONV,AP_SAT>"),
]
LUT = [  # id, lanes, kind, table size, x, table type, result
    ("tanh", 2, "tanh", 1024, "ap_fixed<12,4>", "ap_fixed<18,8>", "ap_fixed<8,1,AP_RND,AP_SAT>"),
    ("sigmoid", 1, "sigmoid", 256, "ap_fixed<10,8>", "ap_ufixed<8,0,AP_RND,AP_SAT>", "ap_ufixed<8,0>"),
]


def _run(top: str, name: str, params: dict, **case) -> None:
    build = runner.build_dir(name, top, params)
    extra = {}
    if top == "fg_lut_act":
        table_t = T(case["table_t"])
        table = golden.activation_table(case["kind"], case["size"], table_t)
        write_table(build / "table.hex", table, table_t.width)
        extra["TABLE_FILE"] = str(build / "table.hex")
        case["table"] = table
    env = write_case(build, top=top, **case)
    runner.run(top, "fpgagen.sim.test_activations", params | extra, build=build, extra_env=env)


@pytest.mark.parametrize("case", RELU, ids=[c[0] for c in RELU])
def test_relu(case):
    name, lanes, x_s, res_s = case
    params = {"LANES": lanes, **type_params(T(x_s), "IN"), **type_params(T(res_s), "OUT", cast=True)}
    _run("fg_relu", name, params, lanes=lanes, x_t=x_s, res_t=res_s)


@pytest.mark.parametrize("case", LEAKY, ids=[c[0] for c in LEAKY])
def test_leaky_relu(case):
    name, lanes, x_s, param_s, slope, res_s = case
    param_t = T(param_s)
    alpha = int(param_t.from_float(np.array([slope]))[0])
    params = {"LANES": lanes, **type_params(T(x_s), "IN"), **type_params(param_t, "PARAM", signed=False),
              "ALPHA": alpha, **type_params(T(res_s), "OUT", cast=True)}
    _run("fg_leaky_relu", name, params, lanes=lanes, x_t=x_s, param_t=param_s, alpha=alpha, res_t=res_s)


@pytest.mark.parametrize("case", LUT, ids=[c[0] for c in LUT])
def test_lut_act(case):
    name, lanes, kind, size, x_s, table_s, res_s = case
    params = {"LANES": lanes, **type_params(T(x_s), "IN"), "TABLE_SIZE": size,
              "SPAN": golden.TABLE_SPAN[kind], **type_params(T(table_s), "TABLE"),
              **type_params(T(res_s), "OUT", cast=True)}
    _run("fg_lut_act", name, params, lanes=lanes, x_t=x_s, res_t=res_s, kind=kind, size=size, table_t=table_s)


def expected(s: dict, arrays: dict, x: np.ndarray) -> np.ndarray:
    x_t, res_t = T(s["x_t"]), T(s["res_t"])
    if s["top"] == "fg_relu":
        return golden.relu(x, x_t, res_t)
    if s["top"] == "fg_leaky_relu":
        return golden.leaky_relu(x, x_t, s["alpha"], T(s["param_t"]), res_t)
    return golden.lut_activation(x, x_t, arrays["table"], T(s["table_t"]), res_t, golden.TABLE_SPAN[s["kind"]])


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def activation_stream(dut, idle, backpressure):
    """Every input code (narrow types) or 1500 random ones, in lane-parallel beats: bit-exact with golden."""
    s, arrays = read_case()
    lanes, x_t, res_t = s["lanes"], T(s["x_t"]), T(s["res_t"])
    tb = StreamTB(dut, seed=scenario_seed(idle, backpressure))
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    rng = np.random.default_rng(scenario_seed(idle, backpressure))
    if x_t.width <= 12 and not (idle or backpressure):
        codes = np.arange(x_t.min_code, x_t.max_code + 1)
    else:
        codes = np.concatenate([[x_t.min_code, x_t.max_code, 0, -1, 1], random_codes(rng, x_t, 1500)])
    codes = rng.permutation(np.resize(codes, -(-len(codes) // lanes) * lanes)).reshape(-1, lanes)
    split = len(codes) // 3
    frames_in = [[pack_lanes(beat, x_t.width) for beat in part] for part in (codes[:split], codes[split:])]
    frames, elapsed = await run_frames(tb, frames_in)
    got = np.array([unpack_lanes(beat, res_t.width, lanes, res_t.signed) for frame in frames for beat in frame])
    np.testing.assert_array_equal(got, expected(s, arrays, codes))
    if not idle and not backpressure:
        assert elapsed <= len(codes) + 4, f"{elapsed} cycles for {len(codes)} beats"
