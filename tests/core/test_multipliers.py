"""core/multipliers: DSP packing limits per family, and the measured LUT cost table (lookup, interpolation,
refusals)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fpgagen.core import multipliers as m


def test_product_width_is_exact():
    """x_w + w_w bits hold every product of the two types, and x_w + w_w - 1 do not (but for a 1-bit unsigned x,
    whose products are the weights)."""
    assert m.product_bits(1, False, 3) == 4
    for x_w, x_signed, w_w in ((9, True, 7), (9, False, 7), (2, True, 2), (1, True, 1), (2, False, 1),
                               (16, False, 9)):
        x_codes = (range(-(1 << (x_w - 1)), 1 << (x_w - 1)) if x_signed else range(1 << x_w))
        w_codes = range(-(1 << (w_w - 1)), 1 << (w_w - 1))
        products = [x * w for x in (min(x_codes), max(x_codes)) for w in (min(w_codes), max(w_codes))]
        s = m.product_bits(x_w, x_signed, w_w)
        assert all(-(1 << (s - 1)) <= p < (1 << (s - 1)) for p in products)
        assert not all(-(1 << (s - 2)) <= p < (1 << (s - 2)) for p in products)


@pytest.mark.parametrize("family,x_w,x_signed,w_w,fits", [
    # DSP48E1: packed weight x + 2w + 1 <= 25 bits, x on B (18 bits signed)
    ("xc7", 9, True, 7, True),     # 24 bits: the presets' 9-bit data, 7-bit weights
    ("xc7", 10, True, 7, True),    # 25: the limit
    ("xc7", 11, True, 7, False),   # 26
    ("xc7", 9, True, 8, False),    # 26
    ("xc7", 8, False, 7, True),    # an unsigned 8-bit x: 9-bit operand, packed weight 8 + 14 + 1 = 23
    ("xc7", 10, False, 7, True),   # 25
    ("xc7", 11, False, 7, False),
    # DSP48E2: <= 27 bits
    ("xcup", 9, True, 8, True),    # 26
    ("xcup", 10, True, 8, True),   # 27: the limit
    ("xcup", 11, True, 8, False),
    ("xcup", 9, True, 9, False),   # 28
    # x beyond the 18-bit B port
    ("xcup", 18, True, 2, True),   # B's 18 bits; the packed weight 20 + 3 = 23 bits
    ("xcup", 19, True, 2, False),  # the packed weight (24 bits) fits A: only B's 18 bits stop it
    ("xcup", 17, False, 2, True),  # an unsigned x takes a sign bit: 18 bits
    ("xcup", 18, False, 2, False),
])
def test_can_pack_boundaries(family, x_w, x_signed, w_w, fits):
    assert m.can_pack(family, x_w, x_signed, w_w) is fits


def test_can_pack_refuses_an_unknown_family():
    with pytest.raises(ValueError, match="no DSP slice known for yosys family 'xc6'"):
        m.can_pack("xc6", 9, True, 7)


def _table(tmp_path: Path) -> Path:
    path = tmp_path / "costs.json"
    path.write_text(json.dumps({"format": "fpgagen-multiplier-costs-1", "families": {"xc7": {
        "dsp": "DSP48E1", "x_widths": [4, 8], "w_widths": [2, 4],
        "lut_multiplier_luts": [[10, 20], [30, 60]],
        "packed_pair_extra_luts": [[5, 7], [9, None]]}}}))
    return path


def test_lookup_at_grid_points_and_between(tmp_path):
    path = _table(tmp_path)
    assert m.lut_multiplier_luts("xc7", 4, 2, path=path) == 10
    assert m.lut_multiplier_luts("xc7", 8, 4, path=path) == 60
    assert m.lut_multiplier_luts("xc7", 6, 3, path=path) == pytest.approx((10 + 20 + 30 + 60) / 4)
    assert m.lut_multiplier_luts("xc7", 6, 2, path=path) == pytest.approx(20)
    assert m.lut_multiplier_luts("xc7", 7, 4, x_signed=False, path=path) == 60  # an 8-bit signed operand
    # a corner not measured (not packable there): the largest measured corner
    assert m.packed_pair_extra_luts("xc7", 6, 3, path=path) == 9
    assert m.packed_pair_extra_luts("xc7", 4, 3, path=path) == pytest.approx(6)


def test_lookup_refuses_outside_the_grid(tmp_path):
    path = _table(tmp_path)
    with pytest.raises(ValueError, match=r"x operand width 9 is outside the measured multiplier costs of xc7 "
                                         r"\(4..8 bits"):
        m.lut_multiplier_luts("xc7", 9, 2, path=path)
    with pytest.raises(ValueError, match=r"weight width 5 is outside .* \(2..4 bits"):
        m.lut_multiplier_luts("xc7", 4, 5, path=path)
    with pytest.raises(ValueError, match="x operand width 9"):
        m.lut_multiplier_luts("xc7", 8, 2, x_signed=False, path=path)
    with pytest.raises(ValueError, match="no multiplier costs for 'xcup'"):
        m.lut_multiplier_luts("xcup", 4, 2, path=path)
    with pytest.raises(ValueError, match="do not pack two to a DSP48E1"):
        m.packed_pair_extra_luts("xc7", 12, 8, path=path)


def test_shipped_table_covers_the_presets_and_installs():
    """The measured table: both families over 4..16 x 2..9 bits, the presets' widths (9-bit data, 6-8 bit weights)
    inside; a LUT multiplier costs more LUTs than a packed DSP adds, and wider ones more; the file is package data."""
    table = m.cost_table()
    assert set(table["families"]) == set(m.DSP_PORTS)
    for family, entry in table["families"].items():
        assert entry["x_widths"][0] <= 4 and entry["x_widths"][-1] >= 16, family
        assert entry["w_widths"][0] <= 2 and entry["w_widths"][-1] >= 9, family
        for w_w in (6, 7, 8):
            lut = m.lut_multiplier_luts(family, 9, w_w)
            assert lut > 0
            if m.can_pack(family, 9, True, w_w):
                assert 0 < m.packed_pair_extra_luts(family, 9, w_w) < lut
        assert m.lut_multiplier_luts(family, 16, 9) > m.lut_multiplier_luts(family, 8, 2)
        with pytest.raises(ValueError, match="under 9 bits off the DSPs"):
            m.lut_multiplier_luts(family, 4, 2)  # a 6-bit product: yosys never puts it on a DSP
    pyproject = (Path(m.__file__).resolve().parents[1] / "pyproject.toml").read_text()
    core_data = re.search(r'^"fpgagen\.core" = \[(.*)\]$', pyproject, re.M)
    assert core_data and f'"{m.COSTS_FILE.name}"' in core_data.group(1)
