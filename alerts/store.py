"""Alerts in PostgreSQL: active alerts in and out, their events, the engine snapshot, unhandled gaps.

Everything one engine step produced is written by the caller inside one transaction (alert rows,
events, notification outbox rows, the snapshot), so a crash leaves either all of it or none.
The unique partial index `alerts_one_open` keeps one active alert per device, pollutant and rule
even with two engine processes: an insert that loses the race returns None.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.lifecycle import AlertEvent, AlertRecord, alert_code
from alerts.model import AlertKey
from envmon.domain import ACTIVE_STATES

# alerts columns that mirror AlertRecord fields one to one (key, id and code are handled apart).
_RECORD_COLUMNS = tuple(f.name for f in fields(AlertRecord) if f.name not in ("id", "code", "key"))
_SELECT = f"SELECT id, code, device_id, pollutant, rule, {', '.join(_RECORD_COLUMNS)} FROM alerts"
_INSERT = f"""
INSERT INTO alerts (id, code, device_id, pollutant, rule, {", ".join(_RECORD_COLUMNS)})
OVERRIDING SYSTEM VALUE
VALUES (%(id)s, %(code)s, %(device_id)s, %(pollutant)s, %(rule)s, {", ".join(f"%({c})s" for c in _RECORD_COLUMNS)})
ON CONFLICT (device_id, pollutant, rule) WHERE state IN ('open', 'escalated', 'acknowledged') DO NOTHING
RETURNING id
"""
_UPDATE = f"""
UPDATE alerts SET {", ".join(f"{c} = %({c})s" for c in _RECORD_COLUMNS)}, updated_at = now()
WHERE id = %(id)s
"""


def _record_of(row: tuple[Any, ...]) -> AlertRecord:
    values = dict(zip(_RECORD_COLUMNS, row[5:], strict=True))
    return AlertRecord(id=row[0], code=row[1], key=AlertKey(row[2], row[3], row[4]), **values)


def load_active_alerts(conn: psycopg.Connection) -> dict[AlertKey, AlertRecord]:
    """Every alert that holds its slot (open, escalated, acknowledged)."""
    states = list(ACTIVE_STATES)
    rows = conn.execute(f"{_SELECT} WHERE state = ANY(%s)", [states]).fetchall()
    return {r.key: r for r in map(_record_of, rows)}


def lock_active_alert(conn: psycopg.Connection, key: AlertKey) -> AlertRecord | None:
    """The active alert of a key, locked for this transaction (acknowledgements wait for the step)."""
    row = conn.execute(
        f"{_SELECT} WHERE device_id = %s AND pollutant = %s AND rule = %s AND state = ANY(%s) FOR UPDATE",
        [key.device_id, key.pollutant, key.rule, list(ACTIVE_STATES)],
    ).fetchone()
    return _record_of(row) if row else None


def load_alert(conn: psycopg.Connection, alert_id: int, *, lock: bool = False) -> AlertRecord | None:
    """One alert by id (locked for the transaction with `lock`)."""
    row = conn.execute(f"{_SELECT} WHERE id = %s{' FOR UPDATE' if lock else ''}", [alert_id]).fetchone()
    return _record_of(row) if row else None


def _params(record: AlertRecord) -> dict[str, Any]:
    params = {c: getattr(record, c) for c in _RECORD_COLUMNS}
    params["detail"] = Jsonb(record.detail)
    params.update(id=record.id, code=record.code, device_id=record.key.device_id, pollutant=record.key.pollutant,
                  rule=record.key.rule)
    return params


def insert_alert(conn: psycopg.Connection, record: AlertRecord) -> AlertRecord | None:
    """Insert a new alert with its id and code; None when another engine holds the slot already."""
    row = conn.execute("SELECT nextval(pg_get_serial_sequence('alerts', 'id'))").fetchone()
    assert row is not None
    alert_id = int(row[0])
    stored = AlertRecord(**{**{f.name: getattr(record, f.name) for f in fields(AlertRecord)},
                            "id": alert_id, "code": alert_code(alert_id)})
    inserted = conn.execute(_INSERT, _params(stored)).fetchone()
    return stored if inserted else None


def update_alert(conn: psycopg.Connection, record: AlertRecord) -> None:
    """Write a changed alert."""
    conn.execute(_UPDATE, _params(record))


def insert_events(conn: psycopg.Connection, alert_id: int, events: tuple[AlertEvent, ...]) -> None:
    """Append the alert's events."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO alert_events (alert_id, time, from_state, to_state, actor, reason, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(alert_id, e.time, e.from_state, e.to_state, e.actor, e.reason, Jsonb(e.detail)) for e in events],
        )


def save_snapshot(conn: psycopg.Connection, shard: str, state: dict[str, Any], now: datetime) -> None:
    """Replace the engine's snapshot for a shard."""
    conn.execute(
        "INSERT INTO engine_snapshots (shard, state, saved_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (shard) DO UPDATE SET state = EXCLUDED.state, saved_at = EXCLUDED.saved_at",
        [shard, Jsonb(state, dumps=_dumps), now],
    )


def load_snapshot(conn: psycopg.Connection, shard: str) -> dict[str, Any] | None:
    """The engine's last snapshot for a shard, if any."""
    row = conn.execute("SELECT state FROM engine_snapshots WHERE shard = %s", [shard]).fetchone()
    return dict(row[0]) if row else None


