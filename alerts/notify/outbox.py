"""The notifications outbox in PostgreSQL: planned SMS in, due SMS claimed, send results and callbacks out.

Rows are written in the same transaction as the alert step that planned them; the sender claims due
rows with `FOR UPDATE SKIP LOCKED` (several senders never take the same row) and records what the
provider said. The sender commits `request_started_at` just before each request to the provider: a row a
crash left in 'sending' with it set may have gone out (the sender asks the provider before sending it
again), one without it was only claimed and goes out again freely (at least once, at most twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from alerts.lifecycle import AlertRecord
from alerts.model import AlertKey
from alerts.notify.callbacks import StatusUpdate, merge_status
from alerts.notify.dedup import SentNotification

_CLAIM = """
UPDATE notifications SET status = 'sending', attempts = attempts + 1, updated_at = now()
WHERE id IN (
    SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= %(now)s AND source = %(source)s
    ORDER BY next_attempt_at, id FOR UPDATE SKIP LOCKED LIMIT %(limit)s)
RETURNING id, phone, body, attempts, possible_landings, unresolved_since
"""
_SENT_HISTORY = """
SELECT n.recipient_id, a.id, a.device_id, a.pollutant, a.rule, n.reason, n.severity, n.created_at, n.status,
       s.code
FROM notifications n
JOIN alerts a ON a.id = ANY(n.alert_ids)
JOIN devices d ON d.id = a.device_id
JOIN sites s ON s.id = d.site_id
WHERE (a.id = ANY(%(ids)s) OR (n.created_at > %(since)s
       AND (a.device_id, a.pollutant, a.rule) IN (SELECT * FROM unnest(%(devices)s::int[], %(pollutants)s::text[],
                                                                      %(rules)s::text[]))))
  AND n.recipient_id IS NOT NULL
