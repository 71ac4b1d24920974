"""Folding: the reuse-factor chooser finds the fastest pipeline within multipliers, BRAM and LUTs, with reuse
factors hls4ml and the RTL twin both take."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from fpgagen.core.folding import (
    STREAMABLE,
    Budget,
    WeightPorts,
    choose_reuse_factors,
    input_bits,
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


# ------------------------------------------------------------------------------------------ where weights live
PORTS = WeightPorts(bits=64, count=2, ddr_bits_per_cycle=96.0)


def _rom_bram36(layers) -> float:
    """The BRAM36 the smallest all-ROM folding needs."""
    lanes = streamed_lanes(layers)
    return sum(min(stage_cost(lr, rf, lanes.get(lr.name)).bram36 for rf in reuse_factors(lr))
               for lr in layers if lr.kind in ARITHMETIC)


def _brute_force_placed(layers, budget: Budget, places=("loaded", "streamed")) -> tuple[int, int] | None:
    """(off-ROM layers, bound) by the rule: the fewest layers off the ROMs, largest first among those that have
    somewhere to go of ``places`` (loaded: where the budget has UltraRAM; streamed: a dense or transposed
    convolution), then the fastest pipeline over every placement of them and every reuse factor; DDR bandwidth and
    ports respected."""
    lanes, x_bits = streamed_lanes(layers), input_bits(layers)
    arith = [lr for lr in layers if lr.kind in ARITHMETIC]

    def where(lr) -> list[str]:
        return [p for p in places if (p == "loaded" and budget.uram is not None)
                or (p == "streamed" and lr.kind in STREAMABLE)]

    order = [lr for lr in sorted(arith, key=lambda lr: -lr.weight.size * lr.weight_t.width) if where(lr)]
    for k in range(len(order) + 1):
        best = None
        for combo in itertools.product(*[where(lr) for lr in order[:k]]):
            plan = {lr.name: "rom" for lr in arith} | {lr.name: c for lr, c in zip(order, combo, strict=False)}
            if list(plan.values()).count("streamed") > budget.ports.count:
                continue
            options = [[stage_cost(lr, rf, lanes.get(lr.name), budget.lut_per_multiplier, plan[lr.name],
                                   budget.ports, budget.uram is not None, x_bits[lr.name])
                        for rf in reuse_factors(lr)] for lr in arith]
            for stages in itertools.product(*options):
                bound = max(c.hls_cycles for c in stages)
                if (sum(c.multipliers for c in stages) <= budget.multipliers
                        and sum(c.bram36 for c in stages) <= budget.bram36
                        and sum(c.uram for c in stages) <= (budget.uram or 0)
                        and sum(c.stream_bits for c in stages) <= bound * budget.ports.ddr_bits_per_cycle):
                    best = bound if best is None else min(best, bound)
        if best is not None:
            return k, best
    return None


@pytest.mark.parametrize("seed", range(8))
def test_weights_leave_the_roms_largest_first_only_when_the_roms_do_not_fit(seed, monkeypatch):
    """Against brute force over placements and reuse factors: every layer stays in ROM while the block RAM holds a
    folding; below that the fewest, largest layers go to streamed (no UltraRAM) and the pipeline is the fastest such
    placement allows, within DSP, BRAM, ports and the DDR's bits per cycle."""
    import copy

    from fpgagen.core import folding

    monkeypatch.setattr(folding, "LUT_ROM_DEPTH", 0)  # the random models' ROMs are small: count them as block RAM
    model = random_transposed_model(seed) if seed % 2 else random_model(seed)
    arith = [lr for lr in model.layers if lr.kind in ARITHMETIC]
    full = sum(stage_cost(lr, 1).multipliers for lr in arith)
    roomy = Budget(full // 2, bram36=4 * _rom_bram36(model.layers), ports=PORTS)
    tight = Budget(full // 2, bram36=_rom_bram36(model.layers) - 0.25, ports=PORTS)  # no all-ROM folding fits
    plain, placed = copy.deepcopy(model.layers), copy.deepcopy(model.layers)
    choose_reuse_factors(plain, Budget(full // 2, bram36=roomy.bram36))
    choose_reuse_factors(placed, roomy)
    assert [(lr.reuse_factor, lr.placement) for lr in placed] == [(lr.reuse_factor, "rom") for lr in plain]

    layers = copy.deepcopy(model.layers)
    choose_reuse_factors(layers, tight)
    expected = _brute_force_placed(model.layers, tight)
    chosen = [lr for lr in layers if lr.kind in ARITHMETIC]
    off = [lr for lr in chosen if lr.placement != "rom"]
    if expected is None:  # nothing fits even streamed: all in ROM, the estimate dropped
        assert not off
        return
    x_bits, lanes = input_bits(layers), streamed_lanes(layers)
    stages = [stage_cost(lr, lr.reuse_factor, lanes.get(lr.name), 0.0, lr.placement, PORTS, False, x_bits[lr.name])
              for lr in chosen]
    assert (len(off), max(c.hls_cycles for c in stages)) == expected
    assert {lr.placement for lr in off} <= {"streamed"} and len(off) <= PORTS.count
    for c in stages:
        if c.placement == "streamed":
            assert c.stream_bits % PORTS.bits == 0 and c.hls_cycles >= c.stream_bits // PORTS.bits


@pytest.mark.parametrize("seed", range(6))
def test_a_placement_policy_narrows_where_weights_go(seed, monkeypatch):
    """With UltraRAM and weight ports both at hand and no all-ROM folding fitting the block RAM: ``loaded`` takes
    layers off the ROMs only into UltraRAM, ``streamed`` only onto the ports, ``auto`` to either, each the fastest
    pipeline of the fewest such layers (against brute force); ``rom`` keeps every layer in ROM."""
    import copy

    from fpgagen.core import folding

    monkeypatch.setattr(folding, "LUT_ROM_DEPTH", 0)  # the random models' ROMs are small: count them as block RAM
    model = random_transposed_model(seed) if seed % 2 else random_model(seed)
    arith = [lr for lr in model.layers if lr.kind in ARITHMETIC]
    full = sum(stage_cost(lr, 1).multipliers for lr in arith)
    tight = Budget(full // 2, bram36=_rom_bram36(model.layers) - 0.25, uram=1e6, ports=PORTS)
    x_bits, lanes = input_bits(model.layers), streamed_lanes(model.layers)
    for policy, places in (("auto", ("loaded", "streamed")), ("loaded", ("loaded",)), ("streamed", ("streamed",)),
                           ("rom", ())):
        budget = dataclasses.replace(tight, placement=policy)
        layers = copy.deepcopy(model.layers)
        choose_reuse_factors(layers, budget)
        chosen = [lr for lr in layers if lr.kind in ARITHMETIC]
        off = [lr for lr in chosen if lr.placement != "rom"]
        assert {lr.placement for lr in off} <= set(places), policy
        expected = _brute_force_placed(model.layers, tight, places) if places else None
        if expected is None:  # nowhere to go (or nothing fits even off the ROMs): all in ROM
            assert not off, policy
            continue
        stages = [stage_cost(lr, lr.reuse_factor, lanes.get(lr.name), 0.0, lr.placement, PORTS, True,
                             x_bits[lr.name]) for lr in chosen]
        assert (len(off), max(c.hls_cycles for c in stages)) == expected, policy


def test_a_placement_policy_without_its_memory_is_refused():
    with pytest.raises(ValueError, match=r"placement 'loaded': loaded weights go to UltraRAM .* there is none here; "
                                         r"placements here: auto, rom, streamed$"):
        Budget(100, bram36=50.0, ports=PORTS, placement="loaded")
    with pytest.raises(ValueError, match=r"placement 'streamed': streamed weights are read from DDR over weight "
                                         r"ports .* none here; placements here: auto, rom, loaded$"):
        Budget(100, bram36=50.0, uram=10.0, ports=WeightPorts(64, 0, 96.0), placement="streamed")
    with pytest.raises(ValueError, match=r"placement 'ddr': not one of auto, rom, loaded, streamed; placements here: "
                                         r"auto, rom$"):
        Budget(100, placement="ddr")
    assert Budget(100, placement="rom").policies == ("auto", "rom")
    assert not Budget(100, bram36=50.0, uram=10.0, ports=PORTS, placement="rom").off_rom


def test_a_streamed_stage_waits_for_its_weights_and_a_conv2d_cannot_be_streamed():
    model = random_model(3)
    dense = next(lr for lr in model.layers if lr.kind == "dense")
    fast = max(reuse_factors(dense), key=lambda rf: stage_cost(dense, rf).multipliers)
    rom = stage_cost(dense, fast)
    streamed = stage_cost(dense, fast, placement="streamed", ports=PORTS)
    beats = -(-dense.weight.size * dense.weight_t.width // PORTS.bits)
    assert streamed.cycles == max(rom.cycles, beats) and streamed.stream_bits == beats * PORTS.bits
    assert streamed.bram36 <= rom.bram36 and rom.stream_bits == 0
    loaded = stage_cost(dense, fast, placement="loaded", uram=True)
    assert loaded.cycles == rom.cycles and loaded.stream_bits == 0
    conv = next((lr for seed in range(40) for lr in random_model(seed).layers if lr.kind == "conv2d"), None)
    assert conv is not None
    with pytest.raises(ValueError, match="cannot be streamed: only dense, conv_transpose2d"):
        stage_cost(conv, conv.reuse_factor, placement="streamed", ports=PORTS)
    with pytest.raises(ValueError, match="placement 'ddr' is not one of rom, loaded, streamed"):
        stage_cost(dense, fast, placement="ddr")
