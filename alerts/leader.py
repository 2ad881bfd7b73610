"""One active engine per shard: a PostgreSQL advisory lock held on a connection of its own.

Standbys try the lock every `retry_seconds`; the active engine checks its connection every few
seconds. PostgreSQL releases the lock the moment the holder's session ends (a killed process closes
its socket), so a standby takes over within `retry_seconds` plus its start-up, from the snapshot and
the alert rows the dead one committed. An engine that loses its connection cannot know whether a
standby took over, so it stops (its supervisor restarts it as a standby).
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from envmon.db import connect_url

log = logging.getLogger(__name__)
LOCK_NAMESPACE = 0x414C5254  # "ALRT": first key of the two-key advisory lock; second: hashtext(shard)


class ShardLock:
    """The advisory lock that makes this process the shard's active engine."""

    def __init__(self, database_url: str, shard: str) -> None:
        self._url = database_url
        self.shard = shard
        self._conn: psycopg.Connection | None = None
        # Since when (time.monotonic) the lock's database has been unreachable; None while it answers.
        self.failing_since: float | None = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False (and no connection kept) otherwise."""
        try:
            conn = connect_url(self._url, application=f"envmon-alerts-lock-{self.shard}", autocommit=True)
        except psycopg.Error as exc:
            log.warning("shard lock: database unavailable: %s", exc)
            self.failing_since = self.failing_since or time.monotonic()
            return False
        self.failing_since = None
        row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [LOCK_NAMESPACE, self.shard]).fetchone()
        if row is None or not row[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def wait(self, stop: threading.Event, retry_seconds: float = 1.0) -> bool:
        """Block until the lock is ours (True) or `stop` is set (False)."""
        announced = False
        while not stop.is_set():
            if self.try_acquire():
                log.info("shard %s: this engine is active", self.shard)
                return True
            if not announced:
                log.info("shard %s: another engine is active; standing by", self.shard)
                announced = True
            stop.wait(retry_seconds)
        return False

    def still_held(self) -> bool:
        """True while the lock's session is alive."""
        try:
            assert self._conn is not None
            self._conn.execute("SELECT 1")
            return True
        except (psycopg.Error, AssertionError):
            # The database may be away: counted from now until a new connection answers (try_acquire).
            self.failing_since = self.failing_since or time.monotonic()
            return False

    def release(self) -> None:
        """Give the lock up (closing the session releases it)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
