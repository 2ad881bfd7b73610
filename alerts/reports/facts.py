"""Gather the facts of one alert from the database: plant, device, limit, event, readings, history, checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from alerts.reports import measures, series
from alerts.reports.checklists import checks_for
from alerts.reports.errors import ReportError
from alerts.reports.file_facts import gather_file
from alerts.reports.intervals import Width, interval_means
from alerts.reports.model import (
    Contact,
    DeviceFacts,
    EarlierAlert,
    EventFacts,
    EventLogEntry,
    LimitFacts,
    MarkedPeriod,
    NotificationEntry,
    PlantFacts,
    PollutantInfo,
    ReportFacts,
)
from envmon.catalogue import load_catalogue
from envmon.domain import LimitBasis
from envmon.registry.in_force import limit_in_force

_Facts = TypeVar("_Facts", LimitFacts, PlantFacts, DeviceFacts, EventFacts)

DEFAULT_ZONE = "Asia/Shanghai"
CHART_STEP = timedelta(minutes=1)
CO_STEP = timedelta(minutes=10)
EARLIER_ALERTS = 20
HOURS_BEFORE_BREACH = timedelta(hours=6)
MAX_HOUR_ROWS = 48

_ALERT_SQL = """
SELECT a.*, d.mn, d.kind AS device_kind, d.model, d.point_kind, d.point_name_zh, d.point_name_en,
       d.reporting_interval_seconds, d.installed_on, d.last_calibrated_on, d.pollutants AS device_pollutants,
       s.id AS site_id, s.code AS site_code, s.name_zh AS site_name_zh, s.name_en AS site_name_en, s.industry,
       s.permit_number, s.address_zh, s.address_en, s.eia_approval, s.notes AS site_notes, s.enforcement_notes,
       s.contacts, di.name_zh AS district_zh, di.name_en AS district_en
FROM alerts a JOIN devices d ON d.id = a.device_id JOIN sites s ON s.id = d.site_id
JOIN districts di ON di.code = s.district
WHERE a.id = %s
"""
# A limit by id: the one the alert was judged against.
_LIMIT_BY_ID_SQL = "SELECT * FROM limits WHERE id = %(limit_id)s"
_EARLIER_SQL = """
SELECT a.code, a.pollutant, a.rule, a.severity, a.state, a.opened_at, a.peak_value, a.disposition, a.note
FROM alerts a JOIN devices d ON d.id = a.device_id
WHERE d.site_id = %s AND a.opened_at < %s AND a.id <> %s
ORDER BY a.opened_at DESC LIMIT %s
"""
_NOTIFICATIONS_SQL = """
SELECT n.created_at, coalesce(r.name, ''), n.phone, n.reason, n.status, n.sent_at, n.error_code
FROM notifications n LEFT JOIN recipients r ON r.id = n.recipient_id
WHERE n.alert_id = %(id)s OR %(id)s = ANY(n.alert_ids)
ORDER BY n.created_at, n.id
"""
# Active data review marks of the device over the report's window: the report lists them, and says so when one
# covers the reading the alert was raised on (the alert and its SMS stand; docs/data-review.md).
_MARKS_SQL = """
SELECT d.mn, m.pollutant, m.start_at, m.end_at, m.reason, m.evidence, m.proposed_by, m.decided_by
FROM data_marks m JOIN devices d ON d.id = m.device_id
WHERE m.device_id = %s AND m.state = 'active' AND m.start_at < %s AND m.end_at > %s ORDER BY m.start_at, m.id
"""
_EVENTS_SQL = "SELECT time, from_state, to_state, actor, reason FROM alert_events WHERE alert_id = %s ORDER BY time, id"
_POLLUTANTS_SQL = "SELECT code, name_zh, name_en, canonical_unit FROM pollutants WHERE code = ANY(%s)"
# Fields of a facts block read from a query column of another name (the rest share their column's name).
_LIMIT_COLUMNS = {
    "limit_id": "id", "lower": "lower_value", "upper": "upper_value",
    "level2_lower": "level2_lower_value", "level2_upper": "level2_upper_value",
}
_PLANT_COLUMNS = {"code": "site_code", "name_zh": "site_name_zh", "name_en": "site_name_en", "notes": "site_notes"}
# Which readings basis the rule's peak is taken from.
_RULE_BASIS: dict[str, Width] = {"hour_avg": "hour", "day_avg": "day"}


def gather(conn: psycopg.Connection, alert_id: int, *, now: datetime, zone: str = DEFAULT_ZONE) -> ReportFacts:
    """Every fact of the alert's inspection report as of `now` (UTC, timezone-aware)."""
    row = _alert_row(conn, alert_id)
    names = pollutant_names(conn, [row["pollutant"], *row["device_pollutants"]])
    pollutant = names.get(row["pollutant"]) or PollutantInfo(row["pollutant"], row["pollutant"], row["pollutant"], "")
    limit = _limit(conn, row)
    start, end = measures.chart_window(row["first_breach_at"], row["resolved_at"], now)
    device_id = int(row["device_id"])
    main = series.read_series(conn, device_id, pollutant, start, end, CHART_STEP)
    return ReportFacts(
        generated_at=now,
        plant=plant_facts(row),
        device=_device(row),
        pollutant=pollutant,
        limit=limit,
        event=_event(conn, row, limit, now),
        window_start=start,
        window_end=end,
        series=main,
        co_series=tuple(
            series.read_series(conn, device_id, names[c], start, end, CO_STEP)
            for c in row["device_pollutants"]
            if c != pollutant.code and c in names
        ),
        hours=_hours(conn, row, limit, end),
        quality=series.read_quality(conn, device_id, pollutant.code, row["reporting_interval_seconds"], now, zone),
        earlier_alerts=_earlier(conn, row, names),
        notifications=_notifications(conn, alert_id),
        event_log=tuple(EventLogEntry(*r) for r in conn.execute(_EVENTS_SQL, (alert_id,)).fetchall()),
        checks=checks_for(pollutant.code, row["industry"], row["rule"]),
        file=gather_file(conn, alert_id=alert_id, site_id=row["site_id"], device_id=device_id,
                         pollutant=pollutant.code, limit_id=limit.limit_id if limit else None,
                         at=row["first_breach_at"], day=row["first_breach_at"].astimezone(ZoneInfo(zone)).date()),
        marks=_marks(conn, device_id, min(start, row["first_breach_at"]), max(end, row["first_breach_at"])),
    )


