"""What an export holds: readings (raw, hourly and daily means), alerts with their timelines, notifications.

Each kind is one SQL query over the user's scope (access.scope_clause) and one target (a plant, a device
or a district) in a time range, with its columns typed for the spreadsheet. The CSV writer runs the query
inside PostgreSQL's COPY, so the server formats the rows and Python only passes bytes on; the XLSX writer
reads the same query through a server-side cursor. Neither holds more than a block of rows.
Times are shown in the local zone, as everywhere else on the dashboard; the header names the zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from alerts.people import DISPOSITIONS
from dashboard.access import User, scope_clause
from envmon import rollup
from envmon.domain import ALERT_STATES as STATES
from envmon.domain import SEVERITIES, VALID_INTERVAL_SQL
from envmon.review import REASONS
from envmon.words import text, word

ExportKind = Literal["readings", "hourly", "daily", "alerts", "notifications"]
KINDS: tuple[ExportKind, ...] = ("readings", "hourly", "daily", "alerts", "notifications")
# "code": a registry code, catalogue word or flag (never typed freely, so never a formula); "text": free text.
ColumnType = Literal["time", "number", "int", "code", "text"]
# Rows fetched per round trip by the XLSX path: large enough to amortise the trip, small enough to stay flat.
FETCH_ROWS = 5000
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "delivered", "failed", "undelivered", "suppressed")
# The engine's rule names (alerts/rules/frame.py SERIES_RULES, DEVICE_FLAG_RULES, and the silent-device timer).
RULE_CODES = ("instant", "gas", "zero_flow", "constant", "negative", "implausible", "hour_avg", "day_avg", "flag",
              "manual", "silent")


class ExportError(Exception):
    """An export request that cannot be answered as asked (bad range, no target)."""


@dataclass(frozen=True, slots=True)
class ExportTarget:
    """What to export: one plant, one device (MN), or one district; the time range is [start, end)."""

    site: str | None
    device: str | None
    district: str | None
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its catalogue key (the header) and its type (how the spreadsheet stores it)."""

    key: str
    type: ColumnType


def _cols(*pairs: tuple[str, ColumnType]) -> tuple[Column, ...]:
    return tuple(Column(key, kind) for key, kind in pairs)


_INTERVAL_COLUMNS = _cols(
    ("export_bucket", "time"), ("plant", "code"), ("device", "code"), ("export_pollutant_code", "code"),
    ("pollutant", "code"), ("export_mean", "number"), ("export_min", "number"), ("export_max", "number"),
    ("unit", "code"), ("export_samples", "int"), ("export_valid_samples", "int"), ("flag", "code"),
    ("export_valid", "code"), ("export_marked_samples", "int"), ("export_marks", "text"),
)
COLUMNS: dict[ExportKind, tuple[Column, ...]] = {
    "readings": _cols(
        ("export_time", "time"), ("plant", "code"), ("device", "code"), ("export_pollutant_code", "code"),
        ("pollutant", "code"), ("value", "number"), ("unit", "code"), ("flag", "code"), ("export_valid", "code"),
        ("received_at", "time"), ("export_logger_flag", "code"), ("export_mark_reason", "code"),
        ("export_marks", "text"),
    ),
    "hourly": _INTERVAL_COLUMNS,
    "daily": _INTERVAL_COLUMNS,
    "alerts": _cols(
        ("export_alert", "code"), ("plant", "code"), ("export_plant_name", "text"), ("device", "code"),
        ("pollutant", "code"), ("severity", "code"), ("export_rule", "code"), ("opened_at", "time"),
        ("export_peak", "number"), ("limit", "number"), ("state", "code"), ("export_event_time", "time"),
        ("export_from_state", "code"), ("export_to_state", "code"), ("export_actor", "text"), ("reason", "text"),
        ("disposition", "code"), ("note", "text"),
    ),
    "notifications": _cols(
        ("export_created", "time"), ("export_alert", "code"), ("plant", "code"), ("device", "code"),
        ("phone", "code"), ("reason", "text"), ("export_status", "code"), ("export_attempts", "int"),
        ("export_error_code", "text"), ("export_sent", "time"), ("export_provider_id", "text"),
        ("export_body", "text"),
    ),
}

_TARGET_SITES = "SELECT s.id FROM sites s WHERE {scope} AND {target}"
_TARGET_DEVICES = "SELECT d.id FROM devices d JOIN sites s ON s.id = d.site_id WHERE {scope} AND {target}"

