"""How numbers, times and durations are written for people: exact values with units, local times."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from envmon.numbers import format_number
from envmon.words import text


def number(value: float | None) -> str:
    """A value by the one display rule of envmon.numbers (4 significant digits, no float artefacts): 0.2608."""
    return format_number(value)


def quantity(value: float | None, unit: str) -> str:
    """A value with its unit; pH and dimensionless values have none."""
    if value is None:
        return "—"
    return number(value) if unit in ("", "pH", "-") else f"{number(value)} {unit}"


def multiple(value: float | None, locale: str) -> str:
    """An exceedance multiple with two decimals: "1.30 倍" / "1.30x"."""
    if value is None:
        return "—"
    return text(locale, "report.multiple_value").format(value=f"{value:.2f}")


def percent(rate: float | None) -> str:
    """A rate as a percentage with one decimal."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def local_time(moment: datetime | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """A UTC moment in the people's time zone: 2026-11-22 14:05."""
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_hour(moment: datetime, zone: ZoneInfo) -> str:
    """The local clock hour of a bucket: 11-22 14:00."""
    return moment.astimezone(zone).strftime("%m-%d %H:%M")


def zone_label(zone: ZoneInfo, at: datetime) -> str:
    """The zone's name and offset at a moment: Asia/Shanghai (UTC+08:00)."""
    offset = at.astimezone(zone).strftime("%z")
    return f"{zone.key} (UTC{offset[:3]}:{offset[3:]})"


def day(value: date | None) -> str:
    """A calendar date, ISO."""
    return "—" if value is None else value.isoformat()


def duration(seconds: float, locale: str) -> str:
    """A duration in days, hours and minutes: "2小时15分" / "2 h 15 min"."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    counts = (("day", days), ("hour", hours), ("minute", mins))
    parts = [text(locale, f"duration.{unit}").format(n=n) for unit, n in counts if n or unit == "minute"]
    return ("" if locale == "zh-CN" else " ").join(parts)  # Chinese writes units without spaces