def _marks(conn: psycopg.Connection, device_id: int, start: datetime, end: datetime) -> tuple[MarkedPeriod, ...]:
    """The device's active review marks touching [start, end] (the first breach included, wherever it lies)."""
    rows = conn.execute(_MARKS_SQL, (device_id, end + timedelta(microseconds=1), start)).fetchall()
    return tuple(MarkedPeriod(*r) for r in rows)


def _alert_row(conn: psycopg.Connection, alert_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_ALERT_SQL, (alert_id,)).fetchone()
    if row is None:
        raise ReportError(f"no alert with id {alert_id}")
    return row


def pollutant_names(conn: psycopg.Connection, codes: Sequence[str]) -> dict[str, PollutantInfo]:
    """Catalogue names and canonical units of the given codes."""
    rows = conn.execute(_POLLUTANTS_SQL, (list(codes),)).fetchall()
    return {r[0]: PollutantInfo(r[0], r[1], r[2], r[3]) for r in rows}


def _limit(conn: psycopg.Connection, row: dict[str, Any]) -> LimitFacts | None:
    return applicable_limit(
        conn,
        limit_id=row["limit_id"],
        pollutant=row["pollutant"],
        device_id=row["device_id"],
        at=row["first_breach_at"],
        basis=_RULE_BASIS.get(row["rule"], "instant"),
    )


def applicable_limit(
    conn: psycopg.Connection,
    *,
    pollutant: str,
    device_id: int,
    at: datetime,
    basis: LimitBasis = "day",
    limit_id: int | None = None,
) -> LimitFacts | None:
    """The limit with id `limit_id`, else the one in force at `at` at the device (envmon.registry.in_force)."""
    params = {"limit_id": limit_id, "pollutant": pollutant, "device": device_id, "at": at}
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(_LIMIT_BY_ID_SQL if limit_id is not None else _in_force_sql(basis), params).fetchone()
    if found is None:
        return None
    return _from_row(LimitFacts, found, _LIMIT_COLUMNS)


def _in_force_sql(basis: LimitBasis) -> str:
    """The limit in force at the device, preferring the basis the rule evaluates."""
    chosen = limit_in_force((basis,), pollutant="%(pollutant)s", at="%(at)s")
    return f"SELECT l.* FROM devices d CROSS JOIN LATERAL {chosen} l WHERE d.id = %(device)s"