ORDER BY n.created_at, n.id
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A notification to write: who, what, why, and whether it is sent or only recorded."""

    alert_ids: tuple[int, ...]
    recipient_id: int
    phone: str
    body: str
    reason: str
    severity: str
    status: str
    escalation_step: int
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedSms:
    """A due notification taken by a sender."""

    id: int
    phone: str
    body: str
    attempts: int
    possible_landings: int
    unresolved_since: datetime | None = None  # start of a request a crash cut off: it may have landed


_INSERT = """
INSERT INTO notifications (alert_id, alert_ids, recipient_id, phone, reason, severity, body, status, attempts,
                           escalation_step, last_error, created_at, next_attempt_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING id
"""


def insert_notifications(conn: psycopg.Connection, rows: list[OutboxRow], now: datetime) -> list[ClaimedSms]:
    """Write planned notifications. Rows to send are written as taken ('sending', first attempt) and
    returned, so the sender sends them at once without claiming them again; suppressed ones are only kept."""
    taken: list[ClaimedSms] = []
    for r in rows:
        sending = r.status == "pending"
        status, attempts = ("sending", 1) if sending else (r.status, 0)
        row = conn.execute(_INSERT, (r.alert_ids[0], list(r.alert_ids), r.recipient_id, r.phone, r.reason,
                                     r.severity, r.body, status, attempts, r.escalation_step, r.detail, now,
                                     now)).fetchone()
        if sending and row is not None:
            taken.append(ClaimedSms(int(row[0]), r.phone, r.body, attempts, 0))
    return taken


def load_sent(conn: psycopg.Connection, alerts: list[AlertRecord], since: datetime) -> list[SentNotification]:
    """What was sent about these alerts, and since `since` about earlier alerts of the same keys (those only
    count for grouping by site: each alert's own messages decide whether it is news, alerts/notify/dedup.py)."""
    if not alerts:
        return []
    params = {
        "ids": [a.id for a in alerts], "since": since, "devices": [a.key.device_id for a in alerts],
        "pollutants": [a.key.pollutant for a in alerts], "rules": [a.key.rule for a in alerts],
    }
    return [
        SentNotification(recipient_id=r[0], alert_id=r[1], key=AlertKey(r[2], r[3], r[4]), site_code=r[9],
                         reason=r[5], severity=r[6], time=r[7], status=r[8])
        for r in conn.execute(_SENT_HISTORY, params).fetchall()
    ]


def reset_interrupted(conn: psycopg.Connection, source: str = "alerts") -> int:
    """Rows a crashed sender of this source left in 'sending' go back to 'pending'. Only those whose request
    had started may have landed (counted once, and unresolved_since kept so the sender asks the provider
    first); rows only claimed into memory never went out. Only its own source: the alert service and the
    watchdog send their rows apart."""
    cur = conn.execute(
        "UPDATE notifications SET status = 'pending',"
        " possible_landings = possible_landings + (request_started_at IS NOT NULL)::int,"
        " unresolved_since = coalesce(unresolved_since, request_started_at), request_started_at = NULL"
        " WHERE status = 'sending' AND source = %s", [source]
    )
    return cur.rowcount


def claim_due(conn: psycopg.Connection, now: datetime, limit: int = 20, source: str = "alerts") -> list[ClaimedSms]:
    """Take up to `limit` due notifications of a source (committed at once: status 'sending')."""
    with conn.transaction():
        rows = conn.execute(_CLAIM, {"now": now, "limit": limit, "source": source}).fetchall()
    return [ClaimedSms(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def _update_one(
    conn: psycopg.Connection, notification_id: int, sets: str, params: list[object], *, only_if: str = "TRUE"
) -> None:
    """Change one notification in a transaction of its own: `sets` with their `params`, and `updated_at`."""
    with conn.transaction():
        conn.execute(f"UPDATE notifications SET {sets}, updated_at = now() WHERE id = %s AND {only_if}",
                     [*params, notification_id])


def mark_request_started(conn: psycopg.Connection, notification_id: int, now: datetime) -> None:
    """Committed just before the request to the provider: from here on a crash may leave a message sent."""
    _update_one(conn, notification_id, "request_started_at = %s", [now])


def mark_not_landed(conn: psycopg.Connection, notification_id: int) -> None:
    """The provider has no message from the interrupted request: it did not land, and no longer counts."""
    _update_one(conn, notification_id,
                "possible_landings = greatest(possible_landings - 1, 0), unresolved_since = NULL", [])


def mark_sent(conn: psycopg.Connection, notification_id: int, provider_id: str, status: str, now: datetime) -> None:
    """The provider took the message."""
    _update_one(
        conn, notification_id,
        "status = %s, provider_id = %s, sent_at = %s, last_error = NULL, request_started_at = NULL,"
        " unresolved_since = NULL",
        [status, provider_id, now], only_if="status = 'sending'",
    )


def mark_retry(
    conn: psycopg.Connection, notification_id: int, *, error: str, code: str | None, delay_seconds: float,
    maybe_sent: bool, now: datetime,
) -> None:
    """A recoverable failure: due again after the delay."""
    _update_one(
        conn, notification_id,
        "status = 'pending', next_attempt_at = %s, last_error = %s, error_code = %s,"
        " possible_landings = possible_landings + %s, request_started_at = NULL",
        [now + timedelta(seconds=delay_seconds), error, code, int(maybe_sent)],
    )


def defer(conn: psycopg.Connection, notification_id: int, *, until: datetime, error: str | None) -> None:
    """Due again at `until`, nothing else changed (an interrupted request the provider may still be taking)."""
    _update_one(conn, notification_id,
                "status = 'pending', next_attempt_at = %s, last_error = coalesce(%s, last_error)", [until, error])


def mark_failed(conn: psycopg.Connection, notification_id: int, *, error: str, code: str | None) -> None:
    """A permanent failure, or retries exhausted: the planner escalates to the next step."""
    _update_one(conn, notification_id, "status = 'failed', last_error = %s, error_code = %s, request_started_at = NULL",
                [error, code])


def apply_status(conn: psycopg.Connection, update: StatusUpdate) -> tuple[int, str] | None:
    """Apply a delivery status callback (forward only); (notification id, new status), None if unknown."""
    with conn.transaction():
        row: Any = conn.execute(
            "SELECT id, status FROM notifications WHERE provider_id = %s FOR UPDATE", [update.provider_id]
        ).fetchone()
        if row is None:
            return None
        status = merge_status(row[1], update.status)
        if status != row[1]:
            conn.execute(
                "UPDATE notifications SET status = %s, error_code = coalesce(%s, error_code), updated_at = now()"
                " WHERE id = %s",
                [status, update.error_code, row[0]],
            )
    return int(row[0]), status


def notified_phones(conn: psycopg.Connection, alert_id: int) -> list[str]:
    """Every number an alert was sent to (who may acknowledge it by SMS reply)."""
    rows = conn.execute(
        "SELECT DISTINCT phone FROM notifications WHERE %s = ANY(alert_ids) AND status <> 'suppressed'", [alert_id]
    ).fetchall()
    return [r[0] for r in rows]
