"""The RTL kernel's folding (core/folding.py: MacArray, choose_mac_arrays): splits, packed DSP slices and LUT
multipliers within a budget, recorded in the QuantizedModel and checked on load."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core import multipliers as mults
from fpgagen.core.folding import (
    Budget,
    MacArray,
    choose_reuse_factors,
    input_bits,
    mac_reuse_factor,
    stage_cost,
    streamed_lanes,
)
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.quantized_model import QuantizedModel, QuantizedModelError
from fpgagen.core.random_model import random_model, random_transposed_model

LUT_PER_MULTIPLIER = 10.0


def _model(seed: int) -> QuantizedModel:
    return (random_model if seed % 2 else random_transposed_model)(seed)


def _rtl_budget(dsps: int, lut: int = 10**7, family: str = "xc7") -> Budget:
    return Budget(dsps, lut=lut, lut_per_multiplier=LUT_PER_MULTIPLIER, kernel="rtl", family=family)


def _costs(model: QuantizedModel, family: str = "xc7") -> list:
    lanes, x_bits = streamed_lanes(model.layers), input_bits(model.layers)
    x_bits[model.layers[0].name] = model.input_t.width
    x_types = dict(zip([lr.name for lr in model.layers], [model.input_t] + [lr.result_t for lr in model.layers][:-1],
                       strict=True))
    return [stage_cost(lr, lr.reuse_factor, lanes.get(lr.name), LUT_PER_MULTIPLIER, x_bits=x_bits[lr.name],
                       mac=lr.mac, family=family, x_signed=x_types[lr.name].signed)
            for lr in model.layers if lr.kind in ARITHMETIC]


def _full(model: QuantizedModel) -> int:
    return sum(stage_cost(lr, 1).multipliers for lr in model.layers if lr.kind in ARITHMETIC)


def test_a_mac_array_counts_its_dsp_slices_packed_pairs_and_lut_multipliers():
    mac = MacArray(4, 5, pack=True, lut_outputs=2)  # 3 outputs on DSPs: one pair packed, one alone
    assert (mac.multipliers, mac.dsps, mac.packed_pairs, mac.lut_multipliers) == (20, 8, 4, 8)
    assert MacArray(4, 5).dsps == 20 and MacArray(4, 5, lut_outputs=5).dsps == 0
    assert MacArray.from_json(json.loads(json.dumps(mac.to_json()))) == mac
    with pytest.raises(ValueError, match="LUT outputs <= PO"):
        MacArray(2, 3, lut_outputs=4)
    with pytest.raises(ValueError, match="pi, po, pack, lut_outputs"):
        MacArray.from_json({"pi": 1, "po": 1})


@pytest.mark.parametrize("seed", range(8))
def test_the_rtl_kernel_fits_its_dsps_and_luts_and_is_never_slower_than_hls4mls_folding(seed):
    model = _model(seed)
    dsps = max(sum(lr.kind in ARITHMETIC for lr in model.layers), _full(model) // 3)
    hls = copy.deepcopy(model)
    choose_reuse_factors(hls.layers, Budget(dsps, lut_per_multiplier=LUT_PER_MULTIPLIER))
    hls_bound = max(c.hls_cycles for c in _costs(hls))

    choose_reuse_factors(model.layers, _rtl_budget(dsps), input_t=model.input_t)
    model.validate()
    assert model.kernel == "rtl" and hls.kernel == "hls"
    costs = _costs(model)
    assert sum(c.dsps for c in costs) <= dsps == _rtl_budget(dsps).multipliers
    assert model.dsps == sum(c.dsps for c in costs)
    assert max(c.cycles for c in costs) <= hls_bound
    x_types = dict(zip([lr.name for lr in model.layers], [model.input_t] + [lr.result_t for lr in model.layers][:-1],
                       strict=True))
    for lr in model.layers:
        if lr.mac is not None and lr.mac.pack:  # packed only where both products fit one DSP48E1
            x_t = x_types[lr.name]
            assert mults.can_pack("xc7", x_t.width, x_t.signed, lr.weight_t.width), lr.name


def test_short_of_dsp_slices_the_rtl_kernel_builds_multipliers_in_luts_and_the_lut_budget_binds():
    model = random_model(5)
    arith = [lr for lr in model.layers if lr.kind in ARITHMETIC]
    full = _full(model)
    choose_reuse_factors(model.layers, _rtl_budget(len(arith)), input_t=model.input_t)
    costs = _costs(model)
    assert sum(c.dsps for c in costs) <= len(arith)
    assert sum(lr.mac.lut_multipliers for lr in arith) > 0
    fast = max(c.cycles for c in costs)
    luts = sum(c.lut for c in costs)
    # a LUT budget one below what that folding needs: slower, and within it
    choose_reuse_factors(model.layers, _rtl_budget(len(arith), lut=int(luts) - 1), input_t=model.input_t)
    costs = _costs(model)
    assert sum(c.lut for c in costs) <= luts - 1 and max(c.cycles for c in costs) > fast
    # with every DSP slice it wants, no LUT multipliers
    choose_reuse_factors(model.layers, _rtl_budget(full), input_t=model.input_t)
    assert all(lr.mac.lut_outputs == 0 for lr in arith)


def test_two_products_share_a_dsp_slice_only_where_both_fit_its_ports():
    model = random_model(1)
    for width, packs in ((6, True), (24, False)):  # a 24-bit operand is wider than a DSP48E2's 18-bit port
        m = dataclass_replace_input(model, width)
        choose_reuse_factors(m.layers, _rtl_budget(_full(m), family="xcup"), input_t=m.input_t)
        first = next(lr for lr in m.layers if lr.kind in ARITHMETIC)
        assert mults.can_pack("xcup", width, True, first.weight_t.width) == packs
        assert first.mac.pack == (packs and first.mac.po > 1), width


def dataclass_replace_input(model: QuantizedModel, width: int) -> QuantizedModel:
    """``model`` with a ``width``-bit input type (the first layer's operand), its arithmetic unchanged."""
    from fpgagen.core.fixed import FixedType

    wide = copy.deepcopy(model)
    t = wide.input_t
    wide.input_t = FixedType(width, width - t.frac, t.signed, t.rounding, t.overflow)
    return wide


def test_the_folding_is_recorded_checked_on_load_and_leaves_the_arithmetic_alone(tmp_path):
    model = random_transposed_model(2)
    z = np.random.default_rng(0).standard_normal((3, model.latent_dim)).astype(np.float32)
    before = golden.run_codes(model, z)
    choose_reuse_factors(model.layers, _rtl_budget(4), input_t=model.input_t)
    np.testing.assert_array_equal(golden.run_codes(model, z), before)  # golden ignores the folding
    model.save(tmp_path / "m")
    loaded = QuantizedModel.load(tmp_path / "m")
    assert [lr.mac for lr in loaded.layers] == [lr.mac for lr in model.layers] and loaded.kernel == "rtl"
    assert [lr.to_json() for lr in loaded.layers] == [lr.to_json() for lr in model.layers]

    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    layer = next(d for d in doc["layers"] if "mac" in d)
    layer["reuse_factor"] += 1
    (tmp_path / "m" / "model.json").write_text(json.dumps(doc))
    with pytest.raises(QuantizedModelError, match="its MAC array"):
        QuantizedModel.load(tmp_path / "m")

    mixed = copy.deepcopy(model)
    next(lr for lr in mixed.layers if lr.mac is not None).mac = None
    if sum(lr.mac is not None for lr in mixed.layers) > 0:
        with pytest.raises(QuantizedModelError, match="other arithmetic layers have none"):
            mixed.validate()


def test_a_split_the_stage_cannot_take_is_refused():
    model = random_model(3)
    lr = next(lr for lr in model.layers if lr.kind == "dense")
    n_out, n_in = lr.weight.shape
    with pytest.raises(ValueError, match="does not split"):
        mac_reuse_factor(lr, MacArray(n_in + 1, 1))
    assert mac_reuse_factor(lr, MacArray(n_in, n_out)) == 1


def test_the_rtl_kernel_folds_every_layer_itself():
    model = random_model(3)
    name = next(lr.name for lr in model.layers if lr.kind in ARITHMETIC)
    with pytest.raises(ValueError, match="cannot be fixed"):
        choose_reuse_factors(model.layers, _rtl_budget(8), frozenset({name}))
    with pytest.raises(ValueError, match="family"):
        Budget(8, kernel="rtl")
    with pytest.raises(ValueError, match="kernel 'vhdl'"):
        Budget(8, kernel="vhdl")
