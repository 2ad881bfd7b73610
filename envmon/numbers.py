"""How measured values and limits are written for people: one rule for the dashboard, its API and the reports.

The rule: 4 significant digits, but every digit left of the decimal point is kept (12346, not 1.235e4),
at most 6 decimals (below any analyser's resolution in the catalogue's units), no exponent, no trailing
zeros. Rounding is done on the decimal number the float stands for (its shortest repr), half to even as
GB/T 8170 rounds (四舍六入五成双), so a float artefact such as 0.26081240000000006 or 0.1 * 3 never
reaches a person. This is presentation only: decisions round to the limit's precision elsewhere.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

SIGNIFICANT_DIGITS = 4
MAX_DECIMALS = 6
NO_VALUE = "—"


def _decimals(value: Decimal, significant: int) -> int:
    """How many decimals keep `significant` digits (never fewer than 0, never more than MAX_DECIMALS)."""
    magnitude = value.adjusted()  # exponent of the leading digit: 0.026 -> -2, 123.4 -> 2
    return min(MAX_DECIMALS, max(0, significant - 1 - magnitude))


def rounded_decimal(value: float, significant: int = SIGNIFICANT_DIGITS) -> Decimal:
    """The value rounded by the display rule, as an exact decimal."""
    exact = Decimal(repr(float(value)))
    if exact.is_zero():
        return Decimal(0)
    result = exact.quantize(Decimal(1).scaleb(-_decimals(exact, significant)), rounding=ROUND_HALF_EVEN)
    # Rounding can carry into a new leading digit (9.9996 -> 10.000): round again at the new magnitude.
    if not result.is_zero() and result.adjusted() != exact.adjusted():
        quantum = Decimal(1).scaleb(-_decimals(result, significant))
        result = exact.quantize(quantum, rounding=ROUND_HALF_EVEN)
    return result


def display_value(value: float | None, significant: int = SIGNIFICANT_DIGITS) -> float | None:
    """A value for JSON read by people: rounded by the rule (None, NaN and infinities stay absent)."""
    if value is None or not math.isfinite(value):
        return None
    return float(rounded_decimal(value, significant))


def format_number(value: float | None, significant: int = SIGNIFICANT_DIGITS) -> str:
    """A value as text by the rule ('—' when there is none): 0.2608, 0.0005, 28.12, 12346, 0."""
    if value is None or not math.isfinite(value):
        return NO_VALUE
    text = format(rounded_decimal(value, significant), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
