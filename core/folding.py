"""Folding: how many multipliers each arithmetic layer gets, as hls4ml's reuse factor.

A layer's dense kernel of n_in x n_out weights (:func:`fpgagen.core.layers.kernel_dims`) at reuse factor R has
n_in x n_out / R multipliers and takes R cycles each time it runs; :func:`choose_reuse_factors` balances the
streaming pipeline under a multiplier budget (the board's, :attr:`fpgagen.overlays.boards.Board.multiplier_budget`,
unless the quantization config sets one). The same rule serves every front end: it reads QuantizedModel layers only.
"""

from __future__ import annotations

import math

from fpgagen.core.layers import ARITHMETIC, kernel_dims, kernel_uses


def valid_reuse_factor(n_in: int, n_out: int, rf: int) -> bool:
    """hls4ml's Resource-strategy rule for a dense kernel of n_in x n_out weights (checked before it adjusts)."""
    mult_limit = math.ceil(n_in * n_out / min(n_in, rf))
    return ((mult_limit % n_out == 0) or rf >= n_in) and (rf % n_in == 0 or rf < n_in) and (n_in * n_out) % rf == 0


def choose_reuse_factors(layers: list, multipliers: int, keep: frozenset[str] = frozenset()) -> None:
    """Balance the streaming pipeline: the fewest cycles per image whose multipliers fit the budget.

    A layer's dense kernel of n_in x n_out weights (:func:`kernel_dims`) at reuse factor R has n_in x n_out / R
    multipliers and takes R cycles each time it runs (:func:`kernel_uses`: once per output position, for a
    transposed convolution once per useful tap); so cycles = R x uses. For a target of T cycles each layer takes
    the largest valid R <= T / uses; T grows until the multipliers fit. Layers named in ``keep`` keep their reuse
    factor (and their multipliers count against the budget).
    """
    arith = [lr for lr in layers if lr.kind in ARITHMETIC and lr.name not in keep]
    if not arith:
        return
    multipliers -= sum(lr.multipliers for lr in layers if lr.name in keep)
    sizes = [math.prod(kernel_dims(lr)) for lr in arith]

    def plan(target: int) -> list[int]:
        rfs = []
        for lr, size in zip(arith, sizes, strict=True):
            n_in, n_out = kernel_dims(lr)
            rf = max(1, min(size, target // kernel_uses(lr)))
            while rf > 1 and not valid_reuse_factor(n_in, n_out, rf):
                rf -= 1
            rfs.append(rf)
        return rfs

    target = 1
    while True:
        rfs = plan(target)
        if sum(size // rf for size, rf in zip(sizes, rfs, strict=True)) <= multipliers or rfs == sizes:
            break
        target = math.ceil(target * 1.05) + 1
    for lr, rf in zip(arith, rfs, strict=True):
        lr.reuse_factor = rf
