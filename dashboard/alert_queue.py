"""The alert queue and alert detail, scoped to the user's plants, and people's actions on alerts.

Actions go through alerts.people, the alerts package's interface for people (the lifecycle decides, in
one transaction, and live views are told through envmon_events); the dashboard never writes alert rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts import people
from alerts.people import DISPOSITIONS, LifecycleError, NoticeFact, suppression_reason
from dashboard.access import User, can, scope_clause
from dashboard.deps import Forbidden, NotFound
from dashboard.errors import DashboardError
from envmon.domain import ALERT_STATES

STATES = ALERT_STATES
QUEUE_LIMIT = 500
# The disposition preselected on the acknowledge form: the likeliest answer for the alert's kind. A pollution
# alert is most often a confirmed exceedance; a device alert a device fault; a gas alarm a real alarm, which
# "确认超标" (confirmed exceedance) misnames, so "confirmed" carries the label of the kind.
DEFAULT_DISPOSITION: dict[str, str] = {"pollution": "confirmed", "safety": "confirmed", "device": "device_fault"}
CONFIRMED_LABEL: dict[str, str] = {"pollution": "confirmed", "safety": "confirmed_alarm", "device": "confirmed_fault"}


class ActionRefused(DashboardError):
    """An action that is not taken: ActionForbidden (the person may not) or ActionConflict (the alert's state)."""


class ActionForbidden(ActionRefused):
    """The role may not take this action, or not with this disposition."""


class ActionConflict(ActionRefused):
    """The alert's state does not allow the action (e.g. resolving a latched alert before acknowledging it)."""


def take_action(action: Callable[[], object], alert_id: int) -> None:
    """Run an alert action for a route: an unknown alert is NotFound, a refused role Forbidden; ActionConflict
    passes through (the API answers 409, pages show the alert with a notice)."""
    try:
        action()
    except LookupError as exc:
        raise NotFound(alert_id) from exc
    except ActionForbidden as exc:
        raise Forbidden(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The queue's filters; None means any. state 'active' is open, escalated or acknowledged."""

    severity: str | None = None
    state: str | None = "active"
    district: str | None = None
    site: str | None = None


_COLUMNS = """
a.id, a.code, a.severity, a.state, a.category, a.rule, a.pollutant, a.opened_at, a.acknowledged_at,
a.acknowledged_by, a.disposition, a.resolved_at, a.peak_value, a.last_value, a.limit_value, a.latched,
a.condition_active, a.escalation_level, a.note, d.id AS device_id, d.mn, d.point_name_zh, d.point_name_en,
s.code AS site_code, s.name_zh AS site_name_zh, s.name_en AS site_name_en, s.district,
coalesce(p.name_zh, a.pollutant) AS pollutant_zh, coalesce(p.name_en, a.pollutant) AS pollutant_en,
lim.source AS limit_source, lim.permit_id IS NOT NULL AS limit_from_permit
"""
_FROM = ("FROM alerts a JOIN devices d ON d.id = a.device_id JOIN sites s ON s.id = d.site_id"
         " LEFT JOIN pollutants p ON p.code = a.pollutant LEFT JOIN limits lim ON lim.id = a.limit_id")


def queue_conditions(f: QueueFilter) -> tuple[list[str], dict[str, object]]:
    """SQL conditions and parameters for the filters."""
    conds: list[str] = []
    params: dict[str, object] = {}
    if f.state == "active":
        conds.append("a.state IN ('open', 'escalated', 'acknowledged')")
    elif f.state:
        conds.append("a.state = %(state)s")
        params["state"] = f.state
    for name, column in (("severity", "a.severity"), ("district", "s.district"), ("site", "s.code")):
        value = getattr(f, name)
        if value:
            conds.append(f"{column} = %({name})s")
            params[name] = value
    return conds, params


def list_alerts(conn: psycopg.Connection, user: User, f: QueueFilter) -> list[dict[str, Any]]:
    """Alerts matching the filters in the user's scope, newest first."""
    scope, params = scope_clause(user, "s")
    conds, fparams = queue_conditions(f)
    where = " AND ".join([scope, *conds])
    sql = f"SELECT {_COLUMNS} {_FROM} WHERE {where} ORDER BY a.opened_at DESC, a.id DESC LIMIT {QUEUE_LIMIT}"
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, {**params, **fparams}).fetchall()


def load_alert_row(conn: psycopg.Connection, user: User, alert_id: int) -> dict[str, Any] | None:
    """One alert with its device and plant, or None when missing or outside the user's scope."""
    scope, params = scope_clause(user, "s")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} {_FROM} WHERE a.id = %(id)s AND {scope}", {**params, "id": alert_id}
        ).fetchone()


# Active data review marks over the alert's data (its device and pollutant, from the opening to the end): marks
# come after the fact and retract nothing (the alert stands, its SMS went out), but the page says so.
_MARKS = """
SELECT k.id, k.pollutant, k.start_at, k.end_at, k.reason, k.evidence, k.proposed_by, k.decided_by
FROM data_marks k
WHERE k.state = 'active' AND k.device_id = %(device)s AND (k.pollutant IS NULL OR k.pollutant = %(pollutant)s)
  AND k.end_at > %(opened)s AND (%(resolved)s::timestamptz IS NULL OR k.start_at <= %(resolved)s)
ORDER BY k.start_at, k.id
"""


