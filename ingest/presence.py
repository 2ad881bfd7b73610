"""Device presence: online when data or an `online` status arrives, offline on its last will or silence.

Silence is decided by a timer, not by arriving messages: a device whose last message is older
than `SILENT_INTERVALS` reporting intervals (at least `MIN_SILENCE_SECONDS`) is marked offline.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

SILENT_INTERVALS = 3
MIN_SILENCE_SECONDS = 60

_MARK_SILENT = """
UPDATE device_state ds SET online = false, updated_at = now()
FROM devices d
WHERE d.id = ds.device_id AND ds.online
  AND ds.last_seen_at < %(now)s - make_interval(secs => greatest(%(n)s * d.reporting_interval_seconds, %(min)s))
RETURNING d.mn
"""
_SET_STATUS = """
INSERT INTO device_state (device_id, last_seen_at, online, updated_at)
SELECT id, %(now)s, %(online)s, now() FROM devices WHERE mn = %(mn)s
ON CONFLICT (device_id) DO UPDATE SET online = EXCLUDED.online, updated_at = now(),
    last_seen_at = greatest(device_state.last_seen_at, EXCLUDED.last_seen_at)
RETURNING device_id
"""


def mark_silent_devices(conn: psycopg.Connection, now: datetime) -> list[str]:
    """Mark devices that fell silent as offline; returns their MN codes (committed)."""
    with conn.transaction():
        rows = conn.execute(_MARK_SILENT, {"now": now, "n": SILENT_INTERVALS, "min": MIN_SILENCE_SECONDS}).fetchall()
    return sorted(r[0] for r in rows)


def parse_status(payload: bytes) -> bool | None:
    """`online` -> True, `offline` -> False, anything else None (a status message is a plain word)."""
    word = payload.strip().lower()
    return {b"online": True, b"offline": False}.get(word)


def set_device_status(conn: psycopg.Connection, mn: str, online: bool, now: datetime) -> bool:
    """Record a status message (e.g. the device's last will); False for an unknown device."""
    with conn.transaction():
        row = conn.execute(_SET_STATUS, {"now": now, "online": online, "mn": mn}).fetchone()
    return row is not None
