"""The alerts package's interface for people: acknowledge, resolve, close, add a note; and the words they need.

Used by SMS replies, the CLI and the dashboard; nothing outside alerts/ writes alerts any other way.
Each action is one transaction: the alert row is locked while the lifecycle decides (an engine step
touching the same alert waits), the events record who did what, and live views are told on commit,
whoever acted (a reply by SMS updates an open dashboard as a click there does).
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from alerts import store
from alerts.answer_flow import (
    AnswerRefused,
    PlantAnswer,
    add_attachment,
    answer_policy,
    decide_answer,
    load_answers,
    load_attachment,
    load_attachments,
    submit_answer,
)
from alerts.answers import AnswerLink, AnswerLinkExpired, AnswerLinkInvalid, read_answer_link
from alerts.lifecycle import (
    DISPOSITIONS,
    AlertEvent,
    AlertRecord,
    Disposition,
    LifecycleError,
    Outcome,
    acknowledge,
    close,
    resolve,
)
from alerts.notify.heard import NoticeFact, suppression_reason
from envmon.domain import AlertState

# The vocabulary people's tools need, re-exported so they import this module only.
__all__ = [
    "DISPOSITIONS", "AlertState", "Disposition", "LifecycleError", "NoticeFact", "suppression_reason",
    "acknowledge_alert", "resolve_alert", "close_alert", "add_note",
    # The plant's answer to an exceedance (alerts/answer_flow.py, alerts/answers.py).
    "AnswerRefused", "PlantAnswer", "add_attachment", "answer_policy", "decide_answer", "load_answers",
    "load_attachment", "load_attachments", "submit_answer",
    "AnswerLink", "AnswerLinkExpired", "AnswerLinkInvalid", "read_answer_link",
]


def _locked(conn: psycopg.Connection, alert_id: int) -> AlertRecord:
    record = store.load_alert(conn, alert_id, lock=True)
    if record is None:
        raise LifecycleError(f"no alert with id {alert_id}")
    return record


def _save(conn: psycopg.Connection, outcome: Outcome) -> AlertRecord:
    record = outcome.record
    assert record is not None and record.id is not None
    store.update_alert(conn, record)
    store.insert_events(conn, record.id, outcome.events)
    store.notify_changes(conn, [record.id])
    return record


def acknowledge_alert(
    conn: psycopg.Connection, alert_id: int, *, actor: str, disposition: Disposition, note: str | None,
    now: datetime,
) -> AlertRecord:
    """Acknowledge with a disposition (a latched alert whose condition cleared is resolved too)."""
    with conn.transaction():
        record = _locked(conn, alert_id)
        return _save(conn, acknowledge(record, actor=actor, disposition=disposition, note=note, now=now))


def resolve_alert(conn: psycopg.Connection, alert_id: int, *, actor: str, reason: str, now: datetime) -> AlertRecord:
    """Resolve by hand (a latched alert needs its disposition first)."""
    with conn.transaction():
        return _save(conn, resolve(_locked(conn, alert_id), actor=actor, reason=reason, now=now))


def close_alert(conn: psycopg.Connection, alert_id: int, *, actor: str, reason: str, now: datetime) -> AlertRecord:
    """Close the file on an alert."""
    with conn.transaction():
        return _save(conn, close(_locked(conn, alert_id), actor=actor, reason=reason, now=now))


def add_note(conn: psycopg.Connection, alert_id: int, *, actor: str, note: str, now: datetime) -> AlertRecord:
    """A note on the alert's timeline; its state does not change."""
    if not note.strip():
        raise LifecycleError("empty note")
    with conn.transaction():
        record = _locked(conn, alert_id)
        assert record.id is not None
        event = AlertEvent(now, record.state, record.state, actor, "note", {"note": note})
        store.insert_events(conn, record.id, (event,))
        store.notify_changes(conn, [record.id])
        return record
