"""HDL parameters of fixed-point types and of stage parallelism.

The SystemVerilog modules take a fixed-point type as ``<P>_W`` (width), ``<P>_F`` (fraction bits, W - I, may be
negative) and ``<P>_SIGNED`` (1 for ap_fixed, 0 for ap_ufixed); a type that is the target of a cast also takes
``ROUNDING`` and ``OVERFLOW`` as integers, the index of the mode in :data:`ROUNDING_CODES` /
:data:`OVERFLOW_CODES` (the same order as :data:`fpgagen.core.fixed.ROUNDING` / ``OVERFLOW``).
"""

from __future__ import annotations

from fpgagen.core.fixed import OVERFLOW, ROUNDING, FixedType

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
    ``out_lanes`` lanes, default ``n_out``), ascending: by :func:`dense_split`'s rule, the divisors of ``n_in``
    and ``n_in`` times the divisors of ``out_lanes`` (none when ``out_lanes`` does not divide ``n_out``)."""
    out_lanes = n_out if out_lanes is None else out_lanes
    if out_lanes < 1 or n_out % out_lanes:
        return []
    return sorted({q for q in range(1, n_in + 1) if n_in % q == 0}
                  | {n_in * d for d in range(1, out_lanes + 1) if out_lanes % d == 0})


def conv_transpose_split(c_in: int, c_out: int, p: int) -> tuple[int, int]:
    """How ``fg_conv_transpose2d`` spreads ``p`` multipliers over one kernel tap's ``c_in`` x ``c_out`` product:
    the ``(PI, PO)`` of :func:`dense_split` (both stages multiply in an ``fg_mac_array``). Raises ValueError naming
    the legal values (:func:`conv_transpose_parallelism`) otherwise."""
    try:
        return dense_split(c_in, c_out, p)
    except ValueError:
        if p < 1:
            raise  # "parallelism must be >= 1"
        raise ValueError(
            f"{p} multipliers do not split a {c_in} x {c_out} (input x output channels) kernel tap: need p | {c_in}, "
            f"or {c_in} | p and (p / {c_in}) | {c_out}; legal: "
            f"{', '.join(map(str, conv_transpose_parallelism(c_in, c_out)))}") from None


def conv_transpose_parallelism(c_in: int, c_out: int) -> list[int]:
    """Every multiplier count ``fg_conv_transpose2d`` accepts for ``c_in`` input and ``c_out`` output channels,
    ascending (:func:`legal_parallelism` of the tap's product). A reuse factor whose ``c_in * c_out / R`` is not
    among them takes the next larger one (never slower than hls4ml)."""
    return legal_parallelism(c_in, c_out)


def conv_transpose_tap_counts(k: int, stride: int, padding: int, n_out: int, n_in: int) -> list[int]:
    """Useful taps of each output index along one axis of a transposed convolution: the taps of its phase
    whose input index lies inside ``0 .. n_in - 1`` (:func:`fpgagen.core.transposed.transposed_phases`)."""
    counts = []
    for y in range(n_out):
        q, r = divmod(y + padding, stride)
        taps = -(-(k - r) // stride)
        counts.append(max(0, min(taps - 1, q) - max(0, q - (n_in - 1)) + 1))
    return counts


def conv_transpose_cycles(in_hw: tuple[int, int], out_hw: tuple[int, int], c_in: int, c_out: int, k: int,
                          stride: int, padding: int, p: int) -> int:
    """Cycles per image of ``fg_conv_transpose2d`` when it is never starved or blocked.

    Each output pixel takes ``RF = c_in * c_out / p`` cycles per useful tap, or one cycle per output group
    (``c_out / PO``) when it has no useful tap (bias only); the input takes one pixel per cycle, so the stage is
    never faster than ``H * W`` cycles.
    """
    _, po = conv_transpose_split(c_in, c_out, p)
    ty = conv_transpose_tap_counts(k, stride, padding, out_hw[0], in_hw[0])
    tx = conv_transpose_tap_counts(k, stride, padding, out_hw[1], in_hw[1])
    useful = sum(ty) * sum(tx)
    bias_only = out_hw[0] * out_hw[1] - sum(map(bool, ty)) * sum(map(bool, tx))
    compute = c_in * c_out // p * useful + c_out // po * bias_only
    return max(in_hw[0] * in_hw[1], compute)


def hdl_value(value: object) -> object:
    """Python values as Verilator ``-G`` values: strings quoted, bools as 0/1."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return int(value)
    return value
