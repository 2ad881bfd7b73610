"""SVG charts drawn from a series: the event chart (limit, warning line, flags, peak) and sparklines.

Plain SVG text, no plotting library: browsers and WeasyPrint both draw it, and it costs milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from alerts.reports.display import number
from alerts.reports.model import SeriesPoint

FLAG_COLOURS = {"F": "#6b7280", "M": "#2563eb", "S": "#7c3aed", "D": "#b91c1c", "C": "#0891b2", "T": "#ea580c",
                "B": "#a16207"}
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 22, 46
TICK = 'font-size="12" fill="#374151"'
# Attributes, not CSS classes: WeasyPrint styles inline SVG from its own attributes only.
FONT = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"


@dataclass(frozen=True, slots=True)
class RefLine:
    """A horizontal line across the chart (limit, warning line)."""

    value: float
    label: str
    colour: str
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Frame:
    """Maps time and value to pixels."""

    start: datetime
    end: datetime
    low: float
    high: float
    width: int
    height: int

    def x(self, t: datetime) -> float:
        span = max((self.end - self.start).total_seconds(), 1.0)
        return LEFT + (self.width - LEFT - RIGHT) * (t - self.start).total_seconds() / span

    def y(self, v: float) -> float:
        span = max(self.high - self.low, 1e-12)
        return TOP + (self.height - TOP - BOTTOM) * (1 - (v - self.low) / span)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above the value (axis tops)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def line_chart(
    points: Sequence[SeriesPoint],
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    unit: str,
    lines: Sequence[RefLine] = (),
    peak: tuple[datetime, float] | None = None,
    breach_at: datetime | None = None,
    width: int = 640,
    height: int = 300,
) -> str:
    """The event chart as an SVG element that scales to its container's width."""
    frame = _frame(points, lines, peak, start, end, width, height)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
        f'font-family="{FONT}">',
        *_grid(frame, zone, unit),
        *(_ref_line(frame, line) for line in lines),
        _path(frame, points, "#111827", 1.4),
        *_flags(frame, points),
        _breach(frame, breach_at),
        _peak(frame, peak, unit),
        "</svg>",
    ]
    return "".join(p for p in parts if p)


def _frame(
    points: Sequence[SeriesPoint],
    lines: Sequence[RefLine],
    peak: tuple[datetime, float] | None,
    start: datetime,
    end: datetime,
    width: int,
    height: int,
) -> Frame:
    values = [p.value for p in points if p.value is not None] + [r.value for r in lines]
    if peak:
        values.append(peak[1])
    low = min([0.0, *values])
    top = max([*values, 0.0]) * 1.08 if values else 1.0
    step = nice_ceiling((top - low) / 5 if top > low else 1.0)
    high = math.ceil(top / step - 1e-9) * step
    low = math.floor(low / step + 1e-9) * step
    return Frame(start, end, low, high, width, height)


def value_ticks(low: float, high: float) -> list[float]:
    """Axis ticks at a round step (1, 2, 2.5 or 5 x 10^n) from low to high, at most about six."""
    step = nice_ceiling((high - low) / 5 if high > low else 1.0)
    count = int(round((high - low) / step))
    return [low + step * i for i in range(count + 1)]


def _grid(frame: Frame, zone: ZoneInfo, unit: str) -> list[str]:
    out = [f'<rect x="{LEFT}" y="{TOP}" width="{frame.width - LEFT - RIGHT}" '
           f'height="{frame.height - TOP - BOTTOM}" fill="#fff" stroke="#d1d5db"/>']
    for v in value_ticks(frame.low, frame.high):
        y = frame.y(v)
        out.append(f'<line x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef0f3"/>')
        out.append(f'<text x="{LEFT - 5}" y="{y + 4:.1f}" text-anchor="end" {TICK}>{escape(number(v))}</text>')
    out.append(f'<text x="{LEFT}" y="{TOP - 7}" {TICK}>{escape(unit)}</text>')
    out.extend(_time_ticks(frame, zone))
    return out


def _time_ticks(frame: Frame, zone: ZoneInfo) -> list[str]:
    """Labels at whole local hours, every 3 hours (every 6 or 12 for longer windows)."""
    hours = (frame.end - frame.start).total_seconds() / 3600
    step = 3 if hours <= 30 else 6 if hours <= 60 else 12
    local = frame.start.astimezone(zone).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while local.hour % step:
        local += timedelta(hours=1)
    out: list[str] = []
    base = frame.height - BOTTOM
    while local <= frame.end:
        x = frame.x(local)
        label = local.strftime("%H:%M") if local.hour else local.strftime("%m-%d")
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{base}" stroke="#f3f4f6"/>')
        out.append(f'<text x="{x:.1f}" y="{base + 30}" text-anchor="middle" {TICK}>{label}</text>')
        local += timedelta(hours=step)
    return out


