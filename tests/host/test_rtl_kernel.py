"""The RTL kernel end to end: models folded by the RTL kernel's own folding (free splits, two products per DSP slice,
LUT multipliers) generate RTL that Verilator runs bit-exact with golden at its bound; the CLI's `--kernel rtl` runs
digits8 on the rtlsim target faster than hls4ml's folding on the same DSP slices; hls4ml's flow refuses such a
model."""

import re

import numpy as np
import pytest

from fpgagen.core.folding import (
    Budget,
    MacArray,
    choose_reuse_factors,
    mac_reuse_factor,
    mac_splits,
    stage_cost,
    streamed_lanes,
)
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.random_model import random_model, random_transposed_model
from fpgagen.host.virtual_board.rtlsim_backend import steady_state
from fpgagen.rtl import rtlsim
from fpgagen.rtl.generate import generate_rtl

_missing = rtlsim.missing_tools()
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"rtlsim backend needs {', '.join(_missing)}")

def rtl_folded(seed: int = 0):
    """random_transposed_model(seed) folded by the RTL kernel's planner on a third of the DSP slices its fastest
    folding takes (seed 0: a packed layer and a layer in LUTs)."""
    model = random_transposed_model(seed)
    arith = [lr for lr in model.layers if lr.kind in ARITHMETIC]
    full = sum(stage_cost(lr, 1).multipliers for lr in arith)  # the fastest folding's multipliers
    budget = Budget(max(len(arith), full // 3), lut=10**7, lut_per_multiplier=10.0, kernel="rtl", family="xc7")
    choose_reuse_factors(model.layers, budget, input_t=model.input_t)
    model.name = f"rtl_kernel_planned{seed}"
    model.validate()
    return model


def hand_folded(seed: int = 4):
    """random_model(seed) with MAC arrays set by hand, every arithmetic layer at its widest output split with its
    outputs packed and its last output in LUTs (the RTL is exact at any widths; the planner packs only where a DSP
    slice holds both products)."""
    model = random_model(seed)
    lanes = streamed_lanes(model.layers)
    for lr in model.layers:
        if lr.kind in ARITHMETIC:
            pi, po = max(mac_splits(lr, lanes.get(lr.name)), key=lambda s: (s[1], -s[0]))
            lr.mac = MacArray(pi, po, pack=po > 1, lut_outputs=1)
            lr.reuse_factor = mac_reuse_factor(lr, lr.mac)
    model.name = f"rtl_kernel_by_hand{seed}"
    model.validate()
    return model


CASES = {"planned": rtl_folded, "by_hand": hand_folded}


@pytest.mark.slow(25)  # a Verilator build each, cold
@pytest.mark.parametrize("case", CASES)
def test_packed_and_lut_multipliers_run_bit_exact_at_the_bound(case, tmp_path):
    model = CASES[case]()
    macs = [lr.mac for lr in model.layers if lr.mac is not None]
    assert any(m.pack and m.packed_pairs for m in macs), "the case must pack two products to a DSP slice"
    assert any(m.lut_multipliers for m in macs), "the case must build multipliers in LUTs"
    design = generate_rtl(model, tmp_path)
    params = [s.params for s in design.stages if s.layer and model.layer(s.layer).mac is not None]
    assert any(p.get("PACK") for p in params) and any(p.get("LUT_OUTS") for p in params)
    assert design.dsps == model.dsps < design.multipliers
    result = steady_state(model, images=4)  # every image checked against golden
    assert 0.9 * design.bound_cycles <= result.cycles_per_image <= 1.1 * design.bound_cycles + 16


@pytest.mark.slow(30)  # a Verilator build of digits8, cold
def test_the_cli_runs_digits8_on_the_rtl_kernel_faster_on_the_same_dsp_slices(tmp_path, capsys):
    """Against hls4ml's folding's bound on the same board (which its rtlsim reaches: tests/host/test_rtlsim_backend)."""
    from fpgagen.cli import main
    from fpgagen.core.folding import pipeline_costs
    from fpgagen.models.presets import load_preset
    from fpgagen.models.quantize import quantize

    out = tmp_path / "rtl.npy"
    assert main(["generate", "digits8", "--target", "rtlsim", "--kernel", "rtl", "--board", "pynq-z2", "--n", "3",
                 "--out", str(out)]) == 0
    cycles = int(re.search(r"cycles_per_image (\d+)", capsys.readouterr().out).group(1))
    hls = quantize(load_preset("digits8"), board="pynq-z2")
    assert cycles < max(c.cycles for c in pipeline_costs(hls).values()) / 1.5
    assert np.load(out).shape == (3, 1, 8, 8)


def test_hls4mls_flow_refuses_a_model_folded_for_the_rtl_kernel():
    from fpgagen.hls.hls4ml_flow import to_torch

    with pytest.raises(ValueError, match="folded for the RTL kernel"):
        to_torch(rtl_folded())
