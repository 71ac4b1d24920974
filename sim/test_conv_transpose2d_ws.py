"""fg_conv_transpose2d_ws (weights streamed, weight-stationary) against fpgagen.core.golden.conv_transpose2d:
stride 1 and 2, kernels 3 to 5, paddings and output paddings (an end crop, bias-only rows and columns), a ragged
last output group, PI < C_IN, tiny inputs (1 x 1, 1 x 2: the same accumulator updated in consecutive cycles);
several frames back to back in batches (TLAST per batch), the weight stream sending the whole pass again for
every frame, under random idle (pixels and weights) and backpressure, every output bit-exact. Without pauses the
cycles between consecutive frames are exactly :func:`fpgagen.core.transposed.conv_transpose_ws_cycles`."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest

from fpgagen.core.fixed import FixedType
from fpgagen.core.layers import accumulator_bound
from fpgagen.core.quantized_model import Layer
from fpgagen.core.transposed import (
    conv_transpose_ws_cycles,
    transposed_out_size,
    transposed_support,
    transposed_taps,
)
from fpgagen.core.weights_file import conv_transpose_bias_words, conv_transpose_words
from fpgagen.rtl.memfiles import write_memh
from fpgagen.rtl.params import type_params
from fpgagen.sim import runner
from fpgagen.sim.tb import ConvTransposeTB, pack_lanes, pause_generator, random_codes, unpack_lanes, write_case

T = FixedType.parse

CASES = [
    # id, H, W, C_IN, C_OUT, K, STRIDE, PAD, OUT_PAD, PI, PO, x, w, b, acc, result
    # DCGAN's 2x upsampling shape; two input blocks, 5 outputs in groups of 2, 2 and 1 (ragged)
    ("s2_k3_ragged", 3, 4, 4, 5, 3, 2, 1, 1, 2, 2, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<26,12>", "ap_fixed<8,3,AP_RND,AP_SAT>"),
    # Keras's 'same' of stride 2, kernel 5 (padding 1, output_padding -1: an end crop), one input lane of three,
    # unsigned input and result
    ("s2_k5_keras_same", 3, 2, 3, 2, 5, 2, 1, -1, 1, 2, "ap_ufixed<8,3>", "ap_fixed<7,1>", "ap_fixed<8,3>",
     "ap_fixed<26,12>", "ap_ufixed<7,3,AP_TRN_ZERO,AP_SAT_ZERO>"),
    # a 1 x 1 input: every word touches one pixel, consecutive input blocks the same accumulator; empty taps
    ("s1_k4_1x1", 1, 1, 4, 3, 4, 1, 1, 0, 2, 3, "ap_fixed<6,2>", "ap_fixed<6,1>", "ap_fixed<6,2>",
     "ap_fixed<22,10>", "ap_fixed<7,2,AP_RND_CONV,AP_SAT_SYM>"),
    # a 1 x 2 input, output_padding > padding (a bias-only last row and column): the drain is the longer
    ("s2_k3_1x2_drain", 1, 2, 2, 3, 3, 2, 0, 1, 2, 3, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<9,3>",
     "ap_fixed<24,12>", "ap_fixed<6,2,AP_RND_MIN_INF,AP_WRAP>"),
    # stride 1 with an end crop, PI < C_IN, a ragged pair of groups
    ("s1_k3_crop", 3, 4, 2, 3, 3, 1, 1, -1, 1, 2, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<24,12>", "ap_fixed<8,3,AP_RND_INF,AP_SAT>"),
]


def _out_hw(h, w, k, s, pad, opad):
    return tuple(transposed_out_size(n, k, s, pad, opad) for n in (h, w))


def test_cases_are_supported_contract():
    """Every case is a layer the contract accepts (supported geometry, an exact accumulator), and together they
    cover both strides, both bounds of the cycle count (compute and drain) and the hazard of a tiny input."""
    bound_by_drain = []
    for name, h, w, c, o, k, s, pad, opad, pi, po, *types in CASES:
        x_t, w_t, b_t, acc_t, res_t = (T(t) for t in types)
        assert not transposed_support(k, s, pad, opad), name
        out_hw = _out_hw(h, w, k, s, pad, opad)
        assert min(out_hw) >= 1 and c % pi == 0 and 1 <= po <= o, name
        worst = Layer(name, "conv_transpose2d", (c, h, w), (o, *out_hw), res_t,
                      weight=np.full((c, o, k, k), -w_t.min_code), bias=np.full(o, -b_t.min_code), weight_t=w_t,
                      bias_t=b_t, accum_t=acc_t, padding=pad, stride=s, output_padding=opad)
        assert accumulator_bound(worst, x_t, acc_t.frac) <= acc_t.max_code, name
        drain = out_hw[0] * out_hw[1] * -(-o // po)
        bound_by_drain.append(conv_transpose_ws_cycles((h, w), out_hw, c, o, k, s, pad, pi, po) == drain)
    assert any(bound_by_drain) and not all(bound_by_drain)
    assert {c[6] for c in CASES} == {1, 2} and any(c[1] * c[2] == 1 for c in CASES)


def test_cycle_count_is_the_mac_bound_without_empty_words():
    """Where every tap has an input pixel and PO divides O, compute is exactly useful MACs / (PI * PO)."""
    h, w, c, o, k, s, pad, opad, pi, po = 4, 5, 8, 6, 5, 2, 2, 1, 4, 3
    out_hw = _out_hw(h, w, k, s, pad, opad)
    useful = transposed_taps(k, s, pad, out_hw, (h, w))[1]
    assert conv_transpose_ws_cycles((h, w), out_hw, c, o, k, s, pad, pi, po) == c * o * useful // (pi * po)


# the MAC arithmetic's PACK and LUT_OUTS (fg_mac_sums), then CASES' columns: two input lanes, 4 outputs a cycle;
# outputs 0 and 1 share DSPs, 2 has its own, 3 multiplies in LUTs; unsigned 9-bit data, 7-bit weights
MAC_CASES = [
    ("s2_k3_packed_lut", {"PACK": 1, "LUT_OUTS": 1}, 2, 3, 2, 4, 3, 2, 1, 1, 2, 4, "ap_ufixed<9,4>",
     "ap_fixed<7,1>", "ap_fixed<8,3>", "ap_fixed<26,12>", "ap_fixed<8,3,AP_RND,AP_SAT>"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_conv_transpose2d_ws(case):
    _run_ws(case)


@pytest.mark.parametrize("case", MAC_CASES, ids=[c[0] for c in MAC_CASES])
def test_conv_transpose2d_ws_mac(case):
    """Packed DSP pairs, an unpacked DSP output and a LUT multiplier in the weight-stationary stage."""
    name, mac, *rest = case
    _run_ws((name, *rest), mac)


def _run_ws(case, mac=None):
    """Build fg_conv_transpose2d_ws for a case (``mac``: PACK, LUT_OUTS) and run its cocotb tests."""
    name, h, w_, c_in, c_out, k, stride, pad, opad, pi, po, *types = case
    x_t, w_t, b_t, acc_t, res_t = (T(s) for s in types)
    params = {"H": h, "W": w_, "C_IN": c_in, "C_OUT": c_out, "K": k, "STRIDE": stride, "PAD": pad,
              "OUT_PAD": opad, "PI": pi, "PO": po, **type_params(x_t, "X"), **type_params(w_t, "W", signed=False),
              **type_params(b_t, "B", signed=False), **type_params(acc_t, "ACC", signed=False),
              **type_params(res_t, "OUT", cast=True), **(mac or {})}
    build = runner.build_dir(f"conv_transpose2d_ws-{name}", "fg_conv_transpose2d_ws", params)
    rng = np.random.default_rng(sum(map(ord, name)))
    w = random_codes(rng, w_t, (c_in, c_out, k, k))
    b = random_codes(rng, b_t, c_out)
    write_memh(build / "b.hex", conv_transpose_bias_words(b, po), b_t.width)
    env = write_case(build, h=h, w_=w_, c_in=c_in, c_out=c_out, k=k, stride=stride, pad=pad, opad=opad, pi=pi, po=po,
                     x_t=x_t, w_t=w_t, b_t=b_t, acc_t=acc_t, res_t=res_t, w=w, b=b)
    params |= {"BIAS_FILE": str(build / "b.hex")}
    runner.run("fg_conv_transpose2d_ws", "fpgagen.sim.test_conv_transpose2d_ws", params, build=build, extra_env=env)


class TB(ConvTransposeTB):
    """ConvTransposeTB plus the weight stream (``s_axis_w``) and a monitor of the cycle of every output beat."""

    cycle_model = staticmethod(conv_transpose_ws_cycles)

    def __init__(self, dut, seed):
        from cocotbext.axi import AxiStreamBus, AxiStreamSource

        super().__init__(dut, seed=seed)
        self.w_source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_w"), dut.clk_i, dut.rst_ni,
                                        reset_active_level=False, byte_lanes=1)
        self.w_source.log.setLevel("WARNING")
        self.beat_cycles: list[int] = []
        cocotb.start_soon(self._watch())

    async def _watch(self):
        from cocotb.triggers import RisingEdge

        while True:
            await RisingEdge(self.dut.clk_i)
            if self.dut.m_axis_tvalid.value and self.dut.m_axis_tready.value:
                self.beat_cycles.append(self.cycles())

    def set_pauses(self, idle: bool, backpressure: bool, probability: float = 0.4) -> None:
        super().set_pauses(idle, backpressure, probability)
        self.w_source.set_pause_generator(pause_generator(self.rng, probability) if idle else None)

    async def send_weights(self, frames: int) -> None:
        """The whole pass of weight words once per frame (one stream: the words of frame n + 1 follow at once)."""
        from cocotbext.axi import AxiStreamFrame

        words = [pack_lanes(word, self.types["w_t"].width)
                 for word in conv_transpose_words(self.weights, self.pi, self.po)]
        await self.w_source.send(AxiStreamFrame(tdata=words * frames))


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def conv_transpose2d_ws_stream(dut, idle, backpressure):
    """Batches of 2, 1 and 3 random frames back to back (TLAST per batch): every output pixel bit-exact with the
    golden conv_transpose2d, TLAST only on a batch's last beat; without pauses each frame's last beat comes
    exactly conv_transpose_ws_cycles after the previous frame's."""
    tb = TB(dut, seed=2 * idle + backpressure)
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    rng = np.random.default_rng(40 + 2 * idle + backpressure)
    x_t, res_t = tb.types["x_t"], tb.types["res_t"]
    sizes = [2, 1, 3]
    xs = [random_codes(rng, x_t, (n, tb.c_in, tb.h, tb.w)) for n in sizes]
    frames_total = sum(sizes)
    period = tb.cycles_per_frame()
    await tb.send_weights(frames_total)
    await tb.send_frames([tb.pixels(x) for x in xs])
    frames = await tb.recv_frames(len(sizes), timeout_cycles=20 * frames_total * period + 2000)
    for x, frame in zip(xs, frames, strict=True):
        assert len(frame) == len(x) * tb.oh * tb.ow, f"{len(frame)} beats for {len(x)} frames"
        got = np.array([unpack_lanes(beat, res_t.width, tb.c_out, res_t.signed) for beat in frame])
        want = tb.expected(x).transpose(0, 2, 3, 1).reshape(-1, tb.c_out)
        np.testing.assert_array_equal(got, want)
    assert tb.w_source.empty(), "weight words left over"
    if not idle and not backpressure:
        pixels = tb.oh * tb.ow
        ends = [tb.beat_cycles[(n + 1) * pixels - 1] for n in range(frames_total)]
        gaps = np.diff(ends).tolist()
        dut._log.info("frame ends %s: gaps %s, conv_transpose_ws_cycles %d", ends, gaps, period)
        assert gaps == [period] * (frames_total - 1), f"gaps {gaps}, expected {period}"
