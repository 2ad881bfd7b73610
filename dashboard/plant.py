"""A plant's page: its devices with their latest values, unit, limit, flag after review and age, scoped to the user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard.access import User, scope_clause
from envmon.limit_lines import LimitLine, limit_lines, line_value
from envmon.registry.in_force import limit_in_force

_SITE = """
SELECT s.id, s.code, s.name_zh, s.name_en, s.district, s.industry, s.permit_number, s.address_zh, s.address_en,
       s.latitude, s.longitude, t.name_zh AS district_name_zh, t.name_en AS district_name_en
FROM sites s JOIN districts t ON t.code = s.district WHERE s.code = %(code)s AND {scope}
"""

# The latest instantaneous value of each pollutant of each device with its flag after data review (and the
# review mark's reason, when an active mark covers it; migration 0024), and the limit in force now
# (envmon/registry/in_force.py), an instantaneous limit before an hourly before a daily one.
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
    WHERE device_id = d.id AND pollutant = dp.code AND basis = 'instant' ORDER BY time DESC LIMIT 1
) r ON true
LEFT JOIN LATERAL {limit} l ON true
WHERE d.site_id = %(site_id)s AND d.active
ORDER BY d.mn, dp.position
""".format(limit=limit_in_force(("instant", "hour", "day")))


def load_plant(conn: psycopg.Connection, user: User, code: str, *, now: datetime) -> dict[str, Any] | None:
    """The plant and its devices' latest values, or None when missing or outside the user's scope."""
    scope, params = scope_clause(user, "s")
    with conn.cursor(row_factory=dict_row) as cur:
        site = cur.execute(_SITE.format(scope=scope), {**params, "code": code}).fetchone()
        if site is None:
            return None
        rows = cur.execute(_DEVICES, {"site_id": site["id"], "now": now}).fetchall()
    for row in rows:
        row["age_seconds"] = (now - row["time"]).total_seconds() if row["time"] else None
        lines = row_lines(row)
        row["lines"] = [{"kind": line.kind, "value": line.value} for line in lines]
        row["warning_value"] = line_value(lines, "level1" if row["scheme"] == "gas_alarm" else "warning")
    return {"site": site, "readings": rows}


def row_lines(row: dict[str, Any]) -> tuple[LimitLine, ...]:
    """The chart lines of a row's limit (envmon.limit_lines: the same lines the report draws); none without one."""
    if row.get("scheme") is None:
        return ()
    return limit_lines(
        scheme=row["scheme"], direction=row["direction"], lower=row["lower_value"], upper=row["upper_value"],
        warning_ratio=row["warning_ratio"], level2_lower=row["level2_lower_value"],
        level2_upper=row["level2_upper_value"],
    )
