"""Folding: the reuse-factor chooser finds the fastest pipeline within multipliers, BRAM and LUTs, with reuse
factors hls4ml and the RTL twin both take."""

from __future__ import annotations

import itertools

import pytest

from fpgagen.core.folding import (
    Budget,
    choose_reuse_factors,
    reuse_factors,
    rom_bram36,
    stage_cost,
    streamed_lanes,
    valid_reuse_factor,
)
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.random_model import random_model, random_transposed_model
from fpgagen.core.transposed import tap_split


def _stages(layers, budget: Budget):
    lanes = streamed_lanes(layers)
    return [stage_cost(lr, lr.reuse_factor, lanes.get(lr.name), budget.lut_per_multiplier)
            for lr in layers if lr.kind in ARITHMETIC]


def _fits(costs, budget: Budget) -> bool:
    return (sum(c.multipliers for c in costs) <= budget.multipliers
            and (budget.bram36 is None or sum(c.bram36 for c in costs) <= budget.bram36)
            and (budget.lut is None or sum(c.lut for c in costs) <= budget.lut))


def _brute_force_bound(layers, budget: Budget) -> int | None:
    """The smallest bound (hls4ml's and the twin's cycles alike) over every combination of reuse factors."""
    lanes = streamed_lanes(layers)
    arith = [lr for lr in layers if lr.kind in ARITHMETIC]
    options = [[stage_cost(lr, rf, lanes.get(lr.name), budget.lut_per_multiplier) for rf in reuse_factors(lr)]
               for lr in arith]
    best = None
    for combo in itertools.product(*options):
        if _fits(combo, budget):
            bound = max(c.hls_cycles for c in combo)
            best = bound if best is None else min(best, bound)
    return best


@pytest.mark.parametrize("seed", range(8))
def test_the_chooser_finds_the_fastest_pipeline_that_fits(seed):
    """Against every combination of reuse factors of small random models (dense, conv2d and transposed layers),
    under a multiplier budget alone and with LUT and BRAM limits that bind."""
    model = (random_model if seed % 2 else random_transposed_model)(seed)
    layers = model.layers
    arith = [lr for lr in layers if lr.kind in ARITHMETIC]
    if len(arith) > 3 or any(len(reuse_factors(lr)) > 40 for lr in arith):
        pytest.skip("too many combinations to enumerate")
    full = sum(stage_cost(lr, 1).multipliers for lr in arith)
    for budget in (Budget(max(len(arith), full // 3)),
                   Budget(full, lut=full // 2 * 10, lut_per_multiplier=10.0),
                   Budget(max(len(arith), full // 2), bram36=0.0)):
        want = _brute_force_bound(layers, budget)
        choose_reuse_factors(layers, budget)
        costs = _stages(layers, budget)
        if want is None:
            continue  # nothing fits: the caller reports it (test_quantized_model covers the message)
        assert _fits(costs, budget), (seed, budget)
        assert max(c.hls_cycles for c in costs) == want, (seed, budget)


def test_every_chosen_reuse_factor_is_one_hls4ml_and_the_twin_take():
    for seed in range(12):
        model = (random_model if seed % 2 else random_transposed_model)(seed)
        choose_reuse_factors(model.layers, Budget(64))
        for lr in model.layers:
            if lr.kind == "conv_transpose2d":
                n_in, n_out = lr.weight.shape[:2]
                pi, po = tap_split(n_in, n_out, lr.reuse_factor)
                assert lr.multipliers == pi * po
            elif lr.kind in ARITHMETIC:
                n_in, n_out = (lr.weight.size // lr.bias.size, lr.bias.size)
                assert valid_reuse_factor(n_in, n_out, lr.reuse_factor)
        model.validate()


def test_a_lut_budget_slows_the_pipeline_where_multipliers_alone_would_not():
    model = random_transposed_model(3)
    arith = [lr for lr in model.layers if lr.kind in ARITHMETIC]
    full = sum(stage_cost(lr, 1).multipliers for lr in arith)
    loose = Budget(full, lut_per_multiplier=10.0)
    choose_reuse_factors(model.layers, loose)
    free = _stages(model.layers, loose)
    # one LUT less than the fastest pipeline's fewest-multiplier combination needs
    tight = Budget(full, lut=int(sum(c.lut for c in free)) - 1, lut_per_multiplier=10.0)
    free = max(c.hls_cycles for c in free)
    choose_reuse_factors(model.layers, tight)
    costs = _stages(model.layers, tight)
    assert sum(c.lut for c in costs) <= tight.lut
    assert max(c.hls_cycles for c in costs) > free


def test_rom_estimate_matches_what_yosys_mapped():
    """The ROM shapes yosys mapped for dcgan28 (docs/results.md): 25,088 x 350 bits in 245 BRAM36 (+ its biases),
    800 x 7,168 in 200, 400 x 3,584 in 50; a 100-word ROM in LUTs."""
    assert rom_bram36(25_088, 350) == 245
    assert rom_bram36(800, 7_168) == pytest.approx(200, abs=1)  # 398 RAMB18 of 1K x 18 here
    assert rom_bram36(400, 3_584) == 50
    assert rom_bram36(100, 112) == 0
    assert rom_bram36(200, 36) == 0.5  # a RAMB18 half


def test_transposed_stage_cost_between_the_powers_of_two():
    """dcgan28's 256 x 128 tap: 22 cycles per tap take 1,536 multipliers (6 outputs per cycle, the last of 22
    groups using 2); the dividing splits jump from 1,024 (32 cycles) to 2,048 (16)."""
    import numpy as np

    from fpgagen.core.fixed import FixedType
    from fpgagen.core.quantized_model import Layer

    t = FixedType.parse("ap_fixed<8,2>")
    lr = Layer("ct", "conv_transpose2d", (256, 7, 7), (128, 7, 7), t, weight=np.zeros((256, 128, 5, 5), np.int64),
               bias=np.zeros(128, np.int64), weight_t=t, bias_t=t, accum_t=FixedType.parse("ap_fixed<24,10>"),
               padding=2, stride=1, output_padding=0)
    costs = {rf: stage_cost(lr, rf) for rf in (16, 22, 32)}
    assert [costs[rf].multipliers for rf in (16, 22, 32)] == [2048, 1536, 1024]
    assert [costs[rf].cycles for rf in (16, 22, 32)] == [16 * 841, 22 * 841, 32 * 841]


def test_an_estimate_no_folding_meets_is_dropped_not_the_pipeline_slowed():
    """A LUT share that even one multiplier per layer exceeds (a board far too small by the estimate) folds as if
    the estimate were absent, rather than taking every layer's slowest reuse factor; yosys and the board fit judge
    such a design."""
    import copy

    model = random_model(1)
    arith = [lr for lr in model.layers if lr.kind in ARITHMETIC]
    full = sum(stage_cost(lr, 1).multipliers for lr in arith)
    free, starved = copy.deepcopy(model.layers), copy.deepcopy(model.layers)
    choose_reuse_factors(free, Budget(full // 2))
    choose_reuse_factors(starved, Budget(full // 2, lut=len(arith) * 10 - 1, lut_per_multiplier=10.0))
    assert [lr.reuse_factor for lr in starved] == [lr.reuse_factor for lr in free]
    slowest = [max(reuse_factors(lr)) for lr in arith]
    assert [lr.reuse_factor for lr in starved if lr.kind in ARITHMETIC] != slowest
