"""Chart series from the 1-minute, 1-hour and 1-day aggregates, by range, scoped to the user, after data review.

The aggregates (migration 0004; TimescaleDB continuous aggregates) carry the logger's flags and cannot join
the review marks. A series without an active mark in its range is exactly the aggregate's rows. Otherwise the
buckets an active mark touches are rolled up again with envmon.rollup's columns and rules, the marks read as
time ranges (SERIES_MARKS_CTE) rather than through readings_reviewed's join: a marked day is merged from its
unmarked hours (readings_1h) and its marked hours rolled up from the readings; a marked minute or hour is rolled
up from its readings, or, when marks touch half of the buckets with data, the whole range is one pass over its
readings. Every plan gives what readings_reviewed gives (tests/integration/test_review_marks_everywhere.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from dashboard.access import User, scope_clause
from envmon import rollup


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """Which aggregate serves a range and how far back it reaches."""

    view: str
    span: timedelta
    width: str  # the aggregate's bucket, a key of envmon.rollup.WIDTHS


# About 60 to 1,440 points per range: enough for a line, little enough for a phone.
RANGES: dict[str, RangeSpec] = {
    "1h": RangeSpec("readings_1m", timedelta(hours=1), "minute"),
    "24h": RangeSpec("readings_1m", timedelta(hours=24), "minute"),
    "7d": RangeSpec("readings_1h", timedelta(days=7), "hour"),
    "30d": RangeSpec("readings_1h", timedelta(days=30), "hour"),
    "365d": RangeSpec("readings_1d", timedelta(days=365), "day"),
}

# marked: the buckets of the range that an active mark of the series touches (end exclusive, so a mark
# ending on a bucket's start leaves that bucket alone). data_marks_active_device (migration 0027) finds them.
_MARKED_CTE = """
marked AS (
    SELECT DISTINCT b AS bucket
    FROM data_marks k,
         generate_series(date_bin(%(width)s, greatest(k.start_at, %(since)s), %(origin)s::timestamptz),
                         least(k.end_at - INTERVAL '1 microsecond', %(now)s), %(width)s) AS b
    WHERE k.state = 'active' AND k.device_id = %(device_id)s AND (k.pollutant IS NULL OR k.pollutant = %(pollutant)s)
      AND k.start_at <= %(now)s AND k.end_at > %(since)s
)"""
_AGGREGATE_ROWS = """
SELECT extract(epoch FROM a.bucket)::float8 AS t, a.value_avg, a.value_min, a.value_max, a.flag
FROM {view} a
WHERE a.device_id = %(device_id)s AND a.pollutant = %(pollutant)s AND a.basis = 'instant'
  AND a.bucket >= %(since)s AND a.bucket <= %(now)s"""
# How many buckets are marked, and since when the series has data in the range (readings_key answers it).
_PLAN_SQL = "WITH " + _MARKED_CTE + """
SELECT (SELECT count(*) FROM marked), (SELECT min(bucket) FROM marked), (SELECT max(bucket) FROM marked),
       (SELECT min(time) FROM readings WHERE device_id = %(device_id)s AND pollutant = %(pollutant)s
          AND basis = 'instant' AND time >= %(since)s AND time < %(until)s),
       (SELECT b + CASE WHEN b < %(since)s THEN %(width)s ELSE INTERVAL '0' END
          FROM date_bin(%(width)s, %(since)s, %(origin)s::timestamptz) AS b)
"""
# No marks: the aggregate's rows, exactly.
_UNMARKED_SQL = _AGGREGATE_ROWS + "\nORDER BY t"
# A few marked buckets: the aggregate for the others, the marked ones rolled up again after review.
_FEW_MARKED_SQL = "WITH " + _MARKED_CTE + ", " + rollup.SERIES_MARKS_CTE + _AGGREGATE_ROWS + """
  AND a.bucket NOT IN (SELECT bucket FROM marked)
