"""Data review in the dashboard: propose, approve, reject and withdraw marks, scoped to the user's plants.

Every step is one transaction: the mark, its event (who, when, why) and the audit log entry commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard.access import Action, User, can, scope_clause
from dashboard.audit import AuditAction, write_audit
from dashboard.errors import Refused
from envmon.review import Decision, MarkRequest, decision_problem, initial_state, request_problem, state_after

LIST_LIMIT = 200
# Pollution alerts at or above the legal line: a mark over one of these hides an exceedance. A mean's alert
# breaches at the end of its hour or day, but the readings it judged are the whole period before: a mark over
# them hides it too (a day's first breach after an early judgement is an hour's end inside the day, so going a
# whole day back covers a little more than the day: erring towards a second person).
_COVERED = """
SELECT count(*) FROM alerts
WHERE device_id = %(device)s AND category = 'pollution' AND severity IN ('exceedance', 'severe')
  AND (%(pollutant)s::text IS NULL OR pollutant = %(pollutant)s)
  AND first_breach_at - CASE rule WHEN 'hour_avg' THEN interval '1 hour' WHEN 'day_avg' THEN interval '1 day'
                                  ELSE interval '0' END < %(end)s
  AND coalesce(resolved_at, %(now)s) > %(start)s
"""
# Active marks must never overlap (the view readings_reviewed joins at most one per reading): a proposal may
# not overlap a pending or active mark of the same device and pollutant (a device-wide mark overlaps all).
_OVERLAP = """
SELECT min(id) FROM data_marks
WHERE device_id = %(device)s AND state IN ('pending', 'active')
  AND (pollutant IS NULL OR %(pollutant)s::text IS NULL OR pollutant = %(pollutant)s)
  AND start_at < %(end)s AND end_at > %(start)s
"""
_MARKS = """
SELECT m.id, m.device_id, d.mn, d.point_name_zh, d.point_name_en, s.code AS site_code, m.pollutant, m.start_at,
       m.end_at, m.reason, m.evidence, m.state, m.proposed_by, m.proposed_at, m.decided_by, m.decided_at,
       m.covers_exceedances
