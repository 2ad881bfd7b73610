"""Hourly and daily means of one device and pollutant over a bounded time range.

The columns and the flag roll-up are those of `readings_1h` / `readings_1d` (migration 0004), computed
from `readings` with a time condition. Why not the views: on plain PostgreSQL a condition on their
`bucket` column cannot use an index on time, so every query read the device's whole history
(seconds after a year, against a 2 s budget). tests/integration/test_report_intervals.py checks that
both give the same rows. The flags are those after data review (`readings_reviewed`, migration 0024):
an approved mark's period is abnormal, so it leaves the means and the judgement, for the past as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import psycopg

Width = Literal["hour", "day"]
# The views' bucket origins: UTC hours, China Standard Time days.
ORIGINS: dict[str, str] = {"hour": "2000-01-01 00:00:00+00", "day": "2000-01-01 00:00:00+08"}
WIDTHS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_SQL = """
SELECT date_bin(%(width)s, time, %(origin)s::timestamptz) AS bucket,
    avg(CASE WHEN flag = 'N' THEN value END),
    min(CASE WHEN flag = 'N' THEN value END),
    max(CASE WHEN flag = 'N' THEN value END),
    count(*),
    sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END),
    CASE
        WHEN sum(CASE WHEN flag = 'N' THEN 0 ELSE 1 END) = 0 THEN 'N'
        WHEN left(pollutant, 1) = 'w' THEN min(CASE WHEN flag <> 'N' THEN flag END)
        WHEN sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END) >= 0.75 * count(*) THEN 'N'
        ELSE 'D'
    END
FROM readings_reviewed
WHERE device_id = %(device)s AND pollutant = %(pollutant)s AND basis = 'instant'
  AND time >= date_bin(%(width)s, %(start)s, %(origin)s::timestamptz) AND time < %(end)s
GROUP BY bucket, pollutant ORDER BY bucket
"""


@dataclass(frozen=True, slots=True)
class IntervalMean:
    """One row of readings_1h or readings_1d."""

    bucket: datetime
    mean: float | None
    minimum: float | None
    maximum: float | None
    sample_count: int
    valid_count: int
    flag: str


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
        IntervalMean(r[0], _float(r[1]), _float(r[2]), _float(r[3]), int(r[4]), int(r[5]), str(r[6])) for r in rows
    ]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
