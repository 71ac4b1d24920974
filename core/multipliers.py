"""What one multiplier of the RTL's MAC arrays needs on each Xilinx family: the DSP slice's ports, whether two
products fit one DSP, and what a multiplier in LUTs costs (numpy/stdlib only: the folding may import it).

The RTL (``rtl/sv/fg_mac_sums.sv``, inside ``fg_mac_array``) multiplies an input ``x`` (``x_w`` bits, signed or
not) by a signed weight (``w_w`` bits) in one of three ways:

- on a DSP slice, one product per DSP;
- packed (``PACK``): two outputs share one DSP per input, ``x * (w_lo + w_hi * 2**S)`` with ``S`` the exact width
  of one product (:func:`pack_shift`), then split exactly. ``x`` goes to the DSP's narrow port (B, 18 bits on both
  families), the packed weight (``S + w_w + 1`` bits) to the wide one (A and the pre-adder: 25 bits on DSP48E1, 27
  on DSP48E2). :func:`can_pack` says whether both fit;
- in LUTs (``LUT_OUTS``): radix-4 Booth rows added in the fabric.

The LUT figures come from ``multiplier_costs.json`` beside this module, measured with yosys by
``bench/multiplier_costs.py`` (``fg_mac_array`` stage by stage; see its docstring for the differencing): LUTs a
multiplier adds when it moves from a DSP into LUTs (:func:`lut_multiplier_luts`), and LUTs a packed DSP adds over two
plain ones (:func:`packed_pair_extra_luts`: the packed weight, the split and the sums the DSPs no longer absorb).
Both include the multiplier's share of the adder tree that DSP post-adders would otherwise take. Between grid points
the table is interpolated bilinearly; where a figure is missing at a corner (not packable there, or no DSP baseline:
below) the largest measured corner is taken, an over-estimate. There are no figures where the product has fewer than
:data:`YOSYS_DSP_MIN_PRODUCT_BITS` bits: yosys keeps such a product off the DSPs itself. An unsigned ``x`` of ``n``
bits is looked up as the ``n + 1``-bit signed operand it is in the RTL. Widths outside the grid raise
:class:`ValueError` naming the grid.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DspPorts", "DSP_PORTS", "YOSYS_DSP_MIN_PRODUCT_BITS", "COSTS_FILE", "OUTPUT_COLUMN_LUTS", "product_bits",
           "x_operand_bits",
           "pack_shift", "packed_weight_bits", "can_pack", "cost_table", "lut_multiplier_luts",
           "packed_pair_extra_luts"]

COSTS_FILE = Path(__file__).resolve().parent / "multiplier_costs.json"
# LUTs of one output column of a MAC array beyond its multipliers, per family: its accumulator, its cast (rounding,
# saturation) and its place in the output beat. yosys on mnist28's stages (bench/kernels.py): the RTL kernel's split
# of a layer into PO columns took 136 (dense_0, PO 32 against 1) and 215 (conv2d_4, PO 32 against 1) LUTs per extra
# column on xc7, over the multipliers' figures; the middle is taken. xcup is not measured apart: there the folding's
# 100 LUTs per multiplier already over-estimate (dcgan28's RTL kernel planned to 80% measured 77.6%).
OUTPUT_COLUMN_LUTS = {"xc7": 180.0, "xcup": 0.0}


@dataclass(frozen=True)
class DspPorts:
    """A DSP slice's multiplier: ``wide`` x ``narrow`` signed bits (A or the pre-adder's output x B), ``out`` bits
    of result (P)."""

    name: str
    wide: int
    narrow: int
    out: int


# per yosys family (fpgagen.overlays.boards.Board.yosys_family): UG479 (DSP48E1), UG579 (DSP48E2)
DSP_PORTS = {"xc7": DspPorts("DSP48E1", wide=25, narrow=18, out=48),
             "xcup": DspPorts("DSP48E2", wide=27, narrow=18, out=48)}
# yosys's synth_xilinx maps a `*` to a DSP only from a 9-bit product up (DSP_Y_MINWIDTH): a narrower one is LUTs
# anyway
YOSYS_DSP_MIN_PRODUCT_BITS = 9


def _ports(family: str) -> DspPorts:
    try:
        return DSP_PORTS[family]
    except KeyError:
        raise ValueError(f"no DSP slice known for yosys family {family!r}: one of {', '.join(DSP_PORTS)}") from None


def _check_widths(x_w: int, w_w: int) -> None:
    if x_w < 1 or w_w < 1:
        raise ValueError(f"widths must be >= 1, got x {x_w} and w {w_w} bits")


def product_bits(x_w: int, x_signed: bool, w_w: int) -> int:
    """Width of a signed product of an ``x_w``-bit input (signed or not) and a signed ``w_w``-bit weight: ``x_w +
    w_w`` either way, the least that holds every product (the product of the most negative codes, or the largest
    unsigned input times the most negative weight, needs every bit) but for a 1-bit unsigned input (``w_w`` would
    do)."""
    _check_widths(x_w, w_w)
    return x_w + w_w


def x_operand_bits(x_w: int, x_signed: bool) -> int:
    """Bits of ``x`` as the signed operand of a multiplier (an unsigned input gains a zero sign bit)."""
    _check_widths(x_w, 1)
    return x_w if x_signed else x_w + 1


def pack_shift(x_w: int, x_signed: bool, w_w: int) -> int:
    """``S``: how far the high weight sits above the low one in a packed multiplier, the exact product width."""
    return product_bits(x_w, x_signed, w_w)


def packed_weight_bits(x_w: int, x_signed: bool, w_w: int) -> int:
    """Bits of the packed weight ``w_lo + w_hi * 2**S`` (signed)."""
    return pack_shift(x_w, x_signed, w_w) + w_w + 1


def can_pack(family: str, x_w: int, x_signed: bool, w_w: int) -> bool:
    """Whether two products sharing ``x`` fit one DSP slice of ``family``: ``x`` within the narrow port, the packed
    weight within the wide one, both products within the result."""
    ports = _ports(family)
    return (x_operand_bits(x_w, x_signed) <= ports.narrow and packed_weight_bits(x_w, x_signed, w_w) <= ports.wide
            and 2 * pack_shift(x_w, x_signed, w_w) + 1 <= ports.out)


@functools.cache
def cost_table(path: Path = COSTS_FILE) -> dict:
    """The measured table (``bench/multiplier_costs.py`` writes it): per family the x and w widths of the grid and
    the two figures per grid point (None where not measured)."""
    table = json.loads(Path(path).read_text())
    if table.get("format") != "fpgagen-multiplier-costs-1":
        raise ValueError(f"{path}: not a multiplier cost table (format {table.get('format')!r})")
    return table


def _bracket(grid: list[int], value: int, axis: str, family: str) -> tuple[int, int, float]:
    """Indices of the grid points around ``value`` and its fraction of the way from the lower to the upper one."""
    if not grid[0] <= value <= grid[-1]:
        raise ValueError(f"{axis} width {value} is outside the measured multiplier costs of {family} "
                         f"({grid[0]}..{grid[-1]} bits; bench/multiplier_costs.py measures more)")
    hi = next(i for i, g in enumerate(grid) if g >= value)
    lo = hi if grid[hi] == value else hi - 1
    return lo, hi, 0.0 if lo == hi else (value - grid[lo]) / (grid[hi] - grid[lo])


def _lookup(figure: str, family: str, x_w: int, x_signed: bool, w_w: int, path: Path) -> float:
    _ports(family)
    table = cost_table(path)
    if family not in table["families"]:
        raise ValueError(f"{path.name} has no multiplier costs for {family!r}: {', '.join(table['families'])}")
    entry = table["families"][family]
    x_op = x_operand_bits(x_w, x_signed)
    xl, xh, fx = _bracket(entry["x_widths"], x_op, "x operand", family)
    wl, wh, fw = _bracket(entry["w_widths"], w_w, "weight", family)
    values = entry[figure]
    corners = {(i, j): values[i][j] for i in {xl, xh} for j in {wl, wh}}
    known = [v for v in corners.values() if v is not None]
    if not known:
        raise ValueError(f"no {figure} measured for {family} around x {x_op} bits (signed operand), w {w_w} bits: "
                         f"yosys keeps products under {YOSYS_DSP_MIN_PRODUCT_BITS} bits off the DSPs, or the pair "
                         "does not pack there")
    if len(known) < len(corners):
        return float(max(known))
    v = {k: float(c) for k, c in corners.items()}
    low = v[xl, wl] + (v[xl, wh] - v[xl, wl]) * fw
    high = v[xh, wl] + (v[xh, wh] - v[xh, wl]) * fw
    return low + (high - low) * fx


def lut_multiplier_luts(family: str, x_w: int, w_w: int, x_signed: bool = True, path: Path = COSTS_FILE) -> float:
    """LUTs one multiplier adds when it is built in LUTs instead of on a DSP slice (yosys, ``family``)."""
    return _lookup("lut_multiplier_luts", family, x_w, x_signed, w_w, path)


def packed_pair_extra_luts(family: str, x_w: int, w_w: int, x_signed: bool = True, path: Path = COSTS_FILE) -> float:
    """LUTs one packed DSP (two products) adds over the two DSPs it replaces (yosys, ``family``); ValueError where
    the widths do not pack (:func:`can_pack`)."""
    if not can_pack(family, x_w, x_signed, w_w):
        raise ValueError(f"x {x_w} bits ({'signed' if x_signed else 'unsigned'}) and w {w_w} bits do not pack two "
                         f"to a {_ports(family).name}")
    return _lookup("packed_pair_extra_luts", family, x_w, x_signed, w_w, path)
