"""Validity KPIs for the bureau: transmission rate, validity rate and effective transmission rate.

Definitions (docs/data-review.md cites them with confidence):
- transmission rate = received / expected values;
- validity rate = valid / received values;
- effective transmission rate = transmission rate x validity rate.
Values inside approved maintenance or calibration marks leave both the expected and the received counts;
values inside device-fault or invalid marks count as received but not valid. Sums are taken over values
first and the ratios computed last, so a plant's rate weighs each device by its number of values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

Period = tuple[datetime, datetime]
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Counts:
    """Values expected, received and valid for one series (or a sum of series)."""

    expected: int
    received: int
    valid: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.expected + other.expected, self.received + other.received, self.valid + other.valid)


@dataclass(frozen=True, slots=True)
class Kpis:
    """The three rates as fractions; None where the denominator is zero."""

    transmission_rate: float | None
    validity_rate: float | None
    effective_transmission_rate: float | None


def covered_seconds(periods: Iterable[Period], start: datetime, end: datetime) -> float:
    """Seconds of [start, end) covered by the union of `periods` (overlaps count once)."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in periods if a < end and b > start)
    total, reach = 0.0, start
    for a, b in clipped:
        a = max(a, reach)
        if b > a:
            total += (b - a).total_seconds()
            reach = b
    return total


def expected_values(window_seconds: float, interval_seconds: int, excluded_seconds: float) -> int:
    """Values a device reporting every `interval_seconds` owes in the window, minus the excluded time."""
    owed = max(0.0, window_seconds - excluded_seconds)
    return int(owed // interval_seconds) if interval_seconds > 0 else 0


def kpis(counts: Counts) -> Kpis:
    """The rates of some counts; transmission is capped at 1 (resends and clock drift give a few extra)."""
    transmission = min(1.0, counts.received / counts.expected) if counts.expected > 0 else None
    validity = counts.valid / counts.received if counts.received > 0 else None
    effective = transmission * validity if transmission is not None and validity is not None else None
    return Kpis(transmission, validity, effective)


def total(counts: Iterable[Counts]) -> Counts:
    """The sum of many counts."""
    result = Counts(0, 0, 0)
    for c in counts:
        result = result + c
    return result


def roll_up(items: Iterable[tuple[K, Counts]]) -> dict[K, Counts]:
    """Counts summed per key (a device, a plant, a district), in first-seen key order."""
    result: dict[K, Counts] = {}
    for key, counts in items:
        result[key] = result.get(key, Counts(0, 0, 0)) + counts
    return result
