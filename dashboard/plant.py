"""A plant's page: its devices with their latest values, unit, limit, flag after review and age, scoped to the user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard.access import User, scope_clause
from envmon.limit_lines import LimitLine, limit_lines, line_value
from envmon.registry.in_force import limit_in_force


@dataclass(frozen=True, slots=True)
class Plant:
    """A plant as people name and place it: what an administrator enters, what a map tile shows."""

    code: str
    name_zh: str
    name_en: str
    district: str
    industry: str
    latitude: float | None
    longitude: float | None

_SITE = """
SELECT s.id, s.code, s.name_zh, s.name_en, s.district, s.industry, s.permit_number, s.address_zh, s.address_en,
       s.latitude, s.longitude, t.name_zh AS district_name_zh, t.name_en AS district_name_en
FROM sites s JOIN districts t ON t.code = s.district WHERE s.code = %(code)s AND {scope}
"""

# The latest instantaneous value of each pollutant of each device with its flag after data review (and the
# review mark's reason, when an active mark covers it; migration 0024), and the limit in force now
# (envmon/registry/in_force.py), an instantaneous limit before an hourly before a daily one.
# The value is looked for at or after %(since)s (now - RECENT) only; older ones are found by _older_newest.
_DEVICES = """
SELECT d.id AS device_id, d.mn, d.kind, d.point_name_zh, d.point_name_en, d.transport, d.reporting_interval_seconds,
       ds.last_seen_at, p.code AS pollutant, p.name_zh AS pollutant_zh, p.name_en AS pollutant_en,
       p.canonical_unit AS unit, r.time, r.value, r.flag, r.logger_flag, r.mark_reason, r.mark_id,
       l.scheme, l.upper_value, l.lower_value, l.direction, l.warning_ratio, l.level2_lower_value, l.level2_upper_value,
       l.basis AS limit_basis, l.source AS limit_source
FROM devices d
LEFT JOIN device_state ds ON ds.device_id = d.id
CROSS JOIN LATERAL unnest(d.pollutants) WITH ORDINALITY AS dp(code, position)
JOIN pollutants p ON p.code = dp.code
LEFT JOIN LATERAL (
    SELECT time, value, flag, logger_flag, mark_reason, mark_id FROM readings_reviewed
    WHERE device_id = d.id AND pollutant = dp.code AND basis = 'instant' AND time >= %(since)s
    ORDER BY time DESC LIMIT 1
) r ON true
LEFT JOIN LATERAL {limit} l ON true
WHERE d.site_id = %(site_id)s AND d.active
ORDER BY d.mn, dp.position
""".format(limit=limit_in_force(("instant", "hour", "day")))


# Why a window: unbounded, TimescaleDB planned every chunk of the hypertable for each series' lookup (57 ms of
# planning and 1 ms of execution with 121 chunks, most compressed; a year has over 365), and with time second
# in the readings key a series that stopped reporting would walk its device's whole history. A constant lower
# bound lets the planner drop the older chunks and stops the index walk; a day covers every reporting interval.
RECENT = timedelta(days=1)

# Of each series (device_id, pollutant, before): the newest daily bucket holding any reading before `before` (the
# roll-up counts every reading, whatever its flag; migrations 0004, 0032). A roll-up behind the readings names an
# earlier day, never a later one.
_NEWEST_DAYS = """
SELECT s.device_id, s.pollutant, s.before, d.day
FROM unnest(%(device_ids)s::int[], %(pollutants)s::text[], %(befores)s::timestamptz[])
     AS s(device_id, pollutant, before)
