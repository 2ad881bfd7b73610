"""Device presence: online when data or an `online` status arrives, offline on its last will or silence.

Silence is decided by a timer, not by arriving messages: a device whose last message is older
than `SILENT_INTERVALS` reporting intervals (at least `MIN_SILENCE_SECONDS`) is marked offline.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from envmon.db import Reconnecting

log = logging.getLogger(__name__)
CHECK_SECONDS = 10.0

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


class PresenceMonitor:
    """Records status messages and runs the silence timer on a connection of its own."""

    def __init__(self, database_url: str) -> None:
        self._db = Reconnecting(database_url, application="envmon-presence")
        self._statuses: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=100_000)

    def on_status(self, device: str, payload: bytes) -> None:
        """Called from the MQTT thread: queue the status (dropped when the queue is full)."""
        try:
            self._statuses.put_nowait((device, payload))
        except queue.Full:
            log.warning("presence queue full: status of %s dropped (the silence timer still applies)", device)

    def run(self, stop: threading.Event) -> None:
        """Record statuses as they come and check for silence every CHECK_SECONDS."""
        next_check = 0.0
        while not stop.is_set():
            try:
                device, payload = self._statuses.get(timeout=1.0)
                self._record(device, payload)
            except queue.Empty:
                pass
            if datetime.now(UTC).timestamp() >= next_check:
                next_check = datetime.now(UTC).timestamp() + CHECK_SECONDS
                self._with_connection(self._check_silence)

    def _record(self, device: str, payload: bytes) -> None:
        if not payload:
            # An empty retained message clears the topic (a device deactivated or reset): it says nothing.
            log.debug("status of %s cleared", device)
            return
        online = parse_status(payload)
        if online is None:
            log.warning("status of %s is neither online nor offline: %r", device, payload[:40])
            return
        self._with_connection(lambda conn: set_device_status(conn, device, online, datetime.now(UTC)))

    def _check_silence(self, conn: psycopg.Connection) -> None:
        devices = mark_silent_devices(conn, datetime.now(UTC))
        if devices:
            log.info("devices fell silent (offline): %s", ", ".join(devices))

    def _with_connection(self, work: Callable[[psycopg.Connection], object]) -> None:
        try:
            self._db.attempt(work)
        except psycopg.Error as exc:
            log.warning("presence update failed (will retry): %s", exc)
