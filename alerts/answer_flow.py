"""The plant's answer, in the database: ask, remind, escalate, receive, accept or ask again.

Each step writes its `answer_requests` change, its SMS (through the outbox the sender already drains)
and an `alert_events` row in one transaction. SMS to the plant carry `alert_id` for the record but an
empty `alert_ids`, so they never count as the alert having reached an inspector (alerts/heard.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.answers import RequestClock, next_step, sign_answer_link
from alerts.errors import AlertsError
from envmon.settings import Settings
from envmon.words import text

ASKED_SEVERITIES = ("exceedance", "severe")
# Plants and the overdue notice speak Chinese: the plant's contacts and the registry's names are Chinese.
PLANT_LOCALE = "zh-CN"


class AnswerRefused(AlertsError):
    """An answer step that does not fit the request's state; `page.<key>` in the catalogue says why to people."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class AnswerPolicy:
    """Deadline, reminder interval, link lifetime and where links point."""

    secret: str
    public_base_url: str
    deadline_seconds: float = 24 * 3600
    reminder_seconds: float = 6 * 3600
    link_ttl_seconds: float = 7 * 86400
    zone: str = "Asia/Shanghai"


def answer_policy(settings: Settings) -> AnswerPolicy:
    """The answer policy of the configured settings."""
    return AnswerPolicy(secret=settings.require_secret(), public_base_url=settings.public_base_url,
                        deadline_seconds=settings.answer_deadline_seconds,
                        reminder_seconds=settings.answer_reminder_seconds,
                        link_ttl_seconds=settings.answer_link_ttl_seconds, zone=settings.timezone)


_NEW_EXCEEDANCES = """
SELECT a.id, a.code, s.contacts, s.name_zh, d.point_name_zh
FROM alerts a JOIN devices d ON d.id = a.device_id JOIN sites s ON s.id = d.site_id
WHERE a.state IN ('open', 'escalated', 'acknowledged') AND a.category = 'pollution'
  AND a.severity = ANY(%(severities)s)
  AND NOT EXISTS (SELECT 1 FROM answer_requests r WHERE r.alert_id = a.id)
ORDER BY a.id
"""


def _event(conn: psycopg.Connection, alert_id: int, now: datetime, actor: str, reason: str,
           detail: dict[str, Any]) -> None:
    """One step on the alert's timeline (state unchanged: the answer does not move the alert)."""
    conn.execute(
        "INSERT INTO alert_events (alert_id, time, from_state, to_state, actor, reason, detail)"
        " SELECT id, %s, state, state, %s, %s, %s FROM alerts WHERE id = %s",
        (now, actor, reason, Jsonb(detail), alert_id))


def _sms(conn: psycopg.Connection, alert_id: int, phone: str, body: str, reason: str, now: datetime,
         recipient_id: int | None = None) -> None:
    conn.execute(
        "INSERT INTO notifications (alert_id, alert_ids, recipient_id, phone, reason, body, status, created_at,"
        " next_attempt_at) VALUES (%s, '{}', %s, %s, %s, %s, 'pending', %s, %s)",
        (alert_id, recipient_id, phone, reason, body, now, now))


def answer_link(policy: AnswerPolicy, alert_id: int, request_id: int, now: datetime) -> str:
    """The public URL of one request's form."""
    token = sign_answer_link(policy.secret, alert_id, request_id, now + timedelta(seconds=policy.link_ttl_seconds))
    return f"{policy.public_base_url.rstrip('/')}/a/{token}"


def request_sms(site: str, point: str, code: str, deadline: datetime, link: str, zone: str, *, reminder: bool) -> str:
    """The SMS asking the plant for its explanation (zh-CN: the plant's contacts are Chinese plants)."""
    when = deadline.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M")
    key = "sms.plant_answer.reminder" if reminder else "sms.plant_answer.request"
    return text(PLANT_LOCALE, key).format(site=site, point=point, code=code, when=when, link=link)


def ask_new_exceedances(conn: psycopg.Connection, policy: AnswerPolicy, now: datetime) -> int:
    """Open round 1 for every open exceedance not asked yet whose plant has a contact; returns how many."""
    asked = 0
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_NEW_EXCEEDANCES, {"severities": list(ASKED_SEVERITIES)}).fetchall()
    for row in rows:
        contact = next((c for c in row["contacts"] or [] if c.get("phone")), None)
        if contact is None:
            continue  # no registered contact: the inspector learns of it on the alert page (no request shown)
        with conn.transaction():
            open_round(conn, policy, alert_id=row["id"], round_no=1, contact=contact, now=now,
                       site=row["name_zh"], point=row["point_name_zh"], code=row["code"])
        asked += 1
    return asked


