"""fg_mac_sums (the multipliers of fg_mac_array and fg_conv_transpose2d_ws) against fpgagen.core.golden.dense:
DSP products packed two to a multiplier (PACK), the odd DSP output left unpacked, and LUT products (LUT_OUTS), bit-exact
over input widths 2-16 signed and unsigned and weight widths 2-16, the extreme codes of each type (the most negative
input and weight, the largest) crossed with each other first, then random codes. One build: a wrapper written per
run holds one fg_mac_sums per width pair (PI = 2, PO = 4, PACK = 1, LUT_OUTS = 1: outputs 0 and 1 share a
multiplier, output 2 has its own, output 3 multiplies in LUTs)."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import Timer

from fpgagen.core import golden
from fpgagen.core.fixed import FixedType
from fpgagen.rtl import sv_source
from fpgagen.sim import runner
from fpgagen.sim.tb import pack_lanes, read_case, unpack_lanes, write_case

PI, PO = 2, 4
# (x width, x signed, w width): the presets' (9-bit data, 6-8 bit weights), the widest, the narrowest, then random
FIXED_WIDTHS = [(9, True, 7), (9, True, 8), (9, False, 6), (16, True, 16), (16, False, 16), (2, True, 2),
                (2, False, 2)]
RANDOM_WIDTHS = 9
VECTORS = 300


def widths() -> list[tuple[int, bool, int]]:
    rng = np.random.default_rng(22)
    return FIXED_WIDTHS + [(int(rng.integers(2, 17)), bool(rng.integers(2)), int(rng.integers(2, 17)))
                           for _ in range(RANDOM_WIDTHS)]


def sum_width(x_w: int, w_w: int) -> int:
    return x_w + w_w + 2  # a sum of PI = 2 products, and a bit to spare


def wrapper(configs) -> str:
    """``tb_mac_sums``: one fg_mac_sums per config, its x, w and sums in consecutive slices of x_i, w_i, sum_o."""
    xo = wo = so = 0
    body = []
    for i, (x_w, x_signed, w_w) in enumerate(configs):
        s_w = sum_width(x_w, w_w)
        body.append(f"""  fg_mac_sums #(.PI({PI}), .PO({PO}), .X_W({x_w}), .X_SIGNED(1'b{int(x_signed)}), .W_W({w_w}),
    .SUM_W({s_w}), .PACK(1'b1), .LUT_OUTS(1)) u_{i} (
    .x_i(x_i[{xo + PI * x_w - 1}:{xo}]), .w_i(w_i[{wo + PO * PI * w_w - 1}:{wo}]),
    .sum_o(sum_o[{so + PO * s_w - 1}:{so}]));""")
        xo, wo, so = xo + PI * x_w, wo + PO * PI * w_w, so + PO * s_w
    ports = f"  input  logic [{xo - 1}:0] x_i,\n  input  logic [{wo - 1}:0] w_i,\n  output logic [{so - 1}:0] sum_o\n"
    return ("`default_nettype none\n\nmodule tb_mac_sums (\n" + ports + ");\n\n" + "\n".join(body)
            + "\n\nendmodule\n\n`default_nettype wire\n")


def test_mac_sums():
    configs = widths()
    build = runner.build_dir("mac_sums", "tb_mac_sums", {"configs": configs})
    top = build / "tb_mac_sums.sv"
    text = wrapper(configs)
    if not top.is_file() or top.read_text() != text:
        top.write_text(text)
    env = write_case(build, configs=[list(c) for c in configs])
    runner.run("tb_mac_sums", "fpgagen.sim.test_mac_sums", {}, build=build, extra_env=env,
               sources=[sv_source("fg_mac_sums"), top])


def types(x_w: int, x_signed: bool, w_w: int) -> tuple[FixedType, FixedType, FixedType]:
    """Integer input, weight and exact accumulator types (the accumulator is golden's result: no cast)."""
    x_t = FixedType(x_w, x_w, x_signed)
    w_t = FixedType(w_w, w_w, True)
    return x_t, w_t, FixedType(sum_width(x_w, w_w), sum_width(x_w, w_w), True)


def operands(rng: np.random.Generator, x_t: FixedType, w_t: FixedType) -> tuple[np.ndarray, np.ndarray]:
    """``VECTORS`` inputs (VECTORS, PI) and weights (VECTORS, PO, PI): first every extreme input against every pair of
    extreme weights (the packed pair's low and high lane), then random codes."""
    x_edges = sorted({x_t.min_code, x_t.max_code, 0, min(1, x_t.max_code), max(-1, x_t.min_code)})
    w_edges = sorted({w_t.min_code, w_t.max_code, 0, -1, min(1, w_t.max_code)})
    x = rng.integers(x_t.min_code, x_t.max_code, (VECTORS, PI), endpoint=True)
    w = rng.integers(w_t.min_code, w_t.max_code, (VECTORS, PO, PI), endpoint=True)
    grid = [(a, lo, hi) for a in x_edges for lo in w_edges for hi in w_edges]
    for v, (a, lo, hi) in enumerate(grid):
        x[v] = a
        w[v, 0::2], w[v, 1::2] = lo, hi  # both lanes of each pair, every output kind
    return x, w


@cocotb.test()
async def mac_sums_widths(dut):
    """Every width pair, every vector: each output's sum bit-exact with golden's exact dense."""
    scalars, _ = read_case()
    configs = [tuple(c) for c in scalars["configs"]]
    rng = np.random.default_rng(7)
    ops = [operands(rng, *types(*c)[:2]) for c in configs]
    for v in range(VECTORS):
        x_beat = w_beat = 0
        xo = wo = 0
        for (x_w, _, w_w), (x, w) in zip(configs, ops, strict=True):
            x_beat |= pack_lanes(x[v], x_w) << xo
            w_beat |= pack_lanes(w[v], w_w) << wo  # lane po * PI + pi
            xo, wo = xo + PI * x_w, wo + PO * PI * w_w
        dut.x_i.value = x_beat
        dut.w_i.value = w_beat
        await Timer(1, unit="ns")
        got = dut.sum_o.value.to_unsigned()
        so = 0
        for c, (x, w) in zip(configs, ops, strict=True):
            x_t, w_t, acc_t = types(*c)
            s_w = acc_t.width
            lanes = unpack_lanes(got >> so, s_w, PO, True)
            want = golden.dense(x[v:v + 1], x_t, w[v], np.zeros(PO, np.int64), w_t, w_t, acc_t, acc_t)[0]
            np.testing.assert_array_equal(lanes, want, err_msg=f"x {x[v]} w {w[v].tolist()} at widths {c}")
            so += PO * s_w
