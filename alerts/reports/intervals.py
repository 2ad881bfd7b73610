"""Hourly and daily means of one device and pollutant over a bounded time range.

Two roads to the same rows:
- A series with no active data-review mark over the range reads the aggregates `readings_1h` / `readings_1d`
  (TimescaleDB continuous aggregates; plain PostgreSQL's roll-up tables, migration 0032) for its whole
  buckets, and `readings` only for a last bucket cut by `end`. A month of 30-second readings is then 720
  hourly rows instead of 86,400 raw ones (`envmon bench history`: the monthly compliance report).
- A series with a mark takes envmon.rollup's roll-up over `readings_reviewed` (the marks change flags, which
  the aggregates cannot know). An approved mark's period is abnormal, so it leaves the means and the
  judgement, for the past as well.
tests/integration/test_report_intervals.py checks that both give the views' rows for an unmarked device.
Like the aggregates themselves, the first road shows a late reading after the aggregates' next refresh.
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
VIEWS: dict[str, str] = {"hour": "readings_1h", "day": "readings_1d"}
_FIRST = "date_bin(%(width)s, %(start)s, %(origin)s::timestamptz)"
_LAST = "date_bin(%(width)s, %(end)s, %(origin)s::timestamptz)"  # the bucket `end` cuts (none when it is whole)
_REVIEWED_SQL = rollup.rollup_sql(
    f"device_id = %(device)s AND pollutant = %(pollutant)s AND time >= {_FIRST} AND time < %(end)s"
) + " ORDER BY bucket"
_AGGREGATE_SQL = """
SELECT device_id, pollutant, bucket, value_avg, value_min, value_max, sample_count, valid_count, flag,
       0::bigint AS marked_count
FROM {view}
WHERE device_id = %(device)s AND pollutant = %(pollutant)s AND basis = 'instant'
  AND bucket >= {first} AND bucket < {last}
UNION ALL
({cut})
ORDER BY bucket
"""
_CUT_ROWS = (
    f"device_id = %(device)s AND pollutant = %(pollutant)s AND time >= greatest({_LAST}, {_FIRST}) AND time < %(end)s"
)
_MARKED = f"""
SELECT EXISTS (SELECT 1 FROM data_marks WHERE state = 'active' AND device_id = %(device)s
               AND (pollutant IS NULL OR pollutant = %(pollutant)s) AND start_at < %(end)s AND end_at > {_FIRST})
"""


def _sql(conn: psycopg.Connection, width: Width, params: dict[str, object]) -> str:
    """The aggregate road when no active mark touches the range, else the reviewed roll-up."""
    row = conn.execute(_MARKED, params).fetchone()
    if row is not None and row[0]:
        return _REVIEWED_SQL
    return _AGGREGATE_SQL.format(view=VIEWS[width], first=_FIRST, last=_LAST, cut=rollup.rollup_sql(_CUT_ROWS))


def interval_means(
    conn: psycopg.Connection, device_id: int, pollutant: str, width: Width, start: datetime, end: datetime
) -> list[IntervalMean]:
    """The buckets that start before `end`, from the one containing `start` (its values from its start on)."""
    params = {
        "width": WIDTHS[width], "origin": ORIGINS[width], "device": device_id, "pollutant": pollutant,
        "start": start, "end": end,
    }
    rows = conn.execute(_sql(conn, width, params), params).fetchall()
    return [
        IntervalMean(r[2], _float(r[3]), _float(r[4]), _float(r[5]), int(r[6]), int(r[7]), str(r[8]), int(r[9]))
        for r in rows
    ]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
