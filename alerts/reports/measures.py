"""Pure arithmetic of a report: exceedance multiples, durations, the chart window, data-quality rates."""

from __future__ import annotations

from datetime import datetime, timedelta

from alerts.reports.model import LimitFacts
from envmon.limit_lines import LimitLine, limit_lines, line_value

CHART_HOURS = 24
# Show a little of the time before the first breach, so the rise itself is on the chart.
LEAD_IN = timedelta(hours=1)
# After an alert resolves, the chart ends a little later so the return to normal is visible.
TAIL = timedelta(hours=1)


def exceedance_multiple(value: float | None, limit: float | None) -> float | None:
    """(value - limit) / limit, the multiple "超标倍数" as Chinese practice states it; None without a positive limit."""
    if value is None or limit is None or limit <= 0:
        return None
    return (value - limit) / limit


def value_to_limit(value: float | None, limit: float | None) -> float | None:
    """value / limit; None without a positive limit."""
    if value is None or limit is None or limit <= 0:
        return None
    return value / limit


def duration_seconds(first_breach_at: datetime, resolved_at: datetime | None, now: datetime) -> float:
    """How long the event lasted (until resolved) or has lasted so far (until now); never negative."""
    end = resolved_at if resolved_at is not None and resolved_at <= now else now
    return max(0.0, (end - first_breach_at).total_seconds())


def chart_window(first_breach_at: datetime, resolved_at: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The last 24 hours, stretched back to cover the whole event when it is longer."""
    end = min(now, resolved_at + TAIL) if resolved_at is not None else now
    start = min(end - timedelta(hours=CHART_HOURS), first_breach_at - LEAD_IN)
    return start, end


def expected_samples(window_seconds: float, interval_seconds: int) -> int:
    """How many samples a device reporting every `interval_seconds` should send in the window."""
    if window_seconds <= 0:
        return 0
    return int(window_seconds // interval_seconds)


# VALID_INTERVAL_SQL (a valid hourly or daily mean, for SQL over readings_1h/readings_1d) lives in envmon.domain:
# the dashboard's exports apply the same rule.


def is_valid_interval(pollutant: str, valid_count: int, flag: str) -> bool:
    """Whether an hourly or daily mean counts (the same rule as VALID_INTERVAL_SQL)."""
    return valid_count > 0 and (flag == "N" or pollutant.startswith("w"))


def transmission_rate(received: int, expected: int) -> float:
    """Received / expected, capped at 1 (resends and clock drift can give a few extra); 0 when none expected."""
    if expected <= 0:
        return 0.0
    return min(1.0, received / expected)


def validity_rate(valid: int, received: int) -> float | None:
    """Values flagged N / values received; None when nothing was received."""
    if received <= 0:
        return None
    return valid / received


def lines_of(limit: LimitFacts) -> tuple[LimitLine, ...]:
    """The chart lines of a limit (envmon.limit_lines: the same lines the dashboard draws)."""
    return limit_lines(
        scheme=limit.scheme, direction=limit.direction, lower=limit.lower, upper=limit.upper,
        warning_ratio=limit.warning_ratio, level2_lower=limit.level2_lower, level2_upper=limit.level2_upper,
    )


def warning_value(limit: LimitFacts) -> float | None:
    """The warning line: warning_ratio x the upper limit for discharge, level 1 for gas alarms."""
    lines = lines_of(limit)
    return line_value(lines, "level1" if limit.scheme == "gas_alarm" else "warning")


def limit_line(limit: LimitFacts) -> float | None:
    """The legal line: the upper limit for discharge, level 2 for gas alarms (level 1 where there is none)."""
    lines = lines_of(limit)
    if limit.scheme == "gas_alarm":
        level2 = line_value(lines, "level2")
        return level2 if level2 is not None else line_value(lines, "level1")
    return line_value(lines, "limit")


def is_over_limit(value: float | None, limit: LimitFacts | None) -> bool:
    """True when a value lies outside the limit (above upper, below lower)."""
    if value is None or limit is None:
        return False
    if limit.upper is not None and limit.direction in ("upper", "range") and value > limit.upper:
        return True
    return limit.lower is not None and limit.direction in ("lower", "range") and value < limit.lower
