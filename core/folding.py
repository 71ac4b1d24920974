"""Folding: how many multipliers each arithmetic layer gets, as hls4ml's reuse factor, and what that costs.

A layer's dense kernel of n_in x n_out weights (:func:`fpgagen.core.layers.kernel_dims`) at reuse factor R runs
:func:`fpgagen.core.layers.kernel_uses` times per image. What a reuse factor builds (:func:`stage_cost`), the same
in hls4ml and in the RTL twin up to the MAC array's split rule:

- dense and conv2d: hls4ml instantiates n_in x n_out / R multipliers (its Resource strategy accepts the R of
  :func:`valid_reuse_factor`); the RTL's MAC array takes the smallest count it can split (:func:`dense_split`) at
  or above that, so it is never slower than hls4ml's;
- conv_transpose2d (fpgagen's own kernel in both): PI x PO multipliers of
  :func:`fpgagen.core.transposed.tap_split`, R cycles per useful tap, PO need not divide the output channels.

:func:`choose_reuse_factors` balances the streaming pipeline: the fewest cycles per image of its slowest stage
whose multipliers (DSP slices), weight ROMs (BRAM36) and multiply-add logic (LUT) fit a :class:`Budget` (the
board's, :meth:`fpgagen.overlays.boards.Board.folding_budget`, unless the quantization config sets the
multipliers). The same rule serves every front end: it reads QuantizedModel layers only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fpgagen.core.layers import ACTIVATIONS, ARITHMETIC, kernel_dims, kernel_uses
from fpgagen.core.transposed import conv_transpose_cycles, tap_reuse_factors, tap_split

# BRAM36 shapes (depth x width); a RAMB18 is half of one at half the depth
BRAM36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
# ROMs this shallow are LUT logic, not block RAM (yosys put 100-word ROMs in LUTs, 400-word ones in BRAM)
LUT_ROM_DEPTH = 128


@dataclass(frozen=True)
class Budget:
    """What the folding may spend: multipliers (one DSP slice each), BRAM36 for the weight ROMs and LUTs for the
    multiply-add logic, estimated at ``lut_per_multiplier`` (None: that resource is not checked)."""

    multipliers: int
    bram36: float | None = None
    lut: int | None = None
    lut_per_multiplier: float = 0.0

    def __post_init__(self):
        if self.multipliers < 1:
            raise ValueError(f"a multiplier budget must be >= 1, got {self.multipliers}")


@dataclass(frozen=True)
class StageCost:
    """One reuse factor of one arithmetic layer: its multipliers, cycles per image and resources."""

    reuse_factor: int
    multipliers: int      # what the RTL twin instantiates (= hls4ml's, or the next count its MAC array splits)
    hls_multipliers: int  # n_in x n_out / R (transposed: PI x PO)
    cycles: int           # per image, never starved or blocked: the RTL twin's
    hls_cycles: int       # per image of hls4ml's kernel: reuse factor x uses (never below the twin's)
    bram36: float         # weight and bias ROMs
    lut: float            # multiply-add logic, at the budget's LUTs per multiplier


def valid_reuse_factor(n_in: int, n_out: int, rf: int) -> bool:
    """hls4ml's Resource-strategy rule for a dense kernel of n_in x n_out weights (checked before it adjusts)."""
    mult_limit = math.ceil(n_in * n_out / min(n_in, rf))
    return ((mult_limit % n_out == 0) or rf >= n_in) and (rf % n_in == 0 or rf < n_in) and (n_in * n_out) % rf == 0


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small) | {n // d for d in small})


def reuse_factors(lr) -> list[int]:
    """Every reuse factor an arithmetic layer can have, ascending: hls4ml's rule for dense and conv2d, the tap
    rule of :func:`fpgagen.core.transposed.tap_reuse_factors` for conv_transpose2d."""
    n_in, n_out = kernel_dims(lr)
    if lr.kind == "conv_transpose2d":
        return tap_reuse_factors(n_in, n_out)
    return [rf for rf in _divisors(n_in * n_out) if valid_reuse_factor(n_in, n_out, rf)]


def streamed_reshape(layers: list, i: int) -> int | None:
    """Index of the reshape the dense ``layers[i]`` streams its result into as pixel beats (the first layer after
    it and its element-wise activations, when that is a reshape), else None."""
    if layers[i].kind != "dense":
        return None
    j = i + 1
    while j < len(layers) and layers[j].kind in ACTIVATIONS:
        j += 1
    return j if j < len(layers) and layers[j].kind == "reshape" else None


def streamed_lanes(layers: list) -> dict[str, int]:
    """Output lanes per beat of each dense that streams its result as the pixels of a (C, H, W) reshape
    (:func:`streamed_reshape`): the reshape's channels. Other layers leave one whole vector or pixel per beat."""
    lanes = {}
    for i, lr in enumerate(layers):
        j = streamed_reshape(layers, i)
        if j is not None and len(layers[j].out_shape) == 3:
            lanes[lr.name] = layers[j].out_shape[0]
    return lanes


def mac_parallelism(n_in: int, n_out: int, hls_multipliers: int, out_lanes: int | None = None) -> int:
    """The RTL MAC array's multipliers for hls4ml's ``hls_multipliers``: the smallest count it splits
    (:func:`legal_parallelism`) at or above them, else the largest (the output beats bound the stage already)."""
    legal = legal_parallelism(n_in, n_out, out_lanes)
    faster = [p for p in legal if p >= hls_multipliers]
    return faster[0] if faster else legal[-1]


def rom_bram36(depth: int, width: int) -> float:
    """BRAM36 a ROM of ``depth`` words of ``width`` bits takes (RAMB18 halves counted as 0.5; 0 when it is shallow
    enough for LUTs): the cheapest of the block RAM's aspect ratios."""
    if depth <= LUT_ROM_DEPTH or width < 1:
        return 0.0
    best = math.inf
    for d, w in BRAM36_SHAPES:
        best = min(best, math.ceil(depth / d) * math.ceil(width / w))
        if d > 1 and depth <= d // 2:
            best = min(best, 0.5 * math.ceil(width / w))
    return float(best)


def stage_cost(lr, reuse_factor: int, out_lanes: int | None = None, lut_per_multiplier: float = 0.0) -> StageCost:
    """What ``lr`` builds at ``reuse_factor`` (see the module's docstring); ``out_lanes`` as :func:`streamed_lanes`."""
    n_in, n_out = kernel_dims(lr)
    w_bits, b_bits = lr.weight_t.width, lr.bias_t.width
    if lr.kind == "conv_transpose2d":
        pi, po = tap_split(n_in, n_out, reuse_factor)
        p = p_hls = pi * po
        groups = -(-n_out // po)
        c_in, h, w = lr.in_shape
        _, oh, ow = lr.out_shape
        k = lr.weight.shape[-1]
        cycles = conv_transpose_cycles((h, w), (oh, ow), c_in, n_out, k, lr.stride, lr.padding, pi, po)
        rom = rom_bram36(groups * k * k * (n_in // pi), p * w_bits) + rom_bram36(groups, po * b_bits)
    else:
        p_hls = n_in * n_out // reuse_factor
        p = mac_parallelism(n_in, n_out, p_hls, out_lanes)
        _, po = dense_split(n_in, n_out, p, out_lanes)
        per_use = n_in * n_out // p
        if lr.kind == "conv2d":
            _, h, w = lr.in_shape
            pad = lr.padding
            cycles = max((h + 2 * pad) * (w + 2 * pad), kernel_uses(lr) * per_use)
        else:
            cycles = per_use * kernel_uses(lr)
        rom = rom_bram36(per_use, p * w_bits) + rom_bram36(n_out // po, po * b_bits)
    return StageCost(reuse_factor, p, p_hls, cycles, max(cycles, reuse_factor * kernel_uses(lr)), rom,
                     lut_per_multiplier * p)


def choose_reuse_factors(layers: list, budget: Budget | int, keep: frozenset[str] = frozenset()) -> None:
    """Balance the streaming pipeline: the fewest cycles per image of its slowest arithmetic stage whose
    multipliers, ROMs and LUTs fit ``budget`` (an int: a multiplier budget alone).

    For a target of T cycles each layer may take any reuse factor whose stage runs in at most T cycles in the RTL
    twin and in hls4ml alike; the smallest T for which some combination fits is chosen (an exact search), and of
    its combinations the first in order of fewest multipliers, then ROM, layer by layer.
    Layers named in ``keep`` keep their reuse factor (their cost counts against the budget). A BRAM or LUT
    estimate that even the slowest folding exceeds is dropped (the board fit and yosys judge those); when the
    multipliers cannot fit, every layer takes its largest reuse factor (the caller reports the budget as too small).
    """
    if not isinstance(budget, Budget):
        budget = Budget(int(budget))
    lanes = streamed_lanes(layers)
    arith = [lr for lr in layers if lr.kind in ARITHMETIC]
    costs = {lr.name: [stage_cost(lr, rf, lanes.get(lr.name), budget.lut_per_multiplier)
                       for rf in ([lr.reuse_factor] if lr.name in keep else reuse_factors(lr))]
             for lr in arith}
    if not arith:
        return

    def need(c: StageCost) -> tuple[float, float, float]:
        return (c.multipliers, c.bram36, c.lut)

    totals = [budget.multipliers, math.inf if budget.bram36 is None else budget.bram36,
              math.inf if budget.lut is None else budget.lut]
    for k in (1, 2):  # a BRAM or LUT estimate no folding can meet is an estimate, not a wall: fold without it
        if sum(min(need(c)[k] for c in costs[lr.name]) for lr in arith) > totals[k]:
            totals[k] = math.inf

    def pick(target: int) -> list[StageCost] | None:
        """The cheapest stages that all run in ``target`` cycles and fit together, or None: a depth-first search
        over each layer's options that no other option beats on every resource, pruned by what the remaining
        layers need at least."""
        fronts = []
        for lr in arith:
            fast = sorted((c for c in costs[lr.name] if c.hls_cycles <= target),
                          key=lambda c: (c.multipliers, c.bram36, c.lut, -c.reuse_factor))
            front = [c for i, c in enumerate(fast)
                     if not any(all(x <= y for x, y in zip(need(o), need(c), strict=True)) for o in fast[:i])]
            if not front:
                return None
            fronts.append(front)
        floor = [tuple(min(need(c)[k] for c in front) for k in range(3)) for front in fronts]
        rest = [tuple(sum(f[k] for f in floor[i:]) for k in range(3)) for i in range(len(fronts) + 1)]

        def search(i: int, used: tuple[float, float, float]) -> list[StageCost] | None:
            if i == len(fronts):
                return []
            for c in fronts[i]:
                now = tuple(u + x for u, x in zip(used, need(c), strict=True))
                if all(n + r <= t for n, r, t in zip(now, rest[i + 1], totals, strict=True)):
                    tail = search(i + 1, now)
                    if tail is not None:
                        return [c, *tail]
            return None

        return search(0, (0, 0.0, 0.0))

    best = None
    for target in sorted({c.hls_cycles for options in costs.values() for c in options}):
        best = pick(target)
        if best is not None:
            break
    if best is None:
        best = [max(costs[lr.name], key=lambda c: c.reuse_factor) for lr in arith]
    for lr, c in zip(arith, best, strict=True):
        lr.reuse_factor = c.reuse_factor


def dense_split(n_in: int, n_out: int, p: int, out_lanes: int | None = None) -> tuple[int, int]:
    """How a MAC array (the RTL's ``fg_mac_array``, in ``fg_dense`` and ``fg_conv2d``) spreads ``p`` multipliers:
    ``(PI, PO)`` = inputs per output and outputs per cycle.

    ``PI = min(p, n_in)`` and ``PO = p // PI``; legal when ``PI`` divides ``n_in`` and ``PO`` divides ``n_out``
    and, when the result leaves in beats of ``out_lanes`` lanes (``OUT_LANES``, default ``n_out``), ``PO``
    divides ``out_lanes`` (and ``out_lanes`` divides ``n_out``). One vector then takes ``n_in * n_out / p``
    cycles (hls4ml's reuse factor).
    """
    if p < 1:
        raise ValueError(f"parallelism must be >= 1, got {p}")
    out_lanes = n_out if out_lanes is None else out_lanes
    if out_lanes < 1 or n_out % out_lanes:
        raise ValueError(f"{out_lanes} output lanes per beat do not divide {n_out} outputs")
    pi = min(p, n_in)
    po = p // pi
    if pi * po != p or n_in % pi or out_lanes % po:
        raise ValueError(
            f"{p} multipliers do not split {n_in} inputs x {n_out} outputs in beats of {out_lanes}: need p | n_in, "
            f"or n_in | p and (p / n_in) | {out_lanes}")
    return pi, po


def legal_parallelism(n_in: int, n_out: int, out_lanes: int | None = None) -> list[int]:
    """Every multiplier count the RTL's ``fg_dense`` accepts for an ``n_in`` x ``n_out`` layer (output beats of
    ``out_lanes`` lanes, default ``n_out``), ascending: by :func:`dense_split`'s rule, the divisors of ``n_in``
    and ``n_in`` times the divisors of ``out_lanes`` (none when ``out_lanes`` does not divide ``n_out``)."""
    out_lanes = n_out if out_lanes is None else out_lanes
    if out_lanes < 1 or n_out % out_lanes:
        return []
    return sorted({q for q in range(1, n_in + 1) if n_in % q == 0}
                  | {n_in * d for d in range(1, out_lanes + 1) if out_lanes % d == 0})
