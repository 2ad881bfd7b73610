"""Reports off the alert path: a thread with its own connection generates the versions asked for.

`submit()` never blocks the caller (the alert service, right after committing a transition): a full
queue drops the request, counts it and logs it. A failed generation is logged and counted, and the
connection is reopened for the next one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from alerts.reports.facts import DEFAULT_ZONE
from alerts.reports.render_pdf import warm_up
from alerts.reports.store import generate_report
from envmon.errors import EnvmonError

log = logging.getLogger(__name__)
_STOP = None


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Make a new version of an alert's report."""

    alert_id: int
    reason: str
    final: bool = False


@dataclass
class WorkerStats:
    """Counters for metrics and tests."""

    generated: int = 0
    failed: int = 0
    dropped: int = 0
    last_seconds: float = 0.0


class ReportWorker:
    """One thread, one connection, a bounded queue of report requests."""

    def __init__(
        self,
        database_url: str,
        *,
        locales: tuple[str, ...] = ("zh-CN",),
        zone: str = DEFAULT_ZONE,
        max_queued: int = 1000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._url = database_url
        self._locales = locales
        self._zone = zone
        self._clock = clock
        self._queue: queue.Queue[ReportRequest | None] = queue.Queue(maxsize=max_queued)
        self._thread = threading.Thread(target=self._run, name="envmon-reports", daemon=True)
        self._conn: psycopg.Connection | None = None
        self.stats = WorkerStats()

    def start(self) -> None:
        """Start the thread (it loads the PDF fonts first, about a second)."""
        self._thread.start()

    def submit(self, alert_id: int, *, reason: str, final: bool = False) -> bool:
        """Ask for a new version; False when the queue is full (the request is dropped and counted)."""
        try:
            self._queue.put_nowait(ReportRequest(alert_id, reason, final))
        except queue.Full:
            self.stats.dropped += 1
            log.warning("report queue full: report of alert %d (%s) dropped", alert_id, reason)
            return False
        return True

    def stop(self, timeout_seconds: float = 30.0) -> None:
        """Finish the queued requests, then stop the thread and close the connection."""
        self._queue.put(_STOP)
        self._thread.join(timeout_seconds)

    def _run(self) -> None:
        warm_up()
        while (request := self._queue.get()) is not _STOP:
            self._generate(request)
        if self._conn is not None:
            self._conn.close()

    def _generate(self, request: ReportRequest) -> None:
        started = time.perf_counter()
        try:
            conn = self._connection()
            for locale in self._locales:
                generate_report(conn, request.alert_id, locale=locale, now=self._clock(), final=request.final,
                                reason=request.reason, zone=self._zone)
        except Exception as exc:  # noqa: BLE001 - one bad report (a bug, a font) must not stop the ones after it
            self.stats.failed += 1
            level = logging.ERROR if isinstance(exc, psycopg.Error | EnvmonError) else logging.CRITICAL
            log.log(level, "report of alert %d (%s) failed: %s", request.alert_id, request.reason, exc,
                    exc_info=level == logging.CRITICAL)
            self._drop_connection()
            return
        self.stats.generated += 1
        self.stats.last_seconds = time.perf_counter() - started
        log.info("report of alert %d (%s) stored in %.2f s", request.alert_id, request.reason, self.stats.last_seconds)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, application_name="envmon-reports", connect_timeout=10)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
