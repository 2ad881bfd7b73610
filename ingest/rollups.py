"""The roll-up refresh of plain PostgreSQL: what TimescaleDB's continuous-aggregate policies do, from ingest.

On plain PostgreSQL the minute, hour and day roll-ups are tables (migration 0032). `readings_rollup_refresh()`
recomputes the buckets of late readings and advances the materialized mark; this thread calls it every
`REFRESH_SECONDS`, and again at once while it says the mark is still behind (after an outage, a first start on
history). On TimescaleDB the function does not exist and the thread only waits for the stop: the database's own
jobs refresh.
Several ingest processes may all run it: the function lets one refresh at a time and the others return at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import psycopg

from envmon.db import Reconnecting

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
CATCH_UP_PAUSE_SECONDS = 0.05  # between steps while catching up: the writers get the database in between
_EXISTS = "SELECT to_regproc('readings_rollup_refresh') IS NOT NULL"
_REFRESH = "SELECT readings_rollup_refresh()"


def refresh_once(conn: psycopg.Connection) -> timedelta | None:
    """One refresh step (committed); how far the mark still is behind, or None when another refresh ran."""
    with conn.transaction():
        row = conn.execute(_REFRESH).fetchone()
    return None if row is None else row[0]


class RollupRefresher:
    """Calls the refresh on a connection of its own until stopped (plain PostgreSQL only)."""

    def __init__(self, database_url: str) -> None:
        self._db = Reconnecting(database_url, application="envmon-rollups")
        self._present: bool | None = None  # whether the database has the roll-up tables; None: not asked yet
        self.refreshes = 0
        self.failures = 0

    def run(self, stop: threading.Event) -> None:
        """Refresh every REFRESH_SECONDS until stopped (idle where the database has no roll-up tables)."""
        while not stop.is_set():
            try:
                if self._present is None:
                    self._present = self._db.attempt(_has_rollups)
                    if not self._present:
                        log.info("roll-up refresh not needed: the database refreshes its own aggregates")
                        stop.wait()  # idle, not ended: a thread that ends counts as died (ingest health)
                        return
                self._refresh_until_caught_up(stop)
            except psycopg.Error as exc:
                self.failures += 1
                log.warning("roll-up refresh failed (will retry): %s", exc)
            if stop.wait(REFRESH_SECONDS):
                return

    def _refresh_until_caught_up(self, stop: threading.Event) -> None:
        """Refresh steps until the mark is where it should be, or another process holds the refresh."""
        steps = 0
        while not stop.is_set():
            left = self._db.attempt(refresh_once)
            self.refreshes += 1
            steps += 1
            if not left:  # caught up (zero), or another process is refreshing (None)
                if steps > 1:
                    log.info("roll-ups caught up after %d refresh steps", steps)
                return
            if steps == 1:
                log.info("roll-ups catching up: %s of readings to materialize", left)
            stop.wait(CATCH_UP_PAUSE_SECONDS)


def _has_rollups(conn: psycopg.Connection) -> bool:
    with conn.transaction():
        row = conn.execute(_EXISTS).fetchone()
    return bool(row and row[0])
