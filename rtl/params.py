"""HDL parameters of fixed-point types and of stage parallelism.

The SystemVerilog modules take a fixed-point type as ``<P>_W`` (width), ``<P>_F`` (fraction bits, W - I, may be
negative) and ``<P>_SIGNED`` (1 for ap_fixed, 0 for ap_ufixed); a type that is the target of a cast also takes
``ROUNDING`` and ``OVERFLOW`` as integers, the index of the mode in :data:`ROUNDING_CODES` /
:data:`OVERFLOW_CODES` (the same order as :data:`fpgagen.hls.fixed.ROUNDING` / ``OVERFLOW``).
"""

from __future__ import annotations

from ..hls.fixed import OVERFLOW, ROUNDING, FixedType

ROUNDING_CODES = {name: i for i, name in enumerate(ROUNDING)}
OVERFLOW_CODES = {name: i for i, name in enumerate(OVERFLOW)}


def type_params(t: FixedType, prefix: str, *, cast: bool = False, signed: bool = True) -> dict[str, int]:
    """``{PREFIX_W, PREFIX_F, PREFIX_SIGNED}`` of ``t`` (without ``PREFIX_SIGNED`` when ``signed`` is False,
    for ports that are always signed); with ``cast`` also ``ROUNDING`` and ``OVERFLOW``."""
    p = {f"{prefix}_W": t.width, f"{prefix}_F": t.frac}
    if signed:
        p[f"{prefix}_SIGNED"] = int(t.signed)
    if cast:
        p["ROUNDING"] = ROUNDING_CODES[t.rounding]
        p["OVERFLOW"] = OVERFLOW_CODES[t.overflow]
    return p


def dense_split(n_in: int, n_out: int, p: int, out_lanes: int | None = None) -> tuple[int, int]:
    """How ``fg_dense`` spreads ``p`` multipliers: ``(PI, PO)`` = inputs per output and outputs per cycle.

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
    """Every multiplier count ``fg_dense`` accepts for an ``n_in`` x ``n_out`` layer (output beats of
    ``out_lanes`` lanes, default ``n_out``), ascending."""
    out = []
    for p in range(1, n_in * n_out + 1):
        try:
            dense_split(n_in, n_out, p, out_lanes)
        except ValueError:
            continue
        out.append(p)
    return out
