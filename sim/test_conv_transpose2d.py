"""fg_conv_transpose2d against fpgagen.core.golden.conv_transpose2d: stride 1 and 2, kernels 2 to 5, paddings and
output paddings (bias-only rows and columns included), channels, parallelism (P = C*O, P < C, PO > 1, one
multiplier, ragged output groups), widths, signedness, cast modes; several frames back to back in batches (TLAST
per batch) under random idle and backpressure, every output bit-exact; cycles against the analytical count
(:func:`fpgagen.core.transposed.conv_transpose_cycles`: RF per useful tap, no multiplication by inserted zeros).
Weights from a ROM or from a RAM loaded after reset (LOADED: the words on s_axis_w with random gaps, pixels sent
while they load; nothing issues before the last word, exactly NWords words taken, then the ROM's cycles)."""

from __future__ import annotations

from pathlib import Path

import cocotb
import numpy as np
import pytest

from fpgagen.core.fixed import FixedType
from fpgagen.core.layers import accumulator_bound
from fpgagen.core.quantized_model import Layer
from fpgagen.core.transposed import (
    conv_transpose_cycles,
    conv_transpose_tap_counts,
    tap_reuse_factors,
    tap_split,
    transposed_out_size,
    transposed_support,
    transposed_taps,
)
from fpgagen.core.weights_file import conv_transpose_bias_words, conv_transpose_words
from fpgagen.rtl.memfiles import read_memh, write_conv_transpose
from fpgagen.rtl.params import type_params
from fpgagen.sim import runner
from fpgagen.sim.tb import (
    ConvTransposeTB,
    assert_loaded_timing_is_roms,
    random_codes,
    run_weight_source,
    write_case,
    write_timing,
)

T = FixedType.parse