def plant_facts(row: dict[str, Any]) -> PlantFacts:
    """The plant block from a row with the site columns of the alert query (site_id, site_code, ...)."""
    contacts = tuple(Contact(c.get("name", ""), c.get("role", ""), c.get("phone", "")) for c in row["contacts"] or [])
    return _from_row(PlantFacts, row, _PLANT_COLUMNS, contacts=contacts)


def _device(row: dict[str, Any]) -> DeviceFacts:
    return _from_row(DeviceFacts, row, {"kind": "device_kind"})


def _event(conn: psycopg.Connection, row: dict[str, Any], limit: LimitFacts | None, now: datetime) -> EventFacts:
    peak_value, peak_at = _peak(conn, row, now)
    limit_value = row.get("limit_value") or (measures.limit_line(limit) if limit else None)
    return _from_row(
        EventFacts, row, {"alert_id": "id"},
        peak_value=peak_value,
        peak_at=peak_at,
        limit_value=limit_value,
        exceedance_multiple=measures.exceedance_multiple(peak_value, limit_value),
        value_to_limit=measures.value_to_limit(peak_value, limit_value),
        duration_seconds=measures.duration_seconds(row["first_breach_at"], row["resolved_at"], now),
        note=row.get("note"),
    )


def _from_row(cls: type[_Facts], row: Mapping[str, Any], columns: Mapping[str, str], **given: Any) -> _Facts:
    """A facts block: fields not `given` are read from `row`, under their own name unless `columns` renames them."""
    read = {f.name: row[columns.get(f.name, f.name)] for f in fields(cls) if f.name not in given}
    return cls(**read, **given)


def _peak(conn: psycopg.Connection, row: dict[str, Any], now: datetime) -> tuple[float | None, datetime | None]:
    """The highest valid value of the event on the rule's basis (readings, hourly or daily means); else the alert's."""
    end = row["resolved_at"] or now
    device, pollutant = int(row["device_id"]), str(row["pollutant"])
    width = _RULE_BASIS.get(row["rule"])
    if width is not None:
        means = [
            m for m in interval_means(conn, device, pollutant, width, row["first_breach_at"], end)
            if m.mean is not None and measures.is_valid_interval(pollutant, m.valid_count, m.flag)
        ]
        best = max(means, key=lambda m: (m.mean, -m.bucket.timestamp()), default=None)
        return (best.mean, best.bucket) if best else (row["peak_value"], row["peak_at"])
    found = conn.execute(
        "SELECT value, time FROM readings WHERE device_id = %s AND pollutant = %s AND basis = 'instant'"
        " AND flag = 'N' AND time >= %s AND time <= %s ORDER BY value DESC, time LIMIT 1",
        (device, pollutant, row["first_breach_at"], end),
    ).fetchone()
    return (float(found[0]), found[1]) if found else (row["peak_value"], row["peak_at"])


def _hours(conn: psycopg.Connection, row: dict[str, Any], limit: LimitFacts | None, end: datetime) -> tuple[Any, ...]:
    start = max(row["first_breach_at"] - HOURS_BEFORE_BREACH, end - timedelta(hours=MAX_HOUR_ROWS))
    start = start.replace(minute=0, second=0, microsecond=0)
    hours = series.read_hours(conn, int(row["device_id"]), row["pollutant"], start, end, limit)
    measured = measured_code_of(row["pollutant"])
    if measured is None:
        return hours
    return series.with_correction_inputs(conn, int(row["device_id"]), hours, measured, start, end)


def measured_code_of(code: str) -> str | None:
    """The measured code a corrected flue-gas code is derived from (a21026z -> a21026), else None."""
    catalogue = load_catalogue()
    return catalogue.get(code).corrected_from if code in catalogue else None


def _earlier(
    conn: psycopg.Connection, row: dict[str, Any], names: dict[str, PollutantInfo]
) -> tuple[EarlierAlert, ...]:
    rows = conn.execute(_EARLIER_SQL, (row["site_id"], row["opened_at"], row["id"], EARLIER_ALERTS)).fetchall()
    others = pollutant_names(conn, [r[1] for r in rows if r[1] not in names])
    known = {**names, **others}
    return tuple(
        EarlierAlert(r[0], known.get(r[1]) or PollutantInfo(r[1], r[1], r[1], ""), *r[2:]) for r in rows
    )


def _notifications(conn: psycopg.Connection, alert_id: int) -> tuple[NotificationEntry, ...]:
    return tuple(NotificationEntry(*r) for r in conn.execute(_NOTIFICATIONS_SQL, {"id": alert_id}).fetchall())
