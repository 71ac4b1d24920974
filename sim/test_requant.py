"""fg_requant against fpgagen.core.fixed.FixedType.requantize: every rounding x overflow mode at once
(tb_requant_modes), every input code for narrow inputs, signed and unsigned, fraction bits dropped, kept,
added and negative."""

from __future__ import annotations

from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.triggers import Timer

from fpgagen.core.fixed import OVERFLOW, ROUNDING, FixedType
from fpgagen.rtl import sv_source
from fpgagen.sim import runner
from fpgagen.sim.tb import read_case, unpack_lanes, write_case

T = FixedType.parse
WRAPPER = Path(__file__).resolve().parent / "hdl" / "tb_requant_modes.sv"

CASES = [
    # id, input type, result type (its modes are all tried)
    ("s12tou6", "ap_fixed<12,6>", "ap_ufixed<6,3>"),
    ("u11tos5", "ap_ufixed<11,4>", "ap_fixed<5,2>"),
    ("negf_up", "ap_fixed<9,12>", "ap_fixed<12,10>"),
    ("wide_negf", "ap_fixed<40,12>", "ap_fixed<7,9>"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_requant(case):
    name, in_s, out_s = case
    in_t, out_t = T(in_s), T(out_s)
    params = {"IN_W": in_t.width, "IN_F": in_t.frac, "IN_SIGNED": int(in_t.signed),
              "OUT_W": out_t.width, "OUT_F": out_t.frac, "OUT_SIGNED": int(out_t.signed)}
    build = runner.build_dir(f"requant-{name}", "tb_requant_modes", params)
    env = write_case(build, in_t=in_t, out_t=out_t)
    runner.run("tb_requant_modes", "fpgagen.sim.test_requant", params, build=build, extra_env=env,
               sources=[sv_source("fg_requant"), WRAPPER])


@cocotb.test()
async def requant_all_modes(dut):
    """Every input code (or 3000 random ones and the extremes), every mode: bit-exact with requantize."""
    scalars, _ = read_case()
    in_t, out_t = T(scalars["in_t"]), T(scalars["out_t"])
    if in_t.width <= 12:
        codes = np.arange(in_t.min_code, in_t.max_code + 1)
    else:
        rng = np.random.default_rng(0)
        edges = [in_t.min_code, in_t.min_code + 1, -1, 0, 1, in_t.max_code - 1, in_t.max_code]
        codes = np.concatenate([[c for c in edges if in_t.min_code <= c <= in_t.max_code],
                                rng.integers(in_t.min_code, in_t.max_code, 3000, endpoint=True)])
    got = np.zeros((len(codes), 28), np.int64)
    mask = (1 << in_t.width) - 1
    for i, code in enumerate(codes.tolist()):
        dut.in_i.value = code & mask
        await Timer(1, unit="ns")
        got[i] = unpack_lanes(dut.out_o.value.to_unsigned(), out_t.width, 28, out_t.signed)
    for r, rounding in enumerate(ROUNDING):
        for o, overflow in enumerate(OVERFLOW):
            t = FixedType(out_t.width, out_t.integer, out_t.signed, rounding, overflow)
            np.testing.assert_array_equal(got[:, r * 4 + o], t.requantize(codes, in_t.frac),
                                          err_msg=f"{in_t} -> {t}")