def snapshot_saved_at(conn: psycopg.Connection, shard: str) -> datetime | None:
    """When the engine's last snapshot for a shard was saved, if any."""
    row = conn.execute("SELECT saved_at FROM engine_snapshots WHERE shard = %s", [shard]).fetchone()
    return row[0] if row else None


def _dumps(value: Any) -> str:
    # Snapshots hold only finite floats; compact separators keep the row small.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def take_unhandled_gaps(conn: psycopg.Connection, now: datetime) -> list[tuple[int, int, int, datetime]]:
    """Gaps ingest gave up on that the engine has not seen: (device_id, first_seq, last_seq, abandoned_at)."""
    rows = conn.execute(
        "UPDATE sequence_gaps SET handled_at = %s WHERE handled_at IS NULL"
        " RETURNING device_id, first_seq, last_seq, abandoned_at",
        [now],
    ).fetchall()
    return [(int(r[0]), int(r[1]), int(r[2]), r[3]) for r in rows]


# device_id, basis, begin_time, end_time, outcome, closed_at
LostWindow = tuple[int, str, datetime, datetime, str, datetime]


def take_lost_history(conn: psycopg.Connection, now: datetime) -> list[LostWindow]:
    """HJ 212 history windows closed with data still missing (abandoned after every request, or expired:
    older than the logger keeps) that the engine has not seen yet."""
    rows = conn.execute(
        "UPDATE hj212_history_requests SET handled_at = %s"
        " WHERE outcome IN ('abandoned', 'expired') AND handled_at IS NULL"
        " RETURNING device_id, basis, begin_time, end_time, outcome, closed_at",
        [now],
    ).fetchall()
    return [(int(r[0]), str(r[1]), r[2], r[3], str(r[4]), r[5]) for r in rows]


def stored_last_seen(conn: psycopg.Connection) -> dict[int, float]:
    """When ingest last stored something from each device (seconds since the epoch), from device_state."""
    rows = conn.execute(
        "SELECT device_id, extract(epoch FROM last_seen_at)::float8 FROM device_state WHERE last_seen_at IS NOT NULL"
    ).fetchall()
    return {int(r[0]): float(r[1]) for r in rows}


def ingest_alive_s(conn: psycopg.Connection) -> float | None:
    """The latest time ingest is known to have been storing: its freshest healthy heartbeat or the newest
    device_state arrival (seconds since the epoch); None when there is no trace of it at all."""
    row = conn.execute(
        "SELECT extract(epoch FROM greatest("
        " (SELECT max(last_seen_at) FROM device_state),"
        " (SELECT max(beat_at) FROM service_heartbeats WHERE service = 'ingest' AND ok)))::float8"
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


_NOTIFY = """
SELECT pg_notify('envmon_events', json_build_object(
    'kind', 'alert', 'id', id, 'code', code, 'state', state, 'severity', severity, 'device_id', device_id)::text)
FROM alerts WHERE id = ANY(%s)
"""


def notify_changes(conn: psycopg.Connection, alert_ids: list[int]) -> None:
    """Tell live views (LISTEN envmon_events) which alerts changed; delivered when the step commits."""
    if alert_ids:
        conn.execute(_NOTIFY, [sorted(set(alert_ids))])


# The invariant of alerts/notify/heard.py in SQL: open pollution or safety alerts, older than the grace period,
# with no notification queued or sent and no recorded suppression reason (kept in last_error for
# 'suppressed' rows, see alerts/notify/outbox.py).
_SILENT = """
SELECT a.id FROM alerts a
WHERE a.state IN ('open', 'escalated') AND a.category IN ('pollution', 'safety') AND a.opened_at <= %(before)s
  AND NOT EXISTS (
    SELECT 1 FROM notifications n
    WHERE n.alert_ids @> ARRAY[a.id]
      AND (n.status IN ('pending', 'sending', 'sent', 'delivered')
           OR (n.status = 'suppressed' AND coalesce(n.last_error, '') <> '')))
ORDER BY a.id
"""


def silent_alert_ids(conn: psycopg.Connection, now: datetime, grace_seconds: float) -> list[int]:
    """Open pollution and safety alerts nobody was told of and that carry no reason why (alerts/notify/heard.py)."""
    before = now - timedelta(seconds=grace_seconds)
    return [int(r[0]) for r in conn.execute(_SILENT, {"before": before}).fetchall()]


_RECORD_NO_RECIPIENT = """
INSERT INTO notifications (alert_id, alert_ids, recipient_id, phone, reason, severity, body, status,
                           last_error, created_at, next_attempt_at)
SELECT a.id, ARRAY[a.id], NULL, '', 'new', a.severity, '', 'suppressed', %(reason)s, %(now)s, %(now)s
FROM alerts a
WHERE a.id = ANY(%(ids)s)
  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.alert_ids @> ARRAY[a.id] AND n.recipient_id IS NULL
                  AND n.last_error = %(reason)s)
"""


def record_unheard(conn: psycopg.Connection, alert_ids: list[int], reason: str, now: datetime) -> int:
    """Record once per alert why nobody can be told (a 'suppressed' row without recipient); returns rows added."""
    if not alert_ids:
        return 0
    return conn.execute(_RECORD_NO_RECIPIENT, {"ids": alert_ids, "reason": reason, "now": now}).rowcount