UNION ALL
SELECT extract(epoch FROM r.bucket)::float8, r.value_avg, r.value_min, r.value_max, r.flag
FROM marked mb CROSS JOIN LATERAL ({rollup}) r
WHERE mb.bucket >= %(since)s AND mb.bucket <= %(now)s
ORDER BY t
"""
_MARKED_ROWS = "r.time >= mb.bucket AND r.time < mb.bucket + %(width)s"
# Marks on most buckets with data: one pass over the range's readings after review costs less than the
# aggregate plus a second reading of most of its rows (the aggregate is no cheaper than that pass on plain
# PostgreSQL, where it is a view over the readings).
# The rows are those of the range's buckets (from the first bucket starting at or after `since`): a condition on
# the buckets themselves would hide the row count from the planner, which then sorts instead of hashing.
_MOSTLY_MARKED_SQL = "WITH " + rollup.SERIES_MARKS_CTE + """
SELECT extract(epoch FROM r.bucket)::float8 AS t, r.value_avg, r.value_min, r.value_max, r.flag
FROM ({rollup}) r
ORDER BY t
"""
_RANGE_ROWS = "r.time >= %(first_bucket)s AND r.time < %(until)s"
# The share of the buckets with data from which one pass over the range is chosen.
ONE_PASS_SHARE = 0.5

# The finer aggregate a range's buckets are made of (view, width): a marked bucket is merged from the finer
# buckets no mark touches (aggregate rows, cheap where the aggregates are materialised) and the finer buckets a
# mark touches, rolled up again after review (a 2-hour mark on a day: 22 hourly rows and 2 hours of readings,
# not the day's readings).
# Days only: an hour merged from readings_1m read the month's minute rows of a continuous aggregate (1.6 s for a
# month with a mark every day, where rolling the 90 marked hours up again took 0.1 s).
FINER: dict[str, tuple[str, str]] = {"day": ("readings_1h", "hour")}
_MARKED_FINE_CTE = _MARKED_CTE.replace("marked AS", "marked_fine AS").replace("b AS bucket", "b AS fine") \
    .replace("%(width)s", "%(fwidth)s").replace("%(origin)s", "%(forigin)s")
_FINE_BUCKET = "date_bin(%(fwidth)s, time, %(forigin)s::timestamptz)"
_COARSE = "date_bin(%(width)s, {col}, %(origin)s::timestamptz)"
_PARTS_SQL = """
SELECT """ + _COARSE.format(col="f.bucket") + """ AS bucket, f.value_avg, f.value_min, f.value_max,
       f.sample_count, f.valid_count, f.flag
FROM {finer} f
WHERE f.device_id = %(device_id)s AND f.pollutant = %(pollutant)s AND f.basis = 'instant'
  AND f.bucket >= %(marked_from)s AND f.bucket < %(marked_until)s
  AND """ + _COARSE.format(col="f.bucket") + """ IN (SELECT bucket FROM marked)
  AND f.bucket NOT IN (SELECT fine FROM marked_fine)
UNION ALL
SELECT """ + _COARSE.format(col="r.bucket") + """, r.value_avg, r.value_min, r.value_max, r.sample_count,
       r.valid_count, r.flag
FROM marked_fine mf CROSS JOIN LATERAL ({rollup}) r
"""
_FINE_ROWS = "r.time >= mf.fine AND r.time < mf.fine + %(fwidth)s"
_COMPOSED_SQL = "WITH " + _MARKED_FINE_CTE + """,
marked AS (SELECT DISTINCT """ + _COARSE.format(col="fine") + """ AS bucket FROM marked_fine), """ \
    + rollup.SERIES_MARKS_CTE + _AGGREGATE_ROWS + """
  AND a.bucket NOT IN (SELECT bucket FROM marked)