CASES = [
    # id, H, W, C_IN, C_OUT, K, STRIDE, PAD, OUT_PAD, RF (cycles per useful tap), x, w, b, acc, result
    # DCGAN's 2x upsampling shape, one cycle per useful tap (P = C * O)
    ("s2_k3_full", 4, 3, 2, 3, 3, 2, 1, 1, 1, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<26,12>",
     "ap_fixed<8,3,AP_RND,AP_SAT>"),
    # mnist28's kernel 5: P < C (two cycles per tap and output), unsigned input and result
    ("s2_k5_p_lt_c", 3, 4, 4, 2, 5, 2, 2, 1, 4, "ap_ufixed<8,3>", "ap_fixed<7,1>", "ap_fixed<8,3>",
     "ap_fixed<26,12>", "ap_ufixed<7,3,AP_TRN_ZERO,AP_SAT_ZERO>"),
    # stride 1, kernel 5, one multiplier
    ("s1_k5_serial", 4, 3, 1, 2, 5, 1, 2, 0, 2, "ap_fixed<6,2>", "ap_fixed<6,1>", "ap_fixed<6,2>",
     "ap_fixed<22,10>", "ap_fixed<7,2,AP_RND_CONV,AP_SAT_SYM>"),
    # kernel 4, two output groups of two outputs (PO = 2), wrapping result
    ("s2_k4_po2", 3, 3, 2, 4, 4, 2, 1, 0, 2, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<9,3>", "ap_fixed<24,12>",
     "ap_fixed<6,2,AP_RND_MIN_INF,AP_WRAP>"),
    # output_padding > padding: the last row and column have no useful tap (bias only)
    ("s2_k2_bias_only", 3, 4, 3, 2, 2, 2, 0, 1, 2, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<24,12>", "ap_fixed<8,3,AP_RND_INF,AP_SAT>"),
    # padding K - 1 (the output shrinks), P = C
    ("s1_k2_pad1", 4, 5, 2, 2, 2, 1, 1, 0, 2, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<24,12>",
     "ap_fixed<8,3,AP_RND_ZERO,AP_SAT>"),
    # mnist28's last layer in miniature: rows of 14 pixels, one output channel, P = C
    ("s2_k5_row14", 3, 14, 8, 1, 5, 2, 2, 1, 1, "ap_fixed<9,4>", "ap_fixed<7,1>", "ap_fixed<7,1>",
     "ap_fixed<28,14>", "ap_fixed<9,2,AP_RND,AP_SAT>"),
    # one input row: the ring holds rows of several frames at once
    ("s2_k3_one_row", 1, 3, 2, 2, 3, 2, 0, 1, 1, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<24,12>", "ap_fixed<8,3,AP_TRN,AP_SAT>"),
    # negative output_padding, an end crop: Keras's 'same' of stride 2, kernel 5 (padding 1, output_padding -1)
    ("s2_k5_keras_same", 4, 3, 3, 2, 5, 2, 1, -1, 1, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<26,12>", "ap_fixed<8,3,AP_RND,AP_SAT>"),
    # kernel 3, padding 1, output_padding -1, P < C; and the deepest end crop (K - 1: the last output row reads
    # only the last input row)
    ("s2_k3_end_crop", 3, 4, 4, 2, 3, 2, 1, -1, 4, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<24,12>", "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"),
    ("s2_k5_end_crop_k_minus_1", 3, 3, 2, 2, 5, 2, 0, -4, 1, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<24,12>", "ap_fixed<8,3,AP_TRN,AP_WRAP>"),
    # ragged output groups (tap_split): 5 outputs in groups of 2, 2 and 1; then with two input blocks as well
    ("s2_k3_ragged", 3, 3, 2, 5, 3, 2, 1, 1, 3, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>", "ap_fixed<24,12>",
     "ap_fixed<8,3,AP_RND,AP_SAT>"),
    ("s1_k5_ragged_blocks", 3, 4, 4, 5, 5, 1, 2, 0, 6, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<26,12>", "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"),
]


# weights LOADED into a RAM after reset (WEIGHT_SOURCE 1), same columns as CASES
LOADED_CASES = [
    # stride 1, 5 outputs in groups of 2, 2 and 1 (ragged), two input blocks: 54 words of 4 lanes
    ("loaded_s1_ragged", 3, 4, 4, 5, 3, 1, 1, 0, 6, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<8,3>",
     "ap_fixed<24,12>", "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"),
    # stride 2 with output_padding (DCGAN's shape, kernel 4), two output groups of two: 32 words of 4 lanes
    ("loaded_s2_k4_opad", 3, 3, 2, 4, 4, 2, 1, 1, 2, "ap_fixed<8,3>", "ap_fixed<8,1>", "ap_fixed<9,3>",
     "ap_fixed<24,12>", "ap_fixed<8,3,AP_RND,AP_SAT>"),
]


def test_cases_are_supported_contract():
    """Every case is a layer the contract accepts: supported geometry, a legal reuse factor, an exact
    accumulator."""
    for name, h, w, c, o, k, s, pad, opad, rf, *types in CASES + LOADED_CASES:
        x_t, w_t, b_t, acc_t, res_t = (T(t) for t in types)
        assert not transposed_support(k, s, pad, opad), name
        out_hw = tuple(transposed_out_size(n, k, s, pad, opad) for n in (h, w))
        assert min(out_hw) >= 1, name
        tap_split(c, o, rf)
        worst = Layer(name, "conv_transpose2d", (c, h, w), (o, *out_hw), res_t,
                      weight=np.full((c, o, k, k), -w_t.min_code), bias=np.full(o, -b_t.min_code), weight_t=w_t,
                      bias_t=b_t, accum_t=acc_t, padding=pad, stride=s, output_padding=opad)
        assert accumulator_bound(worst, x_t, acc_t.frac) <= acc_t.max_code, name


def test_split_takes_the_fewest_multipliers_for_each_reuse_factor():
    """tap_split: PI divides C, NOG = ceil(O / PO) groups, RF = C / PI * NOG, the fewest PI * PO; PO need not
    divide O (dcgan28's 256 x 128 tap at 22 cycles: 6 outputs per cycle, 1,536 multipliers, between the dividing
    splits' 1,024 and 2,048)."""
    assert tap_split(4, 2, 4) == (2, 1)
    assert tap_split(4, 6, 2) == (4, 3)
    assert tap_split(256, 128, 22) == (256, 6)
    assert tap_split(256, 128, 32) == (256, 4)
    with pytest.raises(ValueError, match=r"reuse factor 23 is not one of a 256 x 128 .* nearest 20, 22, 24, 26"):
        tap_split(256, 128, 23)
    with pytest.raises(ValueError, match="not one of"):
        tap_split(4, 3, 0)
    for c, o in ((4, 2), (6, 4), (1, 3), (12, 1), (4, 5), (16, 12)):
        legal = tap_reuse_factors(c, o)
        for rf in range(1, c * o + 2):
            splits = [(c // nib, -(-o // nog)) for nib in range(1, c + 1) if c % nib == 0
                      for nog in range(1, o + 1) if nib * -(-o // -(-o // nog)) == rf]
            if rf in legal:
                pi, po = tap_split(c, o, rf)
                assert c % pi == 0 and c // pi * -(-o // po) == rf
                assert pi * po == min(a * b for a, b in splits)
            else:
                assert not splits
                with pytest.raises(ValueError, match="not one of"):
                    tap_split(c, o, rf)


def test_rom_words_follow_the_documented_layout():
    """Word ((og * K + ty) * K + tx) * NIB + ib, lane po * PI + pi; a ragged last group's lanes are zero."""
    rng = np.random.default_rng(3)
    for c, o, k, rf in ((4, 6, 3, 3), (4, 5, 3, 6)):  # PI 4 PO 2; PI 2 PO 2 with groups of 2, 2, 1
        w = rng.integers(-8, 8, (c, o, k, k))
        pi, po = tap_split(c, o, rf)
        words = conv_transpose_words(w, pi, po)
        nib, nog = c // pi, -(-o // po)
        assert words.shape == (nog * k * k * nib, pi * po)
        for og in range(nog):
            for ty in range(k):
                for tx in range(k):
                    for ib in range(nib):
                        for lane_po in range(po):
                            for lane_pi in range(pi):
                                out = og * po + lane_po
                                want = w[ib * pi + lane_pi, out, ty, tx] if out < o else 0
                                assert words[((og * k + ty) * k + tx) * nib + ib, lane_po * pi + lane_pi] == want
        bias = rng.integers(-8, 8, o)
        assert conv_transpose_bias_words(bias, po).ravel().tolist() == bias.tolist() + [0] * (nog * po - o)


def test_rom_files_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    w, b = rng.integers(-32, 32, (2, 4, 5, 5)), rng.integers(-100, 100, 4)
    wf, bf = write_conv_transpose(tmp_path / "w.hex", tmp_path / "b.hex", w, b, 2, 2, 6, 8)
    np.testing.assert_array_equal(read_memh(wf, 6, 4), conv_transpose_words(w, 2, 2))
    np.testing.assert_array_equal(read_memh(bf, 8, 2).ravel(), b)


@pytest.mark.parametrize("s,k,pad,opad", [(1, 3, 1, 0), (2, 5, 2, 1), (2, 2, 0, 1), (2, 4, 3, 0), (1, 5, 4, 0),
                                          (2, 5, 1, -1), (2, 3, 0, -1), (2, 5, 0, -4)])
def test_cycle_model_counts_the_useful_taps(s, k, pad, opad):
    in_hw = (3, 5)
    out_hw = tuple(transposed_out_size(n, k, s, pad, opad) for n in in_hw)
    useful = transposed_taps(k, s, pad, out_hw, in_hw)[1]
    ty = conv_transpose_tap_counts(k, s, pad, out_hw[0], in_hw[0])
    tx = conv_transpose_tap_counts(k, s, pad, out_hw[1], in_hw[1])
    assert sum(ty) * sum(tx) == useful
    bias_only = out_hw[0] * out_hw[1] - np.count_nonzero(ty) * np.count_nonzero(tx)
    c, o, pi, po = 4, 6, 4, 2  # RF 3, PO 2: 3 output groups
    assert conv_transpose_cycles(in_hw, out_hw, c, o, k, s, pad, pi, po) == max(15, 3 * useful + 3 * bias_only)
    c, o, pi, po = 4, 5, 2, 2  # ragged: RF 2 * 3, 3 output groups
    assert conv_transpose_cycles(in_hw, out_hw, c, o, k, s, pad, pi, po) == max(15, 6 * useful + 3 * bias_only)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_conv_transpose2d(case):
    _run_conv_transpose2d("rom", case)


# the MAC array's PACK and LUT_OUTS, then CASES' columns: 5 outputs a cycle (PI = 1), outputs 0 and 1 share DSPs, 2
# has its own, 3 and 4 multiply in LUTs; the presets' 9-bit data and 7-bit weights
MAC_CASES = [
    ("s2_k3_packed_lut", {"PACK": 1, "LUT_OUTS": 2}, 3, 3, 2, 5, 3, 2, 1, 1, 2, "ap_fixed<9,4>", "ap_fixed<7,1>",
     "ap_fixed<8,3>", "ap_fixed<24,12>", "ap_fixed<8,3,AP_RND,AP_SAT>"),
]


@pytest.mark.parametrize("case", MAC_CASES, ids=[c[0] for c in MAC_CASES])
def test_conv_transpose2d_mac(case):
    """Packed DSP pairs, an unpacked DSP output and LUT multipliers in one stage."""
    name, mac, *rest = case
    assert tap_split(*rest[2:4], rest[8]) == (1, 5)
    _run_conv_transpose2d("rom", (name, *rest), mac)


@pytest.mark.parametrize("case", LOADED_CASES, ids=[c[0] for c in LOADED_CASES])
def test_conv_transpose2d_loaded(case):
    """LOADED weights (the ROM file's words on s_axis_w): once loaded, the ROM's cycles."""
    assert_loaded_timing_is_roms(_run_conv_transpose2d, case)


# the cocotb tests each weight source runs
SOURCE_TESTS = {"rom": "conv_transpose2d_stream", "loaded": "conv_transpose2d_stream|conv_transpose2d_load_overlap"}


def _run_conv_transpose2d(source, case, mac=None) -> Path:
    """Build fg_conv_transpose2d for a case with its weights at ``source`` and run that source's cocotb tests;
    ``mac``: the MAC array's PACK and LUT_OUTS (default: none, fg_conv_transpose2d's defaults)."""
    name, h, w_, c_in, c_out, k, stride, pad, opad, rf, *types = case
    x_t, w_t, b_t, acc_t, res_t = (T(s) for s in types)
    pi, po = tap_split(c_in, c_out, rf)
    params = {"H": h, "W": w_, "C_IN": c_in, "C_OUT": c_out, "K": k, "STRIDE": stride, "PAD": pad,
              "OUT_PAD": opad, "PI": pi, "PO": po, **type_params(x_t, "X"), **type_params(w_t, "W", signed=False),
              **type_params(b_t, "B", signed=False), **type_params(acc_t, "ACC", signed=False),
              **type_params(res_t, "OUT", cast=True), **({"WEIGHT_SOURCE": 1} if source == "loaded" else {}),
              **(mac or {})}
    build = runner.build_dir(f"conv_transpose2d-{name}", "fg_conv_transpose2d", params)
    rng = np.random.default_rng(sum(map(ord, name)))
    w = random_codes(rng, w_t, (c_in, c_out, k, k))
    b = random_codes(rng, b_t, c_out)
    write_conv_transpose(build / "w.hex", build / "b.hex", w, b, pi, po, w_t.width, b_t.width)
    env = write_case(build, h=h, w_=w_, c_in=c_in, c_out=c_out, k=k, stride=stride, pad=pad, opad=opad, pi=pi, po=po,
                     x_t=x_t, w_t=w_t, b_t=b_t, acc_t=acc_t, res_t=res_t, w=w, b=b, weight_source=source)
    return run_weight_source("fg_conv_transpose2d", "fpgagen.sim.test_conv_transpose2d", params, build=build, env=env,
                             source=source, tests=SOURCE_TESTS)


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def conv_transpose2d_stream(dut, idle, backpressure):
    """Batches of 2, 1 and 3 random frames back to back (TLAST per batch): every output pixel bit-exact with the
    golden conv_transpose2d, TLAST only on a batch's last beat; without pauses the cycles are the analytical
    count plus the first frame's fill and at most a cycle per frame (frames follow each other without a bubble).
    LOADED: the weights load first (with idle: with gaps, and the frames sent while they load), then the same
    checks: with the RAM loaded, the ROM's cycles."""
    tb = ConvTransposeTB(dut, seed=2 * idle + backpressure)
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    await tb.load_weights(pause=0.4 if idle else 0.0, wait=not idle)
    rng = np.random.default_rng(30 + 2 * idle + backpressure)
    sizes = [2, 1, 3]
    xs = tb.random_frames(rng, sizes)
    frames_total = sum(sizes)
    bound = frames_total * tb.cycles_per_frame()
    # before the first output row can start, the input rows it reads must arrive (floor(PAD/STRIDE) + 1 rows)
    fill = tb.first_output_pixels() + 4
    start = tb.cycles()
    await tb.send_frames([tb.pixels(x) for x in xs])
    frames = await tb.recv_frames(len(sizes), timeout_cycles=20 * bound + 2000)
    elapsed = tb.cycles() - start
    tb.check_frames(xs, frames)
    if tb.w_stream is not None:
        tb.check_loaded()
    if not idle and not backpressure:
        dut._log.info("%d cycles for %d frames: bound %d (%.3f), fill %d", elapsed, frames_total, bound,
                      elapsed / bound, fill)
        assert bound <= elapsed <= bound + fill + frames_total, f"{elapsed} cycles, bound {bound} + fill {fill}"
        # test_*_loaded compares a LOADED build's with a ROM build's: the cycles between consecutive output beats
        write_timing(beat_gaps=np.diff(tb.beats_out.cycles).tolist())


@cocotb.test()
@cocotb.parametrize(backpressure=[False, True])
async def conv_transpose2d_load_overlap(dut, backpressure):
    """LOADED: frames sent at once after reset while the weights load with gaps: nothing issues before the last
    word, every output bit-exact, exactly NWords words taken (ConvStageTB.check_load_overlap)."""
    tb = ConvTransposeTB(dut, seed=50 + backpressure)
    await tb.check_load_overlap(np.random.default_rng(50 + backpressure), [2, 1, 3], backpressure)
