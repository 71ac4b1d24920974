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


def hdl_value(value: object) -> object:
    """Python values as Verilator ``-G`` values: strings quoted, bools as 0/1."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return int(value)
    return value
