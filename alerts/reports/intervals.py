"""Hourly and daily means of one device and pollutant over a bounded time range.

The roll-up is envmon.rollup's (the columns and flag rule of `readings_1h` / `readings_1d`, migration 0004,
over `readings_reviewed` with a time condition; why not the views is said there).
tests/integration/test_report_intervals.py checks that an unmarked device gives the views' rows.
An approved mark's period is abnormal, so it leaves the means and the judgement, for the past as well.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import psycopg

from alerts.reports.model import IntervalMean as IntervalMean  # the value type lives with the report's values
from envmon import rollup

Width = Literal["hour", "day"]
ORIGINS: dict[str, str] = {w: rollup.ORIGINS[w] for w in ("hour", "day")}
WIDTHS: dict[str, timedelta] = {w: rollup.WIDTHS[w] for w in ("hour", "day")}
_SQL = rollup.rollup_sql(
    "device_id = %(device)s AND pollutant = %(pollutant)s"
    " AND time >= date_bin(%(width)s, %(start)s, %(origin)s::timestamptz) AND time < %(end)s"
) + " ORDER BY bucket"


def interval_means(
    conn: psycopg.Connection, device_id: int, pollutant: str, width: Width, start: datetime, end: datetime
) -> list[IntervalMean]:
    """The buckets that start before `end`, from the one containing `start` (its values from its start on)."""
    params = {
        "width": WIDTHS[width], "origin": ORIGINS[width], "device": device_id, "pollutant": pollutant,
        "start": start, "end": end,
    }
    rows = conn.execute(_SQL, params).fetchall()
    return [
        IntervalMean(r[2], _float(r[3]), _float(r[4]), _float(r[5]), int(r[6]), int(r[7]), str(r[8]), int(r[9]))
        for r in rows
    ]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