def _ref_line(frame: Frame, line: RefLine) -> str:
    if not frame.low <= line.value <= frame.high:
        return ""
    y = frame.y(line.value)
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    label = escape(f"{line.label} {number(line.value)}")
    return (
        f'<line x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{line.colour}" '
        f'stroke-width="1.3"{dash}/>'
        f'<text x="{LEFT + 4}" y="{y - 4:.1f}" font-size="12" font-weight="bold" fill="{line.colour}">'
        f"{label}</text>"
    )


def _path(frame: Frame, points: Sequence[SeriesPoint], colour: str, stroke: float) -> str:
    """The series as one path, lifted where values are missing or the samples are far apart, thinned to the pixels."""
    commands: list[str] = []
    for run in _runs(points, _gap(points)):
        for i, p in enumerate(thin(run, frame)):
            commands.append(f"{'L' if i else 'M'}{frame.x(p.time):.1f} {frame.y(p.value or 0.0):.1f}")
    if not commands:
        return ""
    return f'<path d="{" ".join(commands)}" fill="none" stroke="{colour}" stroke-width="{stroke}"/>'


def _runs(points: Sequence[SeriesPoint], gap: timedelta) -> list[list[SeriesPoint]]:
    """The stretches the pen draws without lifting: cut at missing values and where samples are over `gap` apart."""
    runs: list[list[SeriesPoint]] = []
    current: list[SeriesPoint] = []
    for p in points:
        if p.value is None or (current and p.time - current[-1].time > gap):
            if current:
                runs.append(current)
            current = []
        if p.value is not None:
            current.append(p)
    if current:
        runs.append(current)
    return runs


def thin(run: Sequence[SeriesPoint], frame: Frame) -> list[SeriesPoint]:
    """At most two points per pixel column, its lowest and highest in time order, so peaks and dips stay.

    Why: a day at 5 s is 17,280 points over about 570 pixels; WeasyPrint spent most of a report's time laying
    out path segments no one can see. Points without a value are not expected here (see _runs).
    """
    out: list[SeriesPoint] = []
    for _, column in groupby(run, key=lambda p: math.floor(frame.x(p.time))):
        members = list(column)
        out.extend(_in_time_order(min(members, key=_value), max(members, key=_value)))
    return out


def _value(point: SeriesPoint) -> float:
    return point.value if point.value is not None else 0.0


def _in_time_order(low: SeriesPoint, high: SeriesPoint) -> tuple[SeriesPoint, ...]:
    if low is high:
        return (low,)
    return (low, high) if low.time <= high.time else (high, low)


def _gap(points: Sequence[SeriesPoint]) -> timedelta:
    """Samples further apart than 3 typical steps are not joined."""
    if len(points) < 2:
        return timedelta(days=1)
    steps = sorted(b.time - a.time for a, b in zip(points, points[1:], strict=False))
    return steps[len(steps) // 2] * 3


def _flags(frame: Frame, points: Sequence[SeriesPoint]) -> list[str]:
    """A tick under each abnormal value; one per pixel column and colour (more would draw over each other)."""
    y = frame.height - BOTTOM + 4
    out = []
    drawn: set[tuple[int, str]] = set()
    for p in points:
        if p.flag != "N":
            colour = FLAG_COLOURS.get(p.flag, "#6b7280")
            x = frame.x(p.time)
            if (math.floor(x), colour) in drawn:
                continue
            drawn.add((math.floor(x), colour))
            out.append(f'<rect x="{x - 1:.1f}" y="{y}" width="3" height="9" fill="{colour}"/>')
    return out


def _breach(frame: Frame, breach_at: datetime | None) -> str:
    if breach_at is None or not frame.start <= breach_at <= frame.end:
        return ""
    x = frame.x(breach_at)
    return (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{frame.height - BOTTOM}" stroke="#dc2626" '
            'stroke-dasharray="3 3"/>')


def _peak(frame: Frame, peak: tuple[datetime, float] | None, unit: str) -> str:
    if peak is None or not frame.start <= peak[0] <= frame.end:
        return ""
    x, y = frame.x(peak[0]), frame.y(peak[1])
    anchor = "end" if x > frame.width * 0.7 else "start"
    dx = -7 if anchor == "end" else 7
    label = escape(f"{number(peak[1])} {unit}".strip())
    return (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#dc2626"/>'
            f'<text x="{x + dx:.1f}" y="{y + 4:.1f}" text-anchor="{anchor}" font-size="13" font-weight="bold" '
            f'fill="#dc2626">{label}</text>')


def sparkline(points: Sequence[SeriesPoint], *, width: int = 140, height: int = 30) -> str:
    """A small trend line without axes, for the co-measured parameters."""
    values = [p.value for p in points if p.value is not None]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 1.0
    frame = Frame(points[0].time, points[-1].time, low - pad, high + pad, width + LEFT + RIGHT, height + TOP + BOTTOM)
    path = _path(frame, points, "#374151", 1.2)
    shift = f'transform="translate({-LEFT} {-TOP})"'
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="spark">'
    return f"{svg}<g {shift}>{path}</g></svg>"