FROM data_marks m JOIN devices d ON d.id = m.device_id JOIN sites s ON s.id = d.site_id
WHERE {scope} {extra}
ORDER BY m.proposed_at DESC, m.id DESC LIMIT {limit}
"""

REVIEW_ACTIONS: dict[Decision, AuditAction] = {"approve": "review.approve", "reject": "review.reject",
                                              "withdraw": "review.withdraw"}


class ReviewRefused(Refused):
    """A review step the rules refuse; `key` names the message shown to the person (`page.<key>`)."""


@dataclass(frozen=True, slots=True)
class MarkResult:
    """A mark after a step."""

    id: int
    state: str


def propose_mark(conn: psycopg.Connection, user: User, req: MarkRequest, *, now: datetime) -> MarkResult:
    """Store a mark: active at once, or pending a second person when it covers an exceedance."""
    if not can(user.role, "data.review"):
        raise ReviewRefused("forbidden")
    problem = request_problem(req, now=now)
    if problem:
        raise ReviewRefused(problem)
    with conn.transaction():
        device = _device_in_scope(conn, user, req.device_mn)
        if req.pollutant is not None and req.pollutant not in device["pollutants"]:
            raise ReviewRefused("review_bad_pollutant")
        if _overlapping(conn, int(device["id"]), req):
            raise ReviewRefused("review_overlap")
        covered = _covered_exceedances(conn, int(device["id"]), req, now)
        state = initial_state(covered)
        mark_id = _insert_mark(conn, int(device["id"]), req, state, covered, user.username, now)
        _event(conn, mark_id, user.username, "proposed", req.evidence, now)
        if state == "active":
            _event(conn, mark_id, user.username, "activated", "", now)
        write_audit(conn, actor=user.username, action="review.propose", entity="data_mark", key=str(mark_id),
                    detail={"device": req.device_mn, "pollutant": req.pollutant, "reason": req.reason,
                            "start_at": req.start_at.isoformat(), "end_at": req.end_at.isoformat(),
                            "state": state, "covers_exceedances": covered}, now=now)
    return MarkResult(mark_id, state)


def decide_mark(
    conn: psycopg.Connection, user: User, mark_id: int, decision: Decision, *, note: str, now: datetime
) -> MarkResult:
    """Approve or reject a pending mark (never one's own), or withdraw a mark; LookupError outside scope."""
    needed: Action = "data.review" if decision == "withdraw" else "data.approve"
    if not can(user.role, needed):
        raise ReviewRefused("forbidden")
    if not note.strip() or "\x00" in note:
        raise ReviewRefused("review_needs_note")
    with conn.transaction():
        mark = _mark_for_update(conn, user, mark_id)
        problem = decision_problem(state=mark["state"], proposed_by=mark["proposed_by"], actor=user.username,
                                   decision=decision)
        if problem:
            raise ReviewRefused(problem)
        state = state_after(decision)
        conn.execute("UPDATE data_marks SET state = %s, decided_by = %s, decided_at = %s WHERE id = %s",
                     (state, user.username, now, mark_id))
        action = {"approve": "approved", "reject": "rejected", "withdraw": "withdrawn"}[decision]
        _event(conn, mark_id, user.username, action, note, now)
        write_audit(conn, actor=user.username, action=REVIEW_ACTIONS[decision], entity="data_mark",
                    key=str(mark_id), detail={"note": note, "state": state}, now=now)
    return MarkResult(mark_id, state)


def list_marks(conn: psycopg.Connection, user: User, *, site: str | None = None) -> list[dict[str, Any]]:
    """The newest marks on the user's plants (optionally one plant), each with its events."""
    scope, params = scope_clause(user, "s")
    extra = "AND s.code = %(site)s" if site else ""
    with conn.cursor(row_factory=dict_row) as cur:
        query = _MARKS.format(scope=scope, extra=extra, limit=LIST_LIMIT)
        marks = cur.execute(query, {**params, "site": site}).fetchall()
        events = cur.execute(
            "SELECT mark_id, time, actor, action, note FROM data_mark_events WHERE mark_id = ANY(%s) ORDER BY time, id",
            ([m["id"] for m in marks],)).fetchall()
    for m in marks:
        m["events"] = [e for e in events if e["mark_id"] == m["id"]]
    return marks


def _device_in_scope(conn: psycopg.Connection, user: User, mn: str) -> dict[str, Any]:
    scope, params = scope_clause(user, "s")
    with conn.cursor(row_factory=dict_row) as cur:
        # FOR UPDATE: proposals on one device are serialised, so two overlapping ones cannot both pass the check.
        row = cur.execute(f"SELECT d.id, d.pollutants FROM devices d JOIN sites s ON s.id = d.site_id"
                          f" WHERE d.mn = %(mn)s AND {scope} FOR UPDATE OF d", {**params, "mn": mn}).fetchone()
    if row is None:
        raise LookupError(mn)
    return row


def _mark_for_update(conn: psycopg.Connection, user: User, mark_id: int) -> dict[str, Any]:
    scope, params = scope_clause(user, "s")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT m.state, m.proposed_by FROM data_marks m JOIN devices d ON d.id = m.device_id"
                          f" JOIN sites s ON s.id = d.site_id WHERE m.id = %(id)s AND {scope} FOR UPDATE OF m",
                          {**params, "id": mark_id}).fetchone()
    if row is None:
        raise LookupError(mark_id)
    return row


def _overlapping(conn: psycopg.Connection, device_id: int, req: MarkRequest) -> bool:
    params = {"device": device_id, "pollutant": req.pollutant, "start": req.start_at, "end": req.end_at}
    row = conn.execute(_OVERLAP, params).fetchone()
    return row is not None and row[0] is not None


def _covered_exceedances(conn: psycopg.Connection, device_id: int, req: MarkRequest, now: datetime) -> int:
    params = {"device": device_id, "pollutant": req.pollutant, "start": req.start_at, "end": req.end_at, "now": now}
    row = conn.execute(_COVERED, params).fetchone()
    return int(row[0]) if row else 0


def _insert_mark(
    conn: psycopg.Connection, device_id: int, req: MarkRequest, state: str, covered: int, actor: str, now: datetime
) -> int:
    row = conn.execute(
        "INSERT INTO data_marks (device_id, pollutant, start_at, end_at, reason, evidence, state, proposed_by,"
        " proposed_at, covers_exceedances) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (device_id, req.pollutant, req.start_at, req.end_at, req.reason, req.evidence, state, actor, now, covered),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _event(conn: psycopg.Connection, mark_id: int, actor: str, action: str, note: str, now: datetime) -> None:
    conn.execute("INSERT INTO data_mark_events (mark_id, time, actor, action, note) VALUES (%s, %s, %s, %s, %s)",
                 (mark_id, now, actor, action, note))
