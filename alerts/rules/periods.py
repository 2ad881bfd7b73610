"""Periods of the averages: hours and China Standard Time days, flag bits and their roll-up, a closed period."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HOUR_S = 3600
DAY_S = 86400
CST_OFFSET_S = 8 * 3600  # China Standard Time has no daylight saving
FLAG_LETTERS = "NFMSDCTB"
# A letter outside HJ 212's list (HJ/T 212-2005 P for power failure, or anything else) is abnormal: it
# rolls up as D (fault), so the interval it falls in is abnormal too.
FLAG_BITS = np.full(256, 1 << FLAG_LETTERS.index("D"), dtype=np.uint8)
for _i, _letter in enumerate(FLAG_LETTERS):
    FLAG_BITS[ord(_letter)] = 1 << _i
# The letter an abnormal interval is marked with when several abnormal flags occurred.
_ROLLUP_PRIORITY = "DFMCTBS"

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def cst_day(time_s: float) -> int:
    """The China Standard Time day number (days since 1970-01-01 CST) of an epoch time."""
    return int((time_s + CST_OFFSET_S) // DAY_S)


@dataclass(frozen=True)
class ClosedPeriod:
    """The averages of one closed hour or day, for every tracked series that had data in it."""

    period: str  # "hour" or "day"
    start_s: float
    end_s: float
    tracked: IntArray  # indexes into the book's tracked series
    average: FloatArray  # NaN where no valid value
    valid: BoolArray
    valid_count: IntArray  # valid values (wastewater hour), valid minutes (flue gas hour), valid hours (day)
    flag: tuple[str, ...]  # rolled-up flag
    # Mean flow over the valid values of a wastewater hour whose mean is flow-weighted (NaN: not weighted).
    flow: FloatArray | None = None


def rollup_letters(bits: npt.NDArray[np.uint8]) -> npt.NDArray[np.str_]:
    """The letter each interval's flag bits roll up to: N when normal, else the first abnormal of _ROLLUP_PRIORITY."""
    letters = np.full(bits.shape, "N", dtype="<U1")
    for letter in reversed(_ROLLUP_PRIORITY):
        letters[(bits & FLAG_BITS[ord(letter)]) != 0] = letter
    return letters
