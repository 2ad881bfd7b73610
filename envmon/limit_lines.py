"""The horizontal lines a chart draws for a limit, from the registry's tiers: one source for dashboard and reports.

Discharge limits: the pre-warning line (warning_ratio x the limit, only where the limit has a ratio, as
the alert engine judges it) and the limit. Gas alarms (GB/T 50493-2019 s5.5.2): the level 1 and level 2
set points, both for upper (%LEL, toxic gases) and lower (oxygen deficiency) alarms. Products are
computed in decimal so 0.1 x 0.8 is 0.08, not 0.08000000000000002.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

LineKind = Literal["warning", "limit", "level1", "level2"]


@dataclass(frozen=True, slots=True)
class LimitLine:
    """One line: what it is and where it sits (canonical unit)."""

    kind: LineKind
    value: float


def _product(a: float, b: float) -> float:
    return float(Decimal(repr(a)) * Decimal(repr(b)))


def _quotient(a: float, b: float) -> float:
    return float(Decimal(repr(a)) / Decimal(repr(b)))


def limit_lines(
    *,
    scheme: str,
    direction: str,
    lower: float | None,
    upper: float | None,
    warning_ratio: float | None = None,
    level2_lower: float | None = None,
    level2_upper: float | None = None,
) -> tuple[LimitLine, ...]:
    """The lines of a limit, lowest tier first: warning then limit, or level 1 then level 2."""
    if scheme == "gas_alarm":
        return _gas_lines(lower, upper, level2_lower, level2_upper)
    return _discharge_lines(direction, lower, upper, warning_ratio)


def _gas_lines(
    lower: float | None, upper: float | None, level2_lower: float | None, level2_upper: float | None
) -> tuple[LimitLine, ...]:
    pairs: list[tuple[LineKind, float | None]] = [
        ("level1", upper), ("level1", lower), ("level2", level2_upper), ("level2", level2_lower),
    ]
    return tuple(LimitLine(kind, value) for kind, value in pairs if value is not None)


def _discharge_lines(
    direction: str, lower: float | None, upper: float | None, ratio: float | None
) -> tuple[LimitLine, ...]:
    # A range such as pH 6-9 has no pre-warning ratio (the engine judges ranges on the limit only).
    out: list[LimitLine] = []
    if ratio is not None and direction == "upper" and upper is not None:
        out.append(LimitLine("warning", _product(upper, ratio)))
    if ratio is not None and direction == "lower" and lower is not None:
        out.append(LimitLine("warning", _quotient(lower, ratio)))
    if upper is not None and direction in ("upper", "range"):
        out.append(LimitLine("limit", upper))
    if lower is not None and direction in ("lower", "range"):
        out.append(LimitLine("limit", lower))
    return tuple(out)


def line_value(lines: tuple[LimitLine, ...], kind: LineKind) -> float | None:
    """The first line of a kind (the upper one where there are two), or None."""
    return next((line.value for line in lines if line.kind == kind), None)