def load_alert_detail(conn: psycopg.Connection, user: User, alert_id: int) -> dict[str, Any] | None:
    """The alert, its timeline, its notifications with delivery status and its report versions."""
    alert = load_alert_row(conn, user, alert_id)
    if alert is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        events = cur.execute(
            "SELECT time, from_state, to_state, actor, reason, detail FROM alert_events WHERE alert_id = %s"
            " ORDER BY time, id", (alert_id,)).fetchall()
        notes = cur.execute(
            "SELECT n.id, n.created_at, n.sent_at, n.phone, n.reason, n.status, n.error_code, n.attempts,"
            " n.escalation_step, r.name AS recipient,"
            " CASE WHEN n.status = 'suppressed' THEN n.last_error END AS suppressed_by"
            " FROM notifications n LEFT JOIN recipients r ON r.id = n.recipient_id"
            " WHERE n.alert_id = %(id)s OR %(id)s = ANY(n.alert_ids) ORDER BY n.created_at, n.id",
            {"id": alert_id}).fetchall()
        reports = cur.execute(
            "SELECT id, version, locale, status, reason, generated_at FROM reports WHERE alert_id = %s"
            " ORDER BY version, locale", (alert_id,)).fetchall()
        contacts = plant_contacts(cur, alert["site_code"])
        marks = cur.execute(_MARKS, {"device": alert["device_id"], "pollutant": alert["pollutant"],
                                     "opened": alert["opened_at"], "resolved": alert["resolved_at"]}).fetchall()
    if not can(user.role, "alert.act"):  # viewers watch; they need no one's phone number
        for n in notes:
            n["phone"] = mask_phone(n["phone"])
        contacts = [{**c, "phone": mask_phone(c["phone"])} for c in contacts]
    # Why nobody was told (a silence, a maintenance window, a platform fault, no recipient), shown on the alert.
    not_sent = suppression_reason([NoticeFact(alert_id, n["status"], n["suppressed_by"]) for n in notes])
    return {"alert": alert, "events": events, "notifications": notes, "reports": reports,
            "not_sent_because": not_sent, "contacts": contacts, "marks": marks}


def plant_contacts(cur: psycopg.Cursor[dict[str, Any]], site_code: str) -> list[dict[str, str]]:
    """The plant's contacts with a phone (the registry's name, role, phone), for the inspector's call."""
    row = cur.execute("SELECT contacts FROM sites WHERE code = %s", (site_code,)).fetchone()
    listed = row["contacts"] if row and isinstance(row["contacts"], list) else []
    return [{"name": str(c.get("name", "")), "role": str(c.get("role", "")), "phone": str(c["phone"])}
            for c in listed if isinstance(c, dict) and c.get("phone")]


def default_disposition(category: str) -> str:
    """The disposition the acknowledge form preselects for an alert of this category."""
    return DEFAULT_DISPOSITION.get(category, "confirmed")


def disposition_label(disposition: str, category: str) -> str:
    """The code (catalogue section `disposition`) naming a disposition on an alert of this category."""
    return CONFIRMED_LABEL.get(category, "confirmed") if disposition == "confirmed" else disposition


def mask_phone(phone: str) -> str:
    """+8613900000001 -> +86*******0001: enough to tell recipients apart, not to call them."""
    head, tail = 3, 4
    if len(phone) <= head + tail:
        return "*" * len(phone)
    return phone[:head] + "*" * (len(phone) - head - tail) + phone[-tail:]


def _require(conn: psycopg.Connection, user: User, alert_id: int) -> dict[str, Any]:
    if not can(user.role, "alert.act"):
        raise ActionForbidden("role may not act on alerts")
    row = load_alert_row(conn, user, alert_id)
    if row is None:
        raise LookupError(alert_id)
    return row


def acknowledge(
    conn: psycopg.Connection, user: User, alert_id: int, *, disposition: str, note: str | None, now: datetime
) -> None:
    """Acknowledge with a disposition (an enforcement case needs an inspector or admin)."""
    _require(conn, user, alert_id)
    if disposition not in DISPOSITIONS:
        raise ActionConflict(f"unknown disposition {disposition!r}")
    if disposition == "enforcement_case" and not can(user.role, "alert.enforce"):
        raise ActionForbidden("only inspectors open enforcement cases")
    try:
        record = people.acknowledge_alert(conn, alert_id, actor=user.username, disposition=disposition,
                                          note=note or None, now=now)
    except LifecycleError as exc:
        raise ActionConflict(str(exc)) from exc
    # The lifecycle takes a repeated acknowledgement as a no-op (an SMS reply sent twice); a person clicking
    # twice, or a second person with another disposition, is told who acknowledged first (dashboard.repeat).
    if record.acknowledged_at != now:
        raise ActionConflict(f"alert {alert_id} was already acknowledged by {record.acknowledged_by}")


def resolve(conn: psycopg.Connection, user: User, alert_id: int, *, reason: str, now: datetime) -> None:
    """Resolve by hand (a latched alert needs its acknowledgement first)."""
    _require(conn, user, alert_id)
    try:
        record = people.resolve_alert(conn, alert_id, actor=user.username, reason=reason or "resolved_by_hand",
                                      now=now)
    except LifecycleError as exc:
        raise ActionConflict(str(exc)) from exc
    if record.resolved_at != now:  # already resolved (the lifecycle's no-op): say by whom (dashboard.repeat)
        raise ActionConflict(f"alert {alert_id} was already resolved")


def add_note(conn: psycopg.Connection, user: User, alert_id: int, *, note: str, now: datetime) -> None:
    """A note on the alert's timeline (its state does not change)."""
    _require(conn, user, alert_id)
    try:
        people.add_note(conn, alert_id, actor=user.username, note=note, now=now)
    except LifecycleError as exc:
        raise ActionConflict(str(exc)) from exc