# Flags after data review (readings_reviewed, migration 0024), with the logger's flag, the mark's reason and
# the mark itself (#id and evidence) beside each marked value.
_READINGS = """
SELECT (r.time AT TIME ZONE %(zone)s), s.code, d.mn, r.pollutant, coalesce(p.{name}, r.pollutant), r.value,
       p.canonical_unit, r.flag, CASE WHEN r.flag = 'N' THEN %(yes)s ELSE %(no)s END,
       (r.received_at AT TIME ZONE %(zone)s), r.logger_flag,
       coalesce(%(mark_reasons)s::jsonb ->> r.mark_reason, r.mark_reason), '#' || k.id || ': ' || k.evidence
FROM readings_reviewed r JOIN devices d ON d.id = r.device_id JOIN sites s ON s.id = d.site_id
LEFT JOIN pollutants p ON p.code = r.pollutant
LEFT JOIN data_marks k ON k.id = r.mark_id
WHERE r.device_id IN ({devices}) AND r.basis = 'instant' AND r.time >= %(start)s AND r.time < %(end)s
ORDER BY r.device_id, r.pollutant, r.time
"""

# envmon.rollup's roll-up over [start, end), with the marks of each bucket that has marked values.
_INTERVALS = """
SELECT (m.bucket AT TIME ZONE %(zone)s), s.code, d.mn, m.pollutant, coalesce(p.{name}, m.pollutant),
       m.value_avg, m.value_min, m.value_max, p.canonical_unit, m.sample_count, m.valid_count, m.flag,
       CASE WHEN {valid} THEN %(yes)s ELSE %(no)s END, m.marked_count,
       CASE WHEN m.marked_count > 0 THEN {marks} END
FROM ({rollup}) m JOIN devices d ON d.id = m.device_id JOIN sites s ON s.id = d.site_id
LEFT JOIN pollutants p ON p.code = m.pollutant
ORDER BY m.device_id, m.pollutant, m.bucket
"""

_ALERTS = """
SELECT a.code, s.code, s.{name}, d.mn, coalesce(p.{name}, a.pollutant),
       coalesce(%(severities)s::jsonb ->> a.severity, a.severity), coalesce(%(rules)s::jsonb ->> a.rule, a.rule),
       (a.opened_at AT TIME ZONE %(zone)s), a.peak_value, a.limit_value,
       coalesce(%(states)s::jsonb ->> a.state, a.state), (e.time AT TIME ZONE %(zone)s),
       coalesce(%(states)s::jsonb ->> e.from_state, e.from_state),
       coalesce(%(states)s::jsonb ->> e.to_state, e.to_state),
       e.actor, e.reason,
       coalesce(%(dispositions)s::jsonb ->> (e.detail ->> 'disposition'), e.detail ->> 'disposition'),
       e.detail ->> 'note'
FROM alerts a JOIN devices d ON d.id = a.device_id JOIN sites s ON s.id = d.site_id
LEFT JOIN pollutants p ON p.code = a.pollutant
LEFT JOIN alert_events e ON e.alert_id = a.id
WHERE a.device_id IN ({devices}) AND a.opened_at >= %(start)s AND a.opened_at < %(end)s
ORDER BY a.opened_at, a.id, e.time, e.id
"""

_NOTIFICATIONS = """
SELECT (n.created_at AT TIME ZONE %(zone)s), a.code, s.code, d.mn, n.phone, n.reason,
       coalesce(%(statuses)s::jsonb ->> n.status, n.status), n.attempts, n.error_code,
       (n.sent_at AT TIME ZONE %(zone)s), n.provider_id, n.body
FROM notifications n JOIN alerts a ON a.id = n.alert_id JOIN devices d ON d.id = a.device_id
JOIN sites s ON s.id = d.site_id
WHERE a.device_id IN ({devices}) AND n.created_at >= %(start)s AND n.created_at < %(end)s
ORDER BY n.created_at, n.id
"""

_WIDTHS: dict[ExportKind, tuple[timedelta, str]] = {
    "hourly": (rollup.WIDTHS["hour"], rollup.ORIGINS["hour"]),
    "daily": (rollup.WIDTHS["day"], rollup.ORIGINS["day"]),
}


