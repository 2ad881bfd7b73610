"""Readings for a report: the pollutant and its companions over the window, hourly averages, data quality.

All after data review (`readings_reviewed`, migration 0024): a value under an active mark carries the mark's
flag, so it leaves the chart's means, the hourly means and the validity rate, and shows in the flag counts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg

from alerts.reports import measures
from alerts.reports.intervals import interval_means
from alerts.reports.model import (
    HourRow,
    IntervalMean,
    LimitFacts,
    PollutantInfo,
    QualityDay,
    QualityFacts,
    Series,
    SeriesPoint,
)

QUALITY_DAYS = 7
# Buckets of the chart: minutes keep a 24 h chart at most 1440 points wide, enough for a phone.
_SERIES_SQL = """
SELECT date_bin(%(step)s, time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       avg(value) FILTER (WHERE flag = 'N'),
       coalesce(min(flag) FILTER (WHERE flag <> 'N'), 'N')
FROM readings_reviewed
WHERE device_id = %(device)s AND pollutant = %(pollutant)s AND basis = 'instant'
  AND time >= %(start)s AND time < %(end)s
GROUP BY bucket ORDER BY bucket
"""
_QUALITY_SQL = """
SELECT (time AT TIME ZONE %(zone)s)::date AS day, count(*), count(*) FILTER (WHERE flag = 'N')
FROM readings_reviewed
WHERE device_id = %(device)s AND pollutant = %(pollutant)s AND basis = 'instant'
  AND time >= %(start)s AND time < %(end)s
GROUP BY day ORDER BY day
"""
_FLAGS_SQL = """
SELECT flag, count(*) FROM readings_reviewed
WHERE device_id = %(device)s AND pollutant = %(pollutant)s AND basis = 'instant'
  AND time >= %(start)s AND time < %(end)s
GROUP BY flag ORDER BY flag
"""


def read_series(
    conn: psycopg.Connection, device_id: int, pollutant: PollutantInfo, start: datetime, end: datetime, step: timedelta
) -> Series:
    """One pollutant of the device in buckets of `step` over [start, end)."""
    params = {"step": step, "device": device_id, "pollutant": pollutant.code, "start": start, "end": end}
    rows = conn.execute(_SERIES_SQL, params).fetchall()
    points = tuple(SeriesPoint(r[0], None if r[1] is None else float(r[1]), str(r[2])) for r in rows)
    return summarise(pollutant, points)


def summarise(pollutant: PollutantInfo, points: tuple[SeriesPoint, ...]) -> Series:
    """A series with its min, max, mean and last valid value."""
    values = [p.value for p in points if p.value is not None]
    if not values:
        return Series(pollutant, points, None, None, None, None)
    return Series(pollutant, points, min(values), max(values), sum(values) / len(values), values[-1])


O2_CODE = "a19001"


def read_hours(
    conn: psycopg.Connection, device_id: int, pollutant: str, start: datetime, end: datetime, limit: LimitFacts | None
) -> tuple[HourRow, ...]:
    """Hourly averages with their validity (measures.is_valid_interval) and whether they break the limit."""
    return tuple(hour_row(m, pollutant, limit) for m in interval_means(conn, device_id, pollutant, "hour", start, end))


def with_correction_inputs(
    conn: psycopg.Connection, device_id: int, hours: tuple[HourRow, ...], measured: str, start: datetime, end: datetime
) -> tuple[HourRow, ...]:
    """Hour rows of a corrected series with the measured and O2 hourly means beside them (reports show all three)."""
    means = {
        code: {m.bucket: m.mean for m in interval_means(conn, device_id, code, "hour", start, end)}
        for code in (measured, O2_CODE)
    }
    return tuple(
        replace(h, measured_mean=means[measured].get(h.hour_start), o2_mean=means[O2_CODE].get(h.hour_start))
        for h in hours
    )


def hour_row(m: IntervalMean, pollutant: str, limit: LimitFacts | None) -> HourRow:
    """The hourly mean judged: valid (measures.is_valid_interval) and, if valid, whether it breaks the limit."""
    valid = measures.is_valid_interval(pollutant, m.valid_count, m.flag)
    return HourRow(interval=m, valid=valid, over_limit=valid and measures.is_over_limit(m.mean, limit))


def read_quality(
    conn: psycopg.Connection, device_id: int, pollutant: str, interval_seconds: int, now: datetime, zone: str
) -> QualityFacts:
    """Transmission and validity rates of the last QUALITY_DAYS days (per local day and in total), and flags."""
    start = now - timedelta(days=QUALITY_DAYS)
    params = {"device": device_id, "pollutant": pollutant, "start": start, "end": now, "zone": zone}
    days = tuple(_quality_days(conn.execute(_QUALITY_SQL, params).fetchall(), start, now, interval_seconds, zone))
    flags = tuple((str(f), int(n)) for f, n in conn.execute(_FLAGS_SQL, params).fetchall())
    expected = measures.expected_samples((now - start).total_seconds(), interval_seconds)
    received = sum(d.received for d in days)
    valid = sum(d.valid for d in days)
    return QualityFacts(
        days=days,
        expected=expected,
        received=received,
        valid=valid,
        transmission_rate=measures.transmission_rate(received, expected),
        validity_rate=measures.validity_rate(valid, received),
        flag_counts=flags,
    )


def _quality_days(
    rows: list[tuple[Any, ...]], start: datetime, end: datetime, interval_seconds: int, zone: str
) -> list[QualityDay]:
    """One row per local day of the window, including days on which nothing arrived."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    counts = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    out: list[QualityDay] = []
    day = start.astimezone(tz).date()
    while day <= end.astimezone(tz).date():
        day_start = max(start, datetime.combine(day, datetime.min.time(), tz))
        day_end = min(end, datetime.combine(day + timedelta(days=1), datetime.min.time(), tz))
        expected = measures.expected_samples((day_end - day_start).total_seconds(), interval_seconds)
        received, valid = counts.get(day, (0, 0))
        rate = measures.transmission_rate(received, expected)
        out.append(QualityDay(day, expected, received, valid, rate, measures.validity_rate(valid, received)))
        day += timedelta(days=1)
    return out
