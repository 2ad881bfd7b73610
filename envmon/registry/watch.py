"""Registry change notifications: LISTEN on a dedicated connection, debounce, call back.

Migration 0010 makes every statement that changes a registry table send NOTIFY `envmon_registry`
with the table's name; PostgreSQL delivers them when the transaction commits and folds equal ones,
so one `envmon registry load` arrives as a handful of notifications at once. The watcher waits for
them to settle (DEBOUNCE_SECONDS of quiet, at most MAX_DELAY_SECONDS after the first) and calls
`on_change` once with the tables named. Notifications sent while the listener is disconnected are
lost, so every (re)connect is reported as a change of every table; `refresh_seconds` (a slow safety
net) does the same periodically. The callback runs on the watcher's thread: it should only hand
the news to the thread that owns the data (or take that data's lock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import psycopg

from envmon.db import Backoff, close_quietly, connect_url

log = logging.getLogger(__name__)

CHANNEL = "envmon_registry"
# Every table migration 0010 watches; a reconnect or the safety net reports all of them.
REGISTRY_TABLES = frozenset({
    "districts", "sites", "devices", "limits", "recipients", "escalation_chains", "escalation_steps",
    "maintenance_windows", "silences",
})
# One load's notifications arrive together at its commit; a short quiet time turns them into one reload.
DEBOUNCE_SECONDS = 0.1
# A stream of small edits (an admin clicking fast) still reaches the services within a second.
MAX_DELAY_SECONDS = 1.0
# How often the listener looks at its stop flag when nothing arrives.
POLL_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0

OnChange = Callable[[frozenset[str]], None]


class RegistryWatcher:
    """Calls `on_change(tables)` soon after a committed registry change (on its own thread)."""

    def __init__(
        self, database_url: str, on_change: OnChange, *, name: str, tables: Iterable[str] = REGISTRY_TABLES,
        refresh_seconds: float | None = None,
    ) -> None:
        self._url = database_url
        self._on_change = on_change
        self._name = name
        self._tables = frozenset(tables)
        self._refresh_seconds = refresh_seconds
        self.listening = threading.Event()  # set while LISTEN is in place (tests wait for it)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Listen on a thread of its own until `stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run(self, stop: threading.Event) -> None:
        """Connect, LISTEN, report; reconnect with backoff until `stop` is set."""
        backoff, failures = Backoff(first_seconds=0.5, max_seconds=RETRY_MAX_SECONDS), 0
        while not stop.is_set():
            conn: psycopg.Connection | None = None
            try:
                conn = connect_url(self._url, autocommit=True, application=self._name)
                conn.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                failures = 0
                self._report(REGISTRY_TABLES)  # whatever changed while nobody listened
                self._listen(conn, stop)
            except psycopg.Error as exc:
                failures += 1
                delay = backoff.delay_seconds(failures)
                log.warning("%s: registry notifications interrupted (%s); reconnecting in %.1f s",
                            self._name, exc, delay)
            except Exception:  # a bug must not end the watching for the life of the process
                failures += 1
                delay = backoff.delay_seconds(failures)
                log.exception("%s: registry watcher failed; restarting in %.1f s", self._name, delay)
            finally:
                self.listening.clear()
                close_quietly(conn)
            stop.wait(backoff.delay_seconds(failures))

    def _listen(self, conn: psycopg.Connection, stop: threading.Event) -> None:
        pending: set[str] = set()
        first_at = last_at = 0.0
        refreshed_at = time.monotonic()
        while not stop.is_set():
            wait = POLL_SECONDS if not pending else DEBOUNCE_SECONDS
            for note in conn.notifies(timeout=wait, stop_after=1):
                now = time.monotonic()
                first_at = first_at if pending else now
                last_at = now
                pending.add(note.payload)
            now = time.monotonic()
            if pending and (now - last_at >= DEBOUNCE_SECONDS or now - first_at >= MAX_DELAY_SECONDS):
                self._report(pending)
                pending.clear()
            elif self._refresh_seconds is not None and now - refreshed_at >= self._refresh_seconds:
                self._report(REGISTRY_TABLES)
                refreshed_at = now

    def _report(self, tables: Iterable[str]) -> None:
        relevant = self._tables & frozenset(tables)
        if not relevant:
            return
        try:
            self._on_change(relevant)
        except Exception:  # the consumer's bug must not stop the notifications
            log.exception("%s: registry change handler failed", self._name)