def open_round(conn: psycopg.Connection, policy: AnswerPolicy, *, alert_id: int, round_no: int,
               contact: dict[str, str], now: datetime, site: str, point: str, code: str) -> int:
    """Insert one request round, its SMS and its timeline entry (in the caller's transaction)."""
    deadline = now + timedelta(seconds=policy.deadline_seconds)
    row = conn.execute(
        "INSERT INTO answer_requests (alert_id, round, contact_name, phone, requested_at, deadline_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (alert_id, round_no, contact.get("name", ""), contact["phone"], now, deadline)).fetchone()
    assert row is not None
    link = answer_link(policy, alert_id, int(row[0]), now)
    _sms(conn, alert_id, contact["phone"], request_sms(site, point, code, deadline, link, policy.zone,
                                                       reminder=False), "answer_request", now)
    _event(conn, alert_id, now, "system", "answer_requested",
           {"round": round_no, "contact": contact.get("name", ""), "deadline_at": deadline.isoformat()})
    return int(row[0])


_WAITING = """
SELECT r.id, r.alert_id, r.phone, r.requested_at, r.deadline_at, r.last_reminded_at, r.escalated_at, a.code,
       s.name_zh, d.point_name_zh
FROM answer_requests r JOIN alerts a ON a.id = r.alert_id JOIN devices d ON d.id = a.device_id
JOIN sites s ON s.id = d.site_id
WHERE r.state = 'waiting'
ORDER BY r.id
"""
# Who hears of an overdue answer: the inspectors this alert's own notifications reached.
_INSPECTORS = """
SELECT DISTINCT n.recipient_id, r.phone FROM notifications n JOIN recipients r ON r.id = n.recipient_id
WHERE n.alert_ids @> ARRAY[%s::bigint] AND n.recipient_id IS NOT NULL
"""


def remind_and_escalate(conn: psycopg.Connection, policy: AnswerPolicy, now: datetime) -> tuple[int, int]:
    """Remind waiting plants at the interval; past the deadline tell the inspectors once. (reminded, escalated)."""
    counts = {"remind": 0, "escalate": 0}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_WAITING).fetchall()
    for row in rows:
        clock = RequestClock(row["requested_at"], row["deadline_at"], row["last_reminded_at"], row["escalated_at"])
        step = next_step(clock, now, reminder_seconds=policy.reminder_seconds)
        if step is None:
            continue
        with conn.transaction():
            (_remind if step == "remind" else _escalate)(conn, policy, row, now)
        counts[step] += 1
    return counts["remind"], counts["escalate"]


def _remind(conn: psycopg.Connection, policy: AnswerPolicy, row: dict[str, Any], now: datetime) -> None:
    conn.execute("UPDATE answer_requests SET reminders = reminders + 1, last_reminded_at = %s WHERE id = %s",
                 (now, row["id"]))
    link = answer_link(policy, row["alert_id"], row["id"], now)
    _sms(conn, row["alert_id"], row["phone"], request_sms(row["name_zh"], row["point_name_zh"], row["code"],
                                                          row["deadline_at"], link, policy.zone, reminder=True),
         "answer_reminder", now)
    _event(conn, row["alert_id"], now, "system", "answer_reminded", {"request_id": row["id"]})


def _escalate(conn: psycopg.Connection, policy: AnswerPolicy, row: dict[str, Any], now: datetime) -> None:
    conn.execute("UPDATE answer_requests SET escalated_at = %s WHERE id = %s", (now, row["id"]))
    body = text(PLANT_LOCALE, "sms.plant_answer.overdue").format(
        site=row["name_zh"], point=row["point_name_zh"], code=row["code"])
    inspectors = conn.execute(_INSPECTORS, (row["alert_id"],)).fetchall()
    for recipient_id, phone in inspectors:
        _sms(conn, row["alert_id"], phone, body, "answer_overdue", now, recipient_id=recipient_id)
    _event(conn, row["alert_id"], now, "system", "answer_overdue",
           {"request_id": row["id"], "inspectors_told": len(inspectors)})


def tick_answers(conn: psycopg.Connection, policy: AnswerPolicy, now: datetime) -> tuple[int, int, int]:
    """One pass of the answer timers: (asked, reminded, escalated)."""
    asked = ask_new_exceedances(conn, policy, now)
    reminded, escalated = remind_and_escalate(conn, policy, now)
    return asked, reminded, escalated


@dataclass(frozen=True, slots=True)
class PlantAnswer:
    """What the plant's contact entered."""

    cause: str
    measures: str
    expected_recovery_at: datetime


def submit_answer(conn: psycopg.Connection, *, alert_id: int, request_id: int, answer: PlantAnswer,
                  now: datetime, client: str | None) -> int:
    """Record the plant's answer to a waiting request of this alert; AnswerRefused otherwise. Returns its id."""
    if not (0 < len(answer.cause.strip()) <= 2000 and 0 < len(answer.measures.strip()) <= 2000):
        raise AnswerRefused("answer_refused_incomplete",
                            "cause and measures are required (at most 2000 characters each)")
    with conn.transaction():
        state = conn.execute("SELECT state FROM answer_requests WHERE id = %s AND alert_id = %s FOR UPDATE",
                             (request_id, alert_id)).fetchone()
        if state is None or state[0] != "waiting":
            raise AnswerRefused("answer_refused_not_waiting", "this request is not waiting for an answer")
        row = conn.execute(
            "INSERT INTO plant_answers (request_id, cause, measures, expected_recovery_at, submitted_at,"
            " submitted_from) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (request_id, answer.cause.strip(), answer.measures.strip(), answer.expected_recovery_at, now, client),
        ).fetchone()
        assert row is not None
        conn.execute("UPDATE answer_requests SET state = 'answered' WHERE id = %s", (request_id,))
        _event(conn, alert_id, now, "plant", "answer_submitted", {"request_id": request_id})
    return int(row[0])


