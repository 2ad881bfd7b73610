"""Counts behind the validity KPIs, read from `readings_reviewed` and the active review marks (migration 0024).

Devices with no active mark over the period are counted from the hourly aggregate `readings_1h` (sample and
valid counts of whole hours; TimescaleDB's continuous aggregate, plain PostgreSQL's roll-up table) and from
`readings` only for the parts of hours at the period's ends: a month of a plant is hundreds of hourly rows
per series instead of tens of thousands of readings. Devices with a mark are counted from `readings_reviewed`,
where the marks change flags and leave maintenance out. Like the aggregates, the first road shows a late
reading after their next refresh.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from envmon.review import EXCLUDED_FROM_EXPECTED
from envmon.validity import Counts, Period, covered_seconds, expected_values

_DEVICES = """
SELECT d.id, d.mn, d.point_name_zh, d.point_name_en, d.reporting_interval_seconds, d.pollutants,
       s.code AS site_code, s.name_zh AS site_name_zh, s.name_en AS site_name_en, s.district,
       di.name_zh AS district_zh, di.name_en AS district_en
FROM devices d JOIN sites s ON s.id = d.site_id JOIN districts di ON di.code = s.district
WHERE d.active AND {where} ORDER BY s.district, s.code, d.mn
"""
_EXCLUDED = """
SELECT device_id, pollutant, start_at, end_at FROM data_marks
WHERE state = 'active' AND reason = ANY(%s) AND device_id = ANY(%s) AND start_at < %s AND end_at > %s
"""
_MARKED_DEVICES = """
SELECT DISTINCT device_id FROM data_marks
WHERE state = 'active' AND device_id = ANY(%(ids)s) AND start_at < %(end)s AND end_at > %(start)s
"""
# Whole hours inside [start, end) from the aggregate; the cut hours at either end from the readings.
_FIRST_WHOLE = ("CASE WHEN date_bin('1 hour', %(start)s::timestamptz, '2000-01-01 00:00:00+00') = %(start)s"
                " THEN %(start)s::timestamptz"
                " ELSE date_bin('1 hour', %(start)s::timestamptz, '2000-01-01 00:00:00+00') + INTERVAL '1 hour' END")
_LAST_WHOLE = "date_bin('1 hour', %(end)s::timestamptz, '2000-01-01 00:00:00+00')"
_AGGREGATE_COUNTS = f"""
SELECT device_id, pollutant, sum(n)::bigint, sum(v)::bigint
FROM (SELECT device_id, pollutant, sample_count AS n, valid_count AS v FROM readings_1h
      WHERE device_id = ANY(%(ids)s) AND basis = 'instant' AND bucket >= {_FIRST_WHOLE} AND bucket < {_LAST_WHOLE}
      UNION ALL
      SELECT device_id, pollutant, 1, (flag = 'N')::int FROM readings
      WHERE device_id = ANY(%(ids)s) AND basis = 'instant' AND time >= %(start)s AND time < %(end)s
        AND (time < {_FIRST_WHOLE} OR time >= greatest({_LAST_WHOLE}, {_FIRST_WHOLE}))) v
GROUP BY device_id, pollutant
"""
# Values inside maintenance or calibration marks leave the received count as they left the expected one.
_COUNTS = """
SELECT device_id, pollutant,
       count(*) FILTER (WHERE NOT excluded),
       count(*) FILTER (WHERE NOT excluded AND flag = 'N')
FROM (SELECT device_id, pollutant, flag, coalesce(mark_reason = ANY(%(excluded)s), false) AS excluded
      FROM readings_reviewed
      WHERE device_id = ANY(%(ids)s) AND basis = 'instant' AND time >= %(start)s AND time < %(end)s) v
GROUP BY device_id, pollutant
"""


@dataclass(frozen=True, slots=True)
class SeriesCounts:
    """One device and pollutant over the period: where it is, and its counts."""

    device: dict[str, Any]
    pollutant: str
    counts: Counts


def gather_counts(
    conn: psycopg.Connection, *, start: datetime, end: datetime, where: str = "TRUE",
    params: dict[str, object] | None = None,
) -> list[SeriesCounts]:
    """Every active device's pollutants on the sites matching `where` (a condition on alias s) over [start, end)."""
    with conn.cursor(row_factory=dict_row) as cur:
        devices = cur.execute(_DEVICES.format(where=where), params or {}).fetchall()
    ids = [int(d["id"]) for d in devices]
    marks = _excluded_periods(conn, ids, start, end)
    got = _received_and_valid(conn, ids, start, end)
    window = (end - start).total_seconds()
    result = []
    for d in devices:
        for code in d["pollutants"]:
            periods = marks.get((int(d["id"]), None), []) + marks.get((int(d["id"]), code), [])
            expected = expected_values(window, int(d["reporting_interval_seconds"]),
                                       covered_seconds(periods, start, end))
            received, valid = got.get((int(d["id"]), code), (0, 0))
            result.append(SeriesCounts(d, code, Counts(expected, received, valid)))
    return result


def _received_and_valid(
    conn: psycopg.Connection, ids: list[int], start: datetime, end: datetime
) -> dict[tuple[int, str], tuple[int, int]]:
    """Received and valid values per device and pollutant: from the aggregate where no mark applies."""
    window = {"ids": ids, "start": start, "end": end}
    marked = [int(r[0]) for r in conn.execute(_MARKED_DEVICES, window).fetchall()]
    skip = frozenset(marked)
    clean = [i for i in ids if i not in skip]
    rows = conn.execute(_AGGREGATE_COUNTS, {**window, "ids": clean}).fetchall() if clean else []
    if marked:
        rows += conn.execute(_COUNTS, {**window, "ids": marked, "excluded": list(EXCLUDED_FROM_EXPECTED)}).fetchall()
    return {(int(r[0]), str(r[1])): (int(r[2]), int(r[3])) for r in rows}


def _excluded_periods(
    conn: psycopg.Connection, ids: list[int], start: datetime, end: datetime
) -> dict[tuple[int, str | None], list[Period]]:
    found: dict[tuple[int, str | None], list[Period]] = defaultdict(list)
    for device_id, pollutant, a, b in conn.execute(
            _EXCLUDED, (list(EXCLUDED_FROM_EXPECTED), ids, end, start)).fetchall():
        found[(int(device_id), pollutant)].append((a, b))
    return found
