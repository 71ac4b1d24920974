"""ap_fixed arithmetic on integer codes, exactly as Xilinx's ap_fixed types (and so hls4ml's C simulation) do it.

A value of type ``ap_fixed<W, I, Q, O>`` is held as its two's-complement code ``k`` (int64), meaning
``k * 2**-F`` with ``F = W - I`` fraction bits. Every cast first quantizes the dropped fraction bits by the
rounding mode Q, then handles overflow of the kept bits by the overflow mode O:

====================  ==================================  ==========  ===================================
Q (rounding)          ties / fractions                    O           on overflow
====================  ==================================  ==========  ===================================
``TRN``               floor                               ``WRAP``    two's complement wrap on W bits
``TRN_ZERO``          toward zero                         ``SAT``     clip to [min, max]
``RND``               half up (toward +inf)               ``SAT_ZERO`` zero
``RND_ZERO``          half toward zero                    ``SAT_SYM`` clip to [-max, max]; the code
``RND_MIN_INF``       half down (toward -inf)                         -2**(W-1) itself becomes -max
``RND_INF``           half away from zero
``RND_CONV``          half to even
====================  ==================================  ==========  ===================================

All of it was checked against g++ and Xilinx's ap_types headers on every code of several types, ties included
(see tests/hls). Saturation bits (the fifth template argument, N) other than 0 are not supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

_TYPE = re.compile(
    r"\s*(?:ap_)?(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(?:AP_)?(\w+)\s*)?(?:,\s*(?:AP_)?(\w+)\s*)?"
    r"(?:,\s*(\d+)\s*)?>\s*"
)


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, rounding, overflow>`` (``ap_ufixed`` when ``signed`` is False)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self):
        if not 1 <= self.width <= 48:
            raise ValueError(f"fixed-point width must be in 1..48, got {self.width}")
        if self.rounding not in ROUNDING:
            raise ValueError(f"unknown rounding mode {self.rounding!r}; known: {', '.join(ROUNDING)}")
        if self.overflow not in OVERFLOW:
            raise ValueError(f"unknown overflow mode {self.overflow!r}; known: {', '.join(OVERFLOW)}")

    @property
    def frac(self) -> int:
        """Fraction bits F = W - I (may be negative or exceed W)."""
        return self.width - self.integer

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min_value(self) -> float:
        return self.min_code * 2.0**-self.frac

    @property
    def max_value(self) -> float:
        return self.max_code * 2.0**-self.frac

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse ``'ap_fixed<8,3,AP_RND,AP_SAT>'``, ``'fixed<16,6,TRN,WRAP,0>'``, ``'ap_ufixed<8,0>'``."""
        m = _TYPE.fullmatch(text)
        if not m:
            raise ValueError(f"not an ap_fixed type: {text!r}")
        unsigned, width, integer, rounding, overflow, sat_bits = m.groups()
        if sat_bits not in (None, "0"):
            raise ValueError(f"{text!r}: saturation bits N != 0 are not supported")
        return cls(int(width), int(integer), not unsigned, (rounding or "TRN").upper(), (overflow or "WRAP").upper())

    def __str__(self) -> str:
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{kind}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    def to_float(self, codes: np.ndarray) -> np.ndarray:
        """Exact float64 values of ``codes``."""
        return np.ldexp(np.asarray(codes, np.float64), -self.frac)

    def apply_overflow(self, codes: np.ndarray) -> np.ndarray:
        """Apply the overflow mode to codes already at this type's fraction bits."""
        k = np.asarray(codes, np.int64)
        lo, hi = self.min_code, self.max_code
        if self.overflow == "WRAP":
            return ((k - lo) & ((1 << self.width) - 1)) + lo
        if self.overflow == "SAT":
            return np.clip(k, lo, hi)
        if self.overflow == "SAT_ZERO":
            return np.where((k < lo) | (k > hi), 0, k)
        return np.clip(k, -hi if self.signed else lo, hi)  # SAT_SYM

    def requantize(self, codes: np.ndarray, frac_from: int) -> np.ndarray:
        """Cast codes with ``frac_from`` fraction bits (exact, any width) to this type."""
        k = np.asarray(codes, np.int64)
        shift = frac_from - self.frac
        if shift <= 0:
            return self.apply_overflow(k << (-shift))
        return self.apply_overflow(shift_round(k, shift, self.rounding))

    def from_float(self, values: np.ndarray) -> np.ndarray:
        """Cast float32/float64 values to codes exactly as ``ap_fixed(double)`` does."""
        x = np.asarray(values, np.float64)
        if not np.isfinite(x).all():
            raise ValueError("cannot cast NaN or Inf to a fixed-point type")
        scaled = np.ldexp(x, self.frac)  # exact
        floor = np.floor(scaled)
        frac = scaled - floor  # exact
        half = frac == 0.5
        above = frac > 0.5
        q = self.rounding
        if q == "TRN":
            r = floor
        elif q == "TRN_ZERO":
            r = np.trunc(scaled)
        elif q == "RND":
            r = floor + (above | half)
        elif q == "RND_ZERO":
            r = floor + (above | (half & (scaled < 0)))
        elif q == "RND_MIN_INF":
            r = floor + above
        elif q == "RND_INF":
            r = floor + (above | (half & (scaled >= 0)))
        else:  # RND_CONV
            r = floor + (above | (half & (np.fmod(floor, 2) != 0)))
        # beyond +-2**62 every overflow mode gives the same answer as at the clipped value, except WRAP,
        # whose low bits a float that large no longer has anyway.
        r = np.clip(r, -(2.0**62), 2.0**62)
        return self.apply_overflow(r.astype(np.int64))


def shift_round(codes: np.ndarray, shift: int, rounding: str) -> np.ndarray:
    """``codes / 2**shift`` rounded to an integer by ap_fixed rounding mode ``rounding`` (shift >= 1)."""
    k = np.asarray(codes, np.int64)
    floor = k >> shift
    rem = k - (floor << shift)  # 0 <= rem < 2**shift
    half = 1 << (shift - 1)
    if rounding == "TRN":
        return floor
    if rounding == "TRN_ZERO":
        return floor + ((k < 0) & (rem != 0))
    up, tie = rem > half, rem == half
    if rounding == "RND":
        return floor + (up | tie)
    if rounding == "RND_ZERO":
        return floor + (up | (tie & (k < 0)))
    if rounding == "RND_MIN_INF":
        return floor + up
    if rounding == "RND_INF":
        return floor + (up | (tie & (k >= 0)))
    if rounding == "RND_CONV":
        return floor + (up | (tie & ((floor & 1) == 1)))
    raise ValueError(f"unknown rounding mode {rounding!r}")