CROSS JOIN LATERAL (
    SELECT max(bucket) AS day FROM readings_1d
    WHERE device_id = s.device_id AND pollutant = s.pollutant AND basis = 'instant' AND bucket < s.before
) d
WHERE d.day IS NOT NULL
"""
# The newest reading of each series in [day, before), constants so that TimescaleDB plans only those chunks.
_NEWEST_BETWEEN = """
SELECT s.device_id, s.pollutant, r.time, r.value, r.flag, r.logger_flag, r.mark_reason, r.mark_id
FROM unnest(%(device_ids)s::int[], %(pollutants)s::text[]) AS s(device_id, pollutant)
CROSS JOIN LATERAL (
    SELECT time, value, flag, logger_flag, mark_reason, mark_id FROM readings_reviewed
    WHERE device_id = s.device_id AND pollutant = s.pollutant AND basis = 'instant'
      AND time >= %(day)s AND time < %(before)s
    ORDER BY time DESC LIMIT 1
) r
"""
_READING_COLUMNS = ("time", "value", "flag", "logger_flag", "mark_reason", "mark_id")
Series = tuple[int, str]


def load_plant(conn: psycopg.Connection, user: User, code: str, *, now: datetime) -> dict[str, Any] | None:
    """The plant and its devices' latest values, or None when missing or outside the user's scope."""
    scope, params = scope_clause(user, "s")
    with conn.cursor(row_factory=dict_row) as cur:
        site = cur.execute(_SITE.format(scope=scope), {**params, "code": code}).fetchone()
        if site is None:
            return None
        since = now - RECENT
        # Never prepared: a generic plan cannot drop chunks at planning time, and psycopg prepares a statement on
        # its 6th run (planning a generic plan over every chunk took 0.3-0.4 s once per connection, then ran slower).
        rows = cur.execute(_DEVICES, {"site_id": site["id"], "now": now, "since": since}, prepare=False).fetchall()
        quiet = [(row["device_id"], row["pollutant"]) for row in rows if row["time"] is None]  # or never reported
        older = _older_newest(cur, quiet, since) if quiet else {}
        for row in rows:
            row.update(older.get((row["device_id"], row["pollutant"]), {}))
    for row in rows:
        row["age_seconds"] = (now - row["time"]).total_seconds() if row["time"] else None
        lines = row_lines(row)
        row["lines"] = [{"kind": line.kind, "value": line.value} for line in lines]
        row["warning_value"] = line_value(lines, "level1" if row["scheme"] == "gas_alarm" else "warning")
    return {"site": site, "readings": rows}


def _older_newest(cur: psycopg.Cursor[dict[str, Any]], series: list[Series],
                  before: datetime) -> dict[Series, dict[str, Any]]:
    """readings_reviewed's newest instantaneous reading of each series before `before` (none when it has none).

    The daily roll-up names each series' newest day with a reading, and [that day, before) is searched, one query
    per distinct day (a device gone quiet has one for all its series); exact when the roll-up lags (it can only name
    an earlier day). Bounded by how long the series has been quiet: one index descent with the readings key
    (device_id, pollutant, basis, time); with time second in the key, the device's readings since that day. A day
    whose readings were deleted since it was rolled up moves that series' search to the days before it.
    """
    found: dict[Series, dict[str, Any]] = {}
    pending = dict.fromkeys(series, before)
    while pending:
        windows: dict[tuple[datetime, datetime], list[Series]] = {}
        for row in cur.execute(_NEWEST_DAYS, {"device_ids": [s[0] for s in pending],
                                              "pollutants": [s[1] for s in pending],
                                              "befores": list(pending.values())}, prepare=False).fetchall():
            windows.setdefault((row["day"], row["before"]), []).append((row["device_id"], row["pollutant"]))
        pending = {}
        for (day, upto), members in windows.items():
            rows = cur.execute(_NEWEST_BETWEEN, {"device_ids": [m[0] for m in members],
                                                 "pollutants": [m[1] for m in members], "day": day, "before": upto},
                               prepare=False)
            for row in rows.fetchall():
                found[(row["device_id"], row["pollutant"])] = {k: row[k] for k in _READING_COLUMNS}
            pending.update(dict.fromkeys((m for m in members if m not in found), day))
    return found


def row_lines(row: dict[str, Any]) -> tuple[LimitLine, ...]:
    """The chart lines of a row's limit (envmon.limit_lines: the same lines the report draws); none without one."""
    if row.get("scheme") is None:
        return ()
    return limit_lines(
        scheme=row["scheme"], direction=row["direction"], lower=row["lower_value"], upper=row["upper_value"],
        warning_ratio=row["warning_ratio"], level2_lower=row["level2_lower_value"],
        level2_upper=row["level2_upper_value"],
    )
