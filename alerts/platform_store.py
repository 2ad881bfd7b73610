"""Platform faults in PostgreSQL: heartbeats and district silence in, fault episodes and the watchdog's SMS out.

The watchdog decides under a transaction-scoped advisory lock, and writes the episode's change with its
outbox rows in the same transaction: a second watchdog, or a crash between deciding and writing, can
neither lose nor double the one SMS per fault and per recovery (at least once through the outbox).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.notify.routing import Recipient
from alerts.platform import Beat, Cause, DistrictSilence, Episode

# pg_advisory_xact_lock key: the first 8 bytes of sha256("envmon.watchdog"), as a signed bigint.
WATCHDOG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"envmon.watchdog").digest()[:8], "big", signed=True)

_SILENCE = """
SELECT s.district,
       count(*) FILTER (WHERE NOT ds.online OR ds.last_seen_at < %(now)s - make_interval(
           secs => greatest(%(silent)s, 3 * d.reporting_interval_seconds))) AS silent,
       count(*) AS total
FROM devices d
JOIN sites s ON s.id = d.site_id
JOIN device_state ds ON ds.device_id = d.id
WHERE d.active AND ds.last_seen_at > %(now)s - make_interval(secs => %(forget)s)
  AND NOT EXISTS (
    SELECT 1 FROM maintenance_windows m
    WHERE (m.device_id = d.id OR (m.device_id IS NULL AND m.site_id = d.site_id))
      AND m.starts_at <= %(now)s AND m.ends_at > %(now)s)
GROUP BY s.district
ORDER BY s.district
"""
_EPISODE = "SELECT id, opened_at, causes, districts, all_districts, calm_since, resolved_at FROM platform_faults"


def load_beats(conn: psycopg.Connection, now: datetime, forget_seconds: float) -> list[Beat]:
    """Heartbeats of the last `forget_seconds` (older rows are deleted: instances long gone)."""
    since = now - timedelta(seconds=forget_seconds)
    conn.execute("DELETE FROM service_heartbeats WHERE beat_at < %s", [since])
    rows = conn.execute("SELECT service, instance, role, ok, beat_at, detail FROM service_heartbeats").fetchall()
    return [Beat(r[0], r[1], r[2], bool(r[3]), r[4], dict(r[5] or {})) for r in rows]


def load_district_silence(
    conn: psycopg.Connection, now: datetime, *, silent_seconds: float, forget_seconds: float
) -> list[DistrictSilence]:
    """Per district: devices that reported within `forget_seconds` and how many of them are silent now
    (offline, or nothing for max(silent_seconds, 3 reporting intervals)); devices in maintenance left out."""
    rows = conn.execute(_SILENCE, {"now": now, "silent": silent_seconds, "forget": forget_seconds}).fetchall()
    return [DistrictSilence(r[0], int(r[1]), int(r[2])) for r in rows]


def _episode(row: tuple[Any, ...]) -> Episode:
    causes = tuple(Cause(c["kind"], c["subject"], c.get("detail", "")) for c in row[2])
    return Episode(int(row[0]), row[1], causes, frozenset(row[3]), bool(row[4]), row[5], row[6])


def open_fault(conn: psycopg.Connection, *, lock: bool = False) -> Episode | None:
    """The platform fault that is open, if any."""
    row = conn.execute(f"{_EPISODE} WHERE resolved_at IS NULL{' FOR UPDATE' if lock else ''}").fetchone()
    return _episode(row) if row else None


def lock_watchdog(conn: psycopg.Connection) -> None:
    """One watchdog decides at a time (held until the transaction ends)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [WATCHDOG_LOCK_KEY])


def save_episode(conn: psycopg.Connection, episode: Episode, now: datetime) -> Episode:
    """Insert a new episode or write the changed one; returns it with its id."""
    params = {
        "id": episode.id, "opened_at": episode.opened_at, "resolved_at": episode.resolved_at,
        "calm_since": episode.calm_since, "districts": sorted(episode.districts), "all": episode.all_districts,
        "causes": Jsonb([{"kind": c.kind, "subject": c.subject, "detail": c.detail} for c in episode.causes]),
        "now": now,
    }
    if episode.id is None:
        row = conn.execute(
            "INSERT INTO platform_faults (opened_at, resolved_at, calm_since, causes, districts, all_districts,"
            " updated_at) VALUES (%(opened_at)s, %(resolved_at)s, %(calm_since)s, %(causes)s, %(districts)s,"
            " %(all)s, %(now)s) RETURNING id", params).fetchone()
        assert row is not None
        return Episode(int(row[0]), episode.opened_at, episode.causes, episode.districts, episode.all_districts,
                       episode.calm_since, episode.resolved_at)
    conn.execute(
        "UPDATE platform_faults SET resolved_at = %(resolved_at)s, calm_since = %(calm_since)s, causes = %(causes)s,"
        " districts = %(districts)s, all_districts = %(all)s, updated_at = %(now)s WHERE id = %(id)s", params)
    return episode


def on_call(conn: psycopg.Connection, role: str) -> list[Recipient]:
    """The active recipients with the on-call role (registry `recipients.role`)."""
    rows = conn.execute(
        "SELECT id, code, name, phone, locale, active FROM recipients WHERE role = %s AND active ORDER BY id", [role]
    ).fetchall()
    return [Recipient(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def insert_platform_sms(
    conn: psycopg.Connection, episode_id: int, messages: Sequence[tuple[Recipient, str]], reason: str, now: datetime
) -> int:
    """The watchdog's outbox rows (source 'watchdog'), due now; returns how many."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO notifications (alert_id, alert_ids, recipient_id, phone, reason, body, status, source,"
            " platform_fault_id, created_at, next_attempt_at)"
            " VALUES (NULL, '{}', %s, %s, %s, %s, 'pending', 'watchdog', %s, %s, %s)",
            [(r.id, r.phone, reason, body, episode_id, now, now) for r, body in messages],
        )
    return len(messages)
