"""A component that watches the platform's services and logs a one-line status periodically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import psycopg

from envmon.settings import Settings
from envmon.stack.processes import is_port_open

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthSnapshot:
    """What the reporter saw at one moment."""

    database_ok: bool
    broker_ok: bool
    readings_last_minute: int
    open_alerts: int
    quarantined_last_hour: int

    def line(self) -> str:
        db = "ok" if self.database_ok else "DOWN"
        mq = "ok" if self.broker_ok else "DOWN"
        return (
            f"database {db}, broker {mq}, readings in the last minute {self.readings_last_minute}, "
            f"open alerts {self.open_alerts}, quarantined in the last hour {self.quarantined_last_hour}"
        )


def broker_port(mqtt_url: str) -> tuple[str, int]:
    """Host and port of an mqtt:// URL (default port 1883)."""
    from urllib.parse import urlsplit

    parts = urlsplit(mqtt_url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


async def take_snapshot(settings: Settings) -> HealthSnapshot:
    """Probe the database and the broker once."""
    host, port = broker_port(settings.require_mqtt_url())
    broker_ok = await asyncio.to_thread(is_port_open, port, host)
    try:
        async with await psycopg.AsyncConnection.connect(settings.require_database_url(), connect_timeout=5) as conn:
            cur = await conn.execute(
                """SELECT (SELECT count(*) FROM readings WHERE received_at > now() - interval '1 minute'),
                          (SELECT count(*) FROM alerts WHERE state IN ('open', 'escalated', 'acknowledged')),
                          (SELECT count(*) FROM quarantine WHERE received_at > now() - interval '1 hour')"""
            )
            row = await cur.fetchone()
    except psycopg.Error as exc:
        log.warning("database unreachable: %s", exc)
        return HealthSnapshot(False, broker_ok, 0, 0, 0)
    assert row is not None
    return HealthSnapshot(True, broker_ok, int(row[0]), int(row[1]), int(row[2]))


class HealthReporter:
    """Logs the platform's health every `interval_seconds`."""

    name = "health"

    def __init__(self, settings: Settings, interval_seconds: float = 30.0) -> None:
        self._settings = settings
        self._interval = interval_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            snapshot = await take_snapshot(self._settings)
            log.info("%s", snapshot.line())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
