"""What people do to alerts (acknowledge, resolve, close), applied to the database in one transaction each.

Used by SMS replies, the CLI and the dashboard. The alert row is locked while the lifecycle decides,
so an engine step touching the same alert waits, and the events record who did what.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from alerts import store
from alerts.lifecycle import AlertRecord, Disposition, LifecycleError, Outcome, acknowledge, close, resolve


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
