"""Chart series from the 1-minute, 1-hour and 1-day aggregates, by range, scoped to the user, after data review.

The aggregates (migration 0004; TimescaleDB continuous aggregates) carry the logger's flags and cannot join
the review marks. So the buckets that an active mark touches are recomputed with envmon.rollup's roll-up over
`readings_reviewed`, and the aggregate serves every other bucket: an unmarked series reads exactly as
before, and a marked one pays for its marked buckets only.
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
_SQL = """
WITH marked AS (
    SELECT DISTINCT b AS bucket
    FROM data_marks k,
         generate_series(date_bin(%(width)s, greatest(k.start_at, %(since)s), %(origin)s::timestamptz),
                         least(k.end_at - INTERVAL '1 microsecond', %(now)s), %(width)s) AS b
    WHERE k.state = 'active' AND k.device_id = %(device_id)s AND (k.pollutant IS NULL OR k.pollutant = %(pollutant)s)
      AND k.start_at <= %(now)s AND k.end_at > %(since)s
)
SELECT extract(epoch FROM a.bucket)::float8 AS t, a.value_avg, a.value_min, a.value_max, a.flag
FROM {view} a
WHERE a.device_id = %(device_id)s AND a.pollutant = %(pollutant)s AND a.basis = 'instant'
  AND a.bucket >= %(since)s AND a.bucket <= %(now)s AND a.bucket NOT IN (SELECT bucket FROM marked)
UNION ALL
SELECT extract(epoch FROM r.bucket)::float8, r.value_avg, r.value_min, r.value_max, r.flag
FROM marked mb CROSS JOIN LATERAL ({rollup}) r
WHERE mb.bucket >= %(since)s AND mb.bucket <= %(now)s
ORDER BY t
"""
_MARKED_ROWS = (
    "device_id = %(device_id)s AND pollutant = %(pollutant)s AND time >= mb.bucket AND time < mb.bucket + %(width)s"
)

_DEVICE_IN_SCOPE = """
SELECT 1 FROM devices d JOIN sites s ON s.id = d.site_id
WHERE d.id = %(device_id)s AND s.code = %(site)s AND %(pollutant)s = ANY(d.pollutants) AND {scope}
"""


def range_spec(name: str) -> RangeSpec:
    """The spec of a range name; KeyError for an unknown one."""
    return RANGES[name]


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
    rows = conn.execute(
        _SQL.format(view=spec.view, rollup=rollup.rollup_sql(_MARKED_ROWS)),
        {"device_id": device_id, "pollutant": pollutant, "since": now - spec.span, "now": now,
         "width": rollup.WIDTHS[spec.width], "origin": rollup.ORIGINS[spec.width]},
    ).fetchall()
    columns: dict[str, list[Any]] = {"t": [], "avg": [], "min": [], "max": [], "flag": []}
    for row in rows:
        for key, value in zip(columns, row, strict=True):
            columns[key].append(value)
    return {"range": range_name, "view": spec.view, **columns}