def decide_answer(conn: psycopg.Connection, policy: AnswerPolicy, *, alert_id: int, accept: bool, actor: str,
                  note: str, now: datetime) -> None:
    """The inspector accepts the answered round, or asks again (a new round with a new deadline and SMS)."""
    with conn.transaction():
        with conn.cursor(row_factory=dict_row) as cur:
            req = cur.execute(
                "SELECT r.id, r.round, r.contact_name, r.phone, a.code, s.name_zh, d.point_name_zh"
                " FROM answer_requests r JOIN alerts a ON a.id = r.alert_id JOIN devices d ON d.id = a.device_id"
                " JOIN sites s ON s.id = d.site_id WHERE r.alert_id = %s AND r.state = 'answered' FOR UPDATE OF r",
                (alert_id,)).fetchone()
        if req is None:
            raise AnswerRefused("answer_refused_no_decision", "no answer is waiting for a decision")
        state = "accepted" if accept else "asked_again"
        conn.execute("UPDATE answer_requests SET state = %s, inspector_note = %s, decided_by = %s, decided_at = %s"
                     " WHERE id = %s", (state, note or None, actor, now, req["id"]))
        _event(conn, alert_id, now, actor, f"answer_{state}", {"request_id": req["id"], "note": note})
        if not accept:
            open_round(conn, policy, alert_id=alert_id, round_no=req["round"] + 1,
                       contact={"name": req["contact_name"], "phone": req["phone"]}, now=now,
                       site=req["name_zh"], point=req["point_name_zh"], code=req["code"])


def add_attachment(conn: psycopg.Connection, *, alert_id: int, request_id: int, filename: str, content_type: str,
                   sha256: str, content: bytes, now: datetime) -> int:
    """Attach a checked file to the answer of an answered request of this alert; AnswerRefused otherwise."""
    with conn.transaction():
        answer = conn.execute(
            "SELECT p.id FROM plant_answers p JOIN answer_requests r ON r.id = p.request_id"
            " WHERE r.id = %s AND r.alert_id = %s AND r.state = 'answered'", (request_id, alert_id)).fetchone()
        if answer is None:
            raise AnswerRefused("answer_refused_files", "files can be added to a submitted answer that is under review")
        row = conn.execute(
            "INSERT INTO answer_attachments (answer_id, filename, content_type, size_bytes, sha256, content)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (answer_id, sha256) DO UPDATE SET filename ="
            " answer_attachments.filename RETURNING id",
            (answer[0], filename, content_type, len(content), sha256, content)).fetchone()
        assert row is not None
        _event(conn, alert_id, now, "plant", "answer_attachment",
               {"request_id": request_id, "filename": filename, "sha256": sha256})
    return int(row[0])


def load_attachments(conn: psycopg.Connection, alert_id: int) -> list[dict[str, Any]]:
    """The files attached to an alert's answers (no bytes)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT f.id, r.round, f.filename, f.size_bytes, f.sha256 FROM answer_attachments f"
            " JOIN plant_answers p ON p.id = f.answer_id JOIN answer_requests r ON r.id = p.request_id"
            " WHERE r.alert_id = %s ORDER BY f.id", (alert_id,)).fetchall()


def load_attachment(conn: psycopg.Connection, alert_id: int, attachment_id: int) -> tuple[str, str, bytes] | None:
    """(filename, content type, bytes) of one file of this alert's answers, or None."""
    row = conn.execute(
        "SELECT f.filename, f.content_type, f.content FROM answer_attachments f JOIN plant_answers p"
        " ON p.id = f.answer_id JOIN answer_requests r ON r.id = p.request_id WHERE f.id = %s AND r.alert_id = %s",
        (attachment_id, alert_id)).fetchone()
    return (row[0], row[1], bytes(row[2])) if row else None


def load_answers(conn: psycopg.Connection, alert_id: int) -> list[dict[str, Any]]:
    """Every round of an alert with its answer, oldest first (for the alert page)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT r.id, r.round, r.contact_name, r.requested_at, r.deadline_at, r.reminders, r.escalated_at,"
            " r.state, r.inspector_note, r.decided_by, r.decided_at, p.cause, p.measures, p.expected_recovery_at,"
            " p.submitted_at FROM answer_requests r LEFT JOIN plant_answers p ON p.request_id = r.id"
            " WHERE r.alert_id = %s ORDER BY r.round", (alert_id,)).fetchall()
