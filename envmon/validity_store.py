"""Counts behind the validity KPIs, read from `readings_reviewed` and the active review marks (migration 0024)."""

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
    rows = conn.execute(_COUNTS, {"excluded": list(EXCLUDED_FROM_EXPECTED), "ids": ids, "start": start,
                                  "end": end}).fetchall()
    got = {(int(r[0]), str(r[1])): (int(r[2]), int(r[3])) for r in rows}
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


def _excluded_periods(
    conn: psycopg.Connection, ids: list[int], start: datetime, end: datetime
) -> dict[tuple[int, str | None], list[Period]]:
    found: dict[tuple[int, str | None], list[Period]] = defaultdict(list)
    for device_id, pollutant, a, b in conn.execute(
            _EXCLUDED, (list(EXCLUDED_FROM_EXPECTED), ids, end, start)).fetchall():
        found[(int(device_id), pollutant)].append((a, b))
    return found