UNION ALL
SELECT extract(epoch FROM m.bucket)::float8, m.value_avg, m.value_min, m.value_max, m.flag
FROM ({merged}) m
WHERE m.bucket >= %(since)s AND m.bucket <= %(now)s
ORDER BY t
"""

_DEVICE_IN_SCOPE = """
SELECT 1 FROM devices d JOIN sites s ON s.id = d.site_id
WHERE d.id = %(device_id)s AND s.code = %(site)s AND %(pollutant)s = ANY(d.pollutants) AND {scope}
"""


def range_spec(name: str) -> RangeSpec:
    """The spec of a range name; KeyError for an unknown one."""
    return RANGES[name]


def plan(marked_buckets: int, data_since: datetime | None, now: datetime, width: timedelta,
         composable: bool = False) -> str:
    """Which query serves a series: "aggregate" (no marks), "composed" (marked buckets merged from a finer
    aggregate), else "few_marked" or "mostly_marked" (one pass) by the share of marked buckets."""
    if marked_buckets == 0 or data_since is None:
        return "aggregate"
    if composable:
        return "composed"
    data_buckets = (now - data_since) // width + 1
    return "mostly_marked" if marked_buckets >= ONE_PASS_SHARE * data_buckets else "few_marked"


def series_sql(conn: psycopg.Connection, spec: RangeSpec, values: dict[str, Any]) -> str:
    """The query for a series, chosen by how many of its buckets are marked (values: its parameters)."""
    row = conn.execute(_PLAN_SQL, values).fetchone()
    assert row is not None  # one row, always
    marked, data_since = int(row[0]), row[3]
    # As values, not subqueries: a view over roll-up tables (plain PostgreSQL) passes them to its index.
    values.update(marked_from=row[1], marked_until=None if row[2] is None else row[2] + values["width"],
                  first_bucket=row[4])
    chosen = plan(marked, data_since, values["now"], values["width"], composable=spec.width in FINER)
    if chosen == "aggregate":
        return _UNMARKED_SQL.format(view=spec.view)
    if chosen == "composed":
        finer, fine_width = FINER[spec.width]
        values.update(fwidth=rollup.WIDTHS[fine_width], forigin=rollup.ORIGINS[fine_width])
        parts = _PARTS_SQL.format(finer=finer, rollup=rollup.series_rollup_sql(_FINE_ROWS, _FINE_BUCKET))
        return _COMPOSED_SQL.format(view=spec.view, merged=rollup.MERGE_PARTS_SQL.format(parts=parts))
    if chosen == "few_marked":
        return _FEW_MARKED_SQL.format(view=spec.view, rollup=rollup.series_rollup_sql(_MARKED_ROWS))
    return _MOSTLY_MARKED_SQL.format(rollup=rollup.series_rollup_sql(_RANGE_ROWS))


def load_series(
    conn: psycopg.Connection, user: User, *, site: str, device_id: int, pollutant: str, range_name: str, now: datetime
) -> dict[str, Any] | None:
    """Columns t (epoch s), avg, min, max, flag; None when the device is not the user's or lacks the pollutant."""
    scope, params = scope_clause(user, "s")
    found = conn.execute(
        _DEVICE_IN_SCOPE.format(scope=scope), {**params, "device_id": device_id, "site": site, "pollutant": pollutant}
    ).fetchone()
    if found is None:
        return None
    spec = range_spec(range_name)
    width = rollup.WIDTHS[spec.width]
    values = {"device_id": device_id, "pollutant": pollutant, "since": now - spec.span, "now": now,
              "until": now + width, "width": width, "origin": rollup.ORIGINS[spec.width]}
    with conn.transaction():
        # The per-bucket roll-ups are estimated far above what they cost, past jit_above_cost: compiling the
        # query took 205 ms of a 310 ms 365-day chart with 30 marks on plain PostgreSQL (EXPLAIN ANALYZE).
        conn.execute("SET LOCAL jit = off")
        rows = conn.execute(series_sql(conn, spec, values), values).fetchall()
    columns: dict[str, list[Any]] = {"t": [], "avg": [], "min": [], "max": [], "flag": []}
    for row in rows:
        for key, value in zip(columns, row, strict=True):
            columns[key].append(value)
    return {"range": range_name, "view": spec.view, **columns}
