"""Heartbeats in PostgreSQL: each ingest and alert process writes its health every few seconds.

The platform watchdog (alerts/watchdog.py) reads them in a process of its own, so it notices a service
that died, hangs or reports itself unhealthy even when the alert engine is the one that is down. A row
is the process's own (service, instance); a clean stop deletes it, a crash leaves it to go stale.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from envmon.db import Reconnecting, connect_url

log = logging.getLogger(__name__)
BEAT_SECONDS = 5.0
Health = Callable[[], tuple[bool, dict[str, object]]]
# The detail key naming the failed checks: every service's verdict carries it, the watchdog reads it.
FAILING = "failing"

_UPSERT = """
INSERT INTO service_heartbeats (service, instance, role, ok, detail, started_at, beat_at)
VALUES (%(service)s, %(instance)s, %(role)s, %(ok)s, %(detail)s, %(started)s, coalesce(%(now)s, now()))
ON CONFLICT (service, instance) DO UPDATE SET role = EXCLUDED.role, ok = EXCLUDED.ok, detail = EXCLUDED.detail,
    started_at = EXCLUDED.started_at, beat_at = EXCLUDED.beat_at
"""


def health_verdict(checks: Mapping[str, bool], facts: Mapping[str, object]) -> tuple[bool, dict[str, object]]:
    """(healthy, detail): the facts with every failed check named under `failing`, in the order checked."""
    failing = [name for name, ok in checks.items() if not ok]
    return not failing, {FAILING: failing, **facts}


def rounded_seconds(seconds: float | None) -> float | None:
    """A duration for a heartbeat's detail: milliseconds are enough; None (not measured) stays None."""
    return None if seconds is None else round(seconds, 3)


def instance_name() -> str:
    """This process: host and pid (a restarted process is a new instance; the old row goes stale)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def write_heartbeat(
    conn: psycopg.Connection, *, service: str, instance: str, ok: bool, detail: dict[str, object],
    started: datetime, now: datetime | None,
) -> None:
    """Record one beat (autocommit connection, or inside the caller's transaction). `now` None: the database's
    clock, the one the watchdog compares with, so clocks of other hosts do not matter."""
    role = str(detail.get("role", "active"))
    conn.execute(_UPSERT, {"service": service, "instance": instance, "role": role, "ok": ok,
                           "detail": Jsonb(detail, dumps=_dumps), "started": started, "now": now})


def delete_heartbeat(conn: psycopg.Connection, *, service: str, instance: str) -> None:
    """A clean stop: the instance is gone on purpose, not dead."""
    conn.execute("DELETE FROM service_heartbeats WHERE service = %s AND instance = %s", [service, instance])


def _dumps(value: object) -> str:
    import json

    return json.dumps(value, default=str, allow_nan=False)


class HeartbeatWriter:
    """A daemon thread writing `health()` every BEAT_SECONDS until stopped; database trouble is retried."""

    def __init__(self, database_url: str, service: str, health: Health, *, beat_seconds: float = BEAT_SECONDS) -> None:
        self._url = database_url
        self.service = service
        self.instance = instance_name()
        self._health = health
        self._beat_seconds = beat_seconds
        self._stop = threading.Event()
        self._started = datetime.now(UTC)
        self._thread = threading.Thread(target=self._run, name=f"{service}-heartbeat", daemon=True)

    def start(self) -> None:
        """Start beating."""
        self._thread.start()

    def stop(self, *, forget: bool = True) -> None:
        """Stop beating; `forget` deletes the row (a clean stop is not a fault). A service that failed keeps
        its row, which goes stale, so the watchdog pages."""
        self._stop.set()
        self._thread.join(timeout=10)
        if not forget:
            return
        try:
            with connect_url(self._url, autocommit=True, application=f"envmon-{self.service}-heartbeat") as conn:
                delete_heartbeat(conn, service=self.service, instance=self.instance)
        except psycopg.Error as exc:
            log.warning("could not remove the %s heartbeat: %s", self.service, exc)

    def _verdict(self) -> tuple[bool, dict[str, object]]:
        try:
            return self._health()
        except Exception as exc:  # a broken health check is an unhealthy service, not a dead heartbeat
            log.exception("%s health check failed", self.service)
            return False, {"error": repr(exc)}

    def _beat(self, conn: psycopg.Connection) -> None:
        ok, detail = self._verdict()
        write_heartbeat(conn, service=self.service, instance=self.instance, ok=ok, detail=detail,
                        started=self._started, now=None)

    def _run(self) -> None:
        db = Reconnecting(self._url, application=f"envmon-{self.service}-heartbeat", autocommit=True)
        while not self._stop.is_set():
            try:
                db.attempt(self._beat)
            except psycopg.Error as exc:
                log.warning("%s heartbeat not written (will retry): %s", self.service, exc)
            self._stop.wait(self._beat_seconds)
        db.close()
