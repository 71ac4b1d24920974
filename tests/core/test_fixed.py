"""FixedType casts against exact rational arithmetic, every rounding x overflow mode, signed and unsigned."""

import math
from fractions import Fraction

import numpy as np
import pytest

from fpgagen.core.fixed import OVERFLOW, ROUNDING, FixedType


def ref_round(v: Fraction, q: str) -> int:
    fl = math.floor(v)
    frac = v - fl
    if q == "TRN":
        return fl
    if q == "TRN_ZERO":
        return int(v) if v >= 0 else -int(-v)
    if frac != Fraction(1, 2):
        return fl + (frac > Fraction(1, 2))
    return {"RND": fl + 1, "RND_ZERO": fl + (v < 0), "RND_MIN_INF": fl, "RND_INF": fl + (v > 0),
            "RND_CONV": fl + (fl % 2)}[q]


def ref_overflow(k: int, t: FixedType) -> int:
    lo, hi = t.min_code, t.max_code
    if lo <= k <= hi and not (t.overflow == "SAT_SYM" and t.signed and k == lo):
        return k
    if t.overflow == "WRAP":
        return ((k - lo) % (1 << t.width)) + lo
    if t.overflow == "SAT":
        return max(lo, min(hi, k))
    if t.overflow == "SAT_ZERO":
        return 0
    return max(-hi if t.signed else 0, min(hi, k))


@pytest.mark.parametrize("rounding", ROUNDING)
@pytest.mark.parametrize("overflow", OVERFLOW)
@pytest.mark.parametrize("signed", [True, False])
def test_casts_match_rational_reference(rounding, overflow, signed):
    t = FixedType(8, 3, signed, rounding, overflow)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-20, 20, 500), np.arange(-1100, 1100) / 64.0])  # ties included
    want = [ref_overflow(ref_round(Fraction(float(v)) * 2**t.frac, rounding), t) for v in x]
    assert t.from_float(x).tolist() == want
    k = rng.integers(-(1 << 15), 1 << 15, 2000)  # codes of an ap_fixed<16,6> -> t
    want = [ref_overflow(ref_round(Fraction(int(c), 2 ** (10 - t.frac)), rounding), t) for c in k]
    assert t.requantize(k, 10).tolist() == want


def test_parse_and_print():
    assert FixedType.parse("ap_fixed<8,3,AP_RND,AP_SAT>") == FixedType(8, 3, True, "RND", "SAT")
    assert FixedType.parse("fixed<16,6,TRN,WRAP,0>") == FixedType(16, 6)
    assert FixedType.parse("ap_ufixed<8,0>") == FixedType(8, 0, False)
    t = FixedType(10, -1, True, "RND_CONV", "SAT_SYM")
    assert FixedType.parse(str(t)) == t
    for bad, message in [("float", "not an ap_fixed type"), ("ap_fixed<8,3,AP_FOO>", "unknown rounding mode"),
                         ("ap_fixed<8,3,AP_RND,AP_SAT,2>", "saturation bits"), ("ap_fixed<0,0>", "width")]:
        with pytest.raises(ValueError, match=message):
            FixedType.parse(bad)


def test_from_float_rejects_nan():
    with pytest.raises(ValueError, match="NaN or Inf"):
        FixedType(8, 3).from_float(np.array([0.5, np.nan]))
