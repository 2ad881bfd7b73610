"""Chart series from the 1-minute, 1-hour and 1-day aggregates, by range, scoped to the user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from dashboard.access import User, scope_clause


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """Which aggregate serves a range and how far back it reaches."""

    view: str
    span: timedelta


# About 60 to 1,440 points per range: enough for a line, little enough for a phone.
RANGES: dict[str, RangeSpec] = {
    "1h": RangeSpec("readings_1m", timedelta(hours=1)),
    "24h": RangeSpec("readings_1m", timedelta(hours=24)),
    "7d": RangeSpec("readings_1h", timedelta(days=7)),
    "30d": RangeSpec("readings_1h", timedelta(days=30)),
}
DAILY_RANGES: dict[str, RangeSpec] = {"365d": RangeSpec("readings_1d", timedelta(days=365))}

_SQL = """
SELECT extract(epoch FROM a.bucket)::float8, a.value_avg, a.value_min, a.value_max, a.flag
FROM {view} a
WHERE a.device_id = %(device_id)s AND a.pollutant = %(pollutant)s AND a.basis = 'instant'
  AND a.bucket >= %(since)s AND a.bucket <= %(now)s
ORDER BY a.bucket
"""

_DEVICE_IN_SCOPE = """
SELECT 1 FROM devices d JOIN sites s ON s.id = d.site_id
WHERE d.id = %(device_id)s AND s.code = %(site)s AND %(pollutant)s = ANY(d.pollutants) AND {scope}
"""


def range_spec(name: str) -> RangeSpec:
    """The spec of a range name; KeyError for an unknown one."""
    return RANGES[name] if name in RANGES else DAILY_RANGES[name]


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
        _SQL.format(view=spec.view),
        {"device_id": device_id, "pollutant": pollutant, "since": now - spec.span, "now": now},
    ).fetchall()
    columns: dict[str, list[Any]] = {"t": [], "avg": [], "min": [], "max": [], "flag": []}
    for row in rows:
        for key, value in zip(columns, row, strict=True):
            columns[key].append(value)
    return {"range": range_name, "view": spec.view, **columns}