def parse_range(start_text: str, end_text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC from local dates or date-times; a date-only end includes that whole day."""
    start = _parse_local(start_text, zone, end_of_day=False)
    end = _parse_local(end_text, zone, end_of_day=True)
    if end <= start:
        raise ExportError("the range ends before it starts")
    return start, end


def _parse_local(value: str, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    value = value.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            at = datetime.combine(day + timedelta(days=1) if end_of_day else day, time(0), zone)
        else:
            at = datetime.fromisoformat(value)
            at = at if at.tzinfo is not None else at.replace(tzinfo=zone)
    except ValueError as exc:
        raise ExportError(f"not a date or time: {value!r}") from exc
    return at


def target_condition(target: ExportTarget) -> tuple[str, dict[str, object]]:
    """The SQL condition (on sites s, devices d) of the target's plant, device and district."""
    conds: list[str] = []
    params: dict[str, object] = {}
    for name, column in (("site", "s.code"), ("district", "s.district")):
        value = getattr(target, name)
        if value:
            conds.append(f"{column} = %(t_{name})s")
            params[f"t_{name}"] = value
    if target.device:
        conds.append("s.id IN (SELECT site_id FROM devices WHERE mn = %(t_device)s)")
        params["t_device"] = target.device
    if not conds:
        raise ExportError("name a plant, a device or a district")
    return " AND ".join(conds), params


def is_target_visible(conn: psycopg.Connection, user: User, target: ExportTarget) -> bool:
    """True when the target names something in the user's scope (an export outside it is 'not found')."""
    scope, params = scope_clause(user, "s")
    condition, tparams = target_condition(target)
    row = conn.execute(f"SELECT EXISTS ({_TARGET_SITES.format(scope=scope, target=condition)})",
                       {**params, **tparams}).fetchone()
    return bool(row and row[0])


def export_query(
    user: User, target: ExportTarget, kind: ExportKind, *, locale: str, zone: str
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of one export (the same for CSV and XLSX)."""
    scope, params = scope_clause(user, "s")
    condition, tparams = target_condition(target)
    devices = _TARGET_DEVICES.format(scope=scope, target=condition)
    if target.device:
        devices += " AND d.mn = %(t_device)s"
    name = "name_en" if locale == "en" else "name_zh"
    values: dict[str, Any] = {
        **params, **tparams, "zone": zone, "start": target.start, "end": target.end,
        "yes": text(locale, "page.export_yes"), "no": text(locale, "page.export_no"),
        **{group: Jsonb(mapping) for group, mapping in words(locale).items()},
    }
    if kind in _WIDTHS:
        values["width"], values["origin"] = _WIDTHS[kind]
        # VALID_INTERVAL_SQL names valid_count, flag and pollutant unqualified: only the subquery m has them.
        rows = f"device_id IN ({devices}) AND time >= %(start)s AND time < %(end)s"
        return _INTERVALS.format(name=name, valid=VALID_INTERVAL_SQL, marks=rollup.marks_of_bucket_sql("m"),
                                 rollup=rollup.rollup_sql(rows)), values
    sql = {"readings": _READINGS, "alerts": _ALERTS, "notifications": _NOTIFICATIONS}[kind]
    return sql.format(name=name, devices=devices), values


def words(locale: str) -> dict[str, dict[str, str]]:
    """Severity, state, rule and delivery-status codes as people read them, from the catalogue."""
    return {
        "severities": {code: word(locale, "severity", code) for code in SEVERITIES},
        "states": {code: word(locale, "state", code) for code in STATES},
        "rules": {code: word(locale, "rule", code) for code in RULE_CODES},
        "statuses": {code: word(locale, "delivery", code) for code in NOTIFICATION_STATUSES},
        "dispositions": {code: word(locale, "disposition", code) for code in DISPOSITIONS},
        "mark_reasons": {code: word(locale, "mark_reason", code) for code in REASONS},
    }


def headers(kind: ExportKind, *, locale: str, zone: str) -> list[str]:
    """The header row: each column's catalogue text, time columns naming the zone."""
    return [text(locale, "page." + c.key) + (f" ({zone})" if c.type == "time" else "") for c in COLUMNS[kind]]


def stream_rows(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The query's rows through a server-side cursor, FETCH_ROWS at a time (its own transaction)."""
    with conn.transaction(), conn.cursor(name="envmon_export") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(sql, params)
        yield from cur


def copy_csv(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> Iterator[bytes]:
    """The query's rows as CSV bytes, formatted by PostgreSQL's COPY (one buffer per row as libpq gives it)."""
    with conn.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
        for data in copy:
            yield bytes(data)
