"""Inspection reports generated beside the alert engine: on open, on escalation, and final on resolution.

The engine thread only queues an alert id (never waits); this worker renders on its own thread with its
own connection. Requests for one alert that pile up while it renders collapse into one, and an alert's
report is refreshed at most every `min_refresh_seconds` (peak updates arrive with every batch), except
the first version and the final one, which are never delayed. When no alert waits, the worker makes the
scheduled daily and monthly compliance reports that are missing, one at a time, so an alarm's report
never queues behind a month of them.

Rendering (WeasyPrint, pure Python for the most part) runs in a child process at idle CPU priority:
in the engine's process it would hold the GIL for a second a report and delay the next alarm, and at
normal priority it would take the CPU from ingest and the database during an incident.

The render process dies with its parent: it asks the kernel for SIGKILL when the parent goes
(PR_SET_PDEATHSIG), so a SIGKILLed `envmon alerts` leaves no ~300 MB orphan behind. With it goes
multiprocessing's resource tracker, which exits when the last process holding its pipe (the parent
and the render process) is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, date, datetime
from multiprocessing import resource_tracker
from typing import TypeVar

import psycopg

from alerts.lifecycle import AlertRecord
from alerts.reports.store import due_compliance_reports, generate_compliance_report, generate_report
from envmon.db import Reconnecting, connect_url
from envmon.domain import ENDED_STATES
from envmon.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
LOCALES = ("zh-CN", "en")
COMPLIANCE_CHECK_SECONDS = 600.0
RENDER_NICENESS = 10
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# At stop, a report being rendered may finish for this long; then its process is killed. At idle CPU
# priority on a busy machine a render (or the warm-up) can take minutes: shutdown must not wait for it.
STOP_GRACE_SECONDS = 10.0
# SCHED_IDLE gets (almost) no CPU while anything else wants it: with CPU-bound work saturating the cores
# the render process made no progress at all (0 s of CPU in 97 s, 4 busy loops on 2 cores), so the report
# behind an alarm SMS's link never came. A render that waited this long at idle priority runs at
# RENDER_NICENESS (SCHED_OTHER) until it is done, then goes back to idle: SMS first, reports still come.
IDLE_WAIT_SECONDS = 20.0
_child_conn: psycopg.Connection | None = None


def die_with_parent(parent_pid: int) -> None:
    """In a child process: be killed when the parent dies (Linux), and exit now if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before the request above: nobody would signal us
        os._exit(1)


def _child_start(parent_pid: int) -> None:
    """In the render process: tied to the parent, lower priority, fonts and layout engine loaded once."""
    from alerts.reports.render_pdf import warm_up

    # Ctrl-C in a terminal signals the whole process group: the parent decides when this process stops
    # (_stop_pool), and a KeyboardInterrupt here only printed a traceback over the demo's goodbye.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked from birth (run()); ignored from now
    die_with_parent(parent_pid)
    os.nice(RENDER_NICENESS)
    # SCHED_IDLE: the renderer runs only on CPU time nothing else wants. At nice 10 it still took a
    # share from ingest and the engine under load (alert latency p50 ~110-170 ms at 50k readings/s with
    # reports, ~65 ms with SCHED_IDLE, in `envmon bench alerts`); reports stay seconds, SMS come first.
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    warm_up()


def _child_connection(database_url: str) -> psycopg.Connection:
    global _child_conn
    if _child_conn is None or _child_conn.closed:
        _child_conn = connect_url(database_url, application="envmon-reports", autocommit=True)
    return _child_conn


def _render_pool() -> ProcessPoolExecutor:
    """One render process (spawned: no threads or connections inherited), niced and warmed up."""
    # PR_SET_PDEATHSIG fires when the spawning *thread* ends: the pool is made and used by `run`'s thread.
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_child_start, initargs=(os.getpid(),))


def _render_process_ready() -> int:
    """In the render process: its pid, once the initializer (priority, warm-up) has run."""
    return os.getpid()


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop the render process: let a report in progress finish for a few seconds, then kill it."""
    processes = list(pool._processes.values()) if pool._processes else []
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(STOP_GRACE_SECONDS)
        if process.is_alive():
            log.warning("the report process did not finish within %.0f s; killing it", STOP_GRACE_SECONDS)
            process.kill()
            process.join(STOP_GRACE_SECONDS)


def set_idle(pid: int, idle: bool) -> None:
    """Put a render process at idle CPU priority, or back at its niceness (Linux; elsewhere nothing)."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
        with contextlib.suppress(ProcessLookupError):  # it died: the pool reports that on its own
            os.sched_setscheduler(pid, policy, os.sched_param(0))


def result_with_bounded_idle(future: Future[T], pids: Callable[[], Iterable[int]],
                                idle_wait_seconds: float = IDLE_WAIT_SECONDS) -> T:
    """The render's result; after `idle_wait_seconds` at idle priority its processes run at their niceness
    until it is done (then idle again), so a saturated machine delays a report instead of starving it."""
    try:
        return future.result(timeout=idle_wait_seconds)
    except TimeoutError:
        pass
    lifted = list(pids())
    log.info("a report waited %.0f s at idle CPU priority; rendering it at nice %d", idle_wait_seconds,
             RENDER_NICENESS)
    for pid in lifted:
        set_idle(pid, False)
    try:
        return future.result()
    finally:
        for pid in lifted:
            set_idle(pid, True)


def render_alert_report(database_url: str, alert_id: int, final: bool, reason: str, zone: str) -> None:
    """In the render process: a new version of the alert's report in every locale."""
    conn = _child_connection(database_url)
    for locale in LOCALES:
        generate_report(conn, alert_id, locale=locale, now=datetime.now(UTC), final=final, reason=reason, zone=zone)


def render_compliance_report(database_url: str, site: str, kind: str, start: date, locale: str, zone: str) -> None:
    """In the render process: one scheduled compliance report."""
    generate_compliance_report(_child_connection(database_url), site, kind, start, locale=locale,
                               now=datetime.now(UTC), zone=zone, reason="schedule")


# Reads one alert (alerts.store.load_alert): given by the service, so the reports room never imports the top.
AlertLoader = Callable[[psycopg.Connection, int], AlertRecord | None]


class ReportWorker:
    """Queues report requests and renders them (`run` on a thread of its own)."""

    def __init__(self, settings: Settings, *, load_alert: AlertLoader, min_refresh_seconds: float = 60.0) -> None:
        self._settings = settings
        self._load_alert = load_alert
        self._min_refresh = min_refresh_seconds
        self._requests: queue.Queue[int] = queue.Queue()
        self._wanted: set[int] = set()
        self._lock = threading.Lock()
        self._last: dict[int, tuple[float, str]] = {}  # alert id -> (when rendered, alert state then)
        self.generated = 0
        self.seconds: list[float] = []
        self._pool: ProcessPoolExecutor | None = None
        self._due: list[tuple[str, str, date, str]] = []
        # The first check waits a little: the demo's first alarms come before a month of reports.
        self._next_compliance_check = time.monotonic() + 120.0
        # Set once the render process has started and warmed up (at start, not at the first alarm).
        self.ready = threading.Event()
        self.render_pid: int | None = None

    def request(self, alert_id: int, *, final: bool = False) -> None:
        """Ask for a new version of the alert's report (cheap; called from the engine thread)."""
        with self._lock:
            if alert_id in self._wanted:
                return
            self._wanted.add(alert_id)
        self._requests.put(alert_id)

    def run(self, stop: threading.Event) -> None:
        """Render requested reports until `stop` is set."""
        # The render process is spawned from this thread and inherits its signal mask: with SIGINT blocked it
        # cannot die of a Ctrl-C before its initializer ignores SIGINT (it printed a KeyboardInterrupt, and this
        # side a BrokenProcessPool, when Ctrl-C came in the demo's first seconds). The main thread still gets it.
        # multiprocessing's resource tracker does the same around its own start (bpo-33613) and unblocks SIGINT
        # afterwards in the calling thread, so it is started first.
        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        self._pool = _render_pool()
        try:
            self._warm_up(stop)
            self._serve(stop)
        finally:
            _stop_pool(self._pool)

    def _warm_up(self, stop: threading.Event) -> None:
        """Start the render process now, so the first alarm's report does not wait for it (nor a stop for it)."""
        assert self._pool is not None
        started = self._pool.submit(_render_process_ready)
        begun, lifted = time.monotonic(), list[int]()
        try:
            while not stop.is_set():
                if not lifted and time.monotonic() - begun >= IDLE_WAIT_SECONDS:
                    lifted = self._render_pids()  # the warm-up starves at idle priority like a render would
                    for pid in lifted:
                        set_idle(pid, False)
                try:
                    self.render_pid = started.result(timeout=0.5)
                except TimeoutError:
                    continue
                except Exception:  # the first request tries again (a broken pool is replaced there)
                    log.exception("the report process did not start")
                    return
                self.ready.set()
                return
        finally:
            for pid in lifted:
                set_idle(pid, True)

    def _serve(self, stop: threading.Event) -> None:
        db = Reconnecting(self._settings.require_database_url(), application="envmon-reports", autocommit=True)
        while not stop.is_set():
            try:
                alert_id: int | None = self._requests.get(timeout=0.5)
            except queue.Empty:
                alert_id = None
            try:
                conn = db.connection()
                if alert_id is None:
                    self._compliance_step(conn)
                    continue
                with self._lock:
                    self._wanted.discard(alert_id)
                self._render(conn, alert_id)
            except BrokenProcessPool:
                log.error("the report process died; starting another")
                self._pool = _render_pool()
            except Exception:  # a report that cannot be built must not stop the next ones
                log.exception("report %s failed", f"for alert {alert_id}" if alert_id else "(compliance)")
                db.close()  # a fresh connection for the next report, whatever state this one was left in
        db.close()

    def _compliance_step(self, conn: psycopg.Connection) -> None:
        """Make one missing scheduled compliance report (the list is refreshed every ten minutes)."""
        now = datetime.now(UTC)
        if not self._due and time.monotonic() >= self._next_compliance_check:
            self._next_compliance_check = time.monotonic() + COMPLIANCE_CHECK_SECONDS
            self._due = due_compliance_reports(conn, now=now, zone=self._settings.timezone,
                                               locales=(self._settings.locale,))
        if self._due:
            code, kind, start, locale = self._due.pop(0)
            assert self._pool is not None
            self._pool.submit(render_compliance_report, self._settings.require_database_url(), code, kind, start,
                              locale, self._settings.timezone).result()

    def _render_pids(self) -> list[int]:
        """The pool's render processes (also one still warming up: an alarm's report waits for it)."""
        processes = self._pool._processes if self._pool is not None else None
        return list(processes) if processes else []

    def _render(self, conn: psycopg.Connection, alert_id: int) -> None:
        record = self._load_alert(conn, alert_id)
        if record is None:
            return
        final = record.state in ENDED_STATES
        last = self._last.get(alert_id)
        if last is not None and last[1] in ENDED_STATES:
            return  # the final version exists
        fresh = last is not None and time.monotonic() - last[0] < self._min_refresh
        if fresh and not final and last is not None and last[1] == record.state:
            return
        started = time.monotonic()
        reason = "open" if last is None else ("resolved" if final else record.state)
        assert self._pool is not None
        result_with_bounded_idle(self._pool.submit(render_alert_report, self._settings.require_database_url(),
                                                   alert_id, final, reason, self._settings.timezone),
                                 self._render_pids)
        self._last[alert_id] = (time.monotonic(), record.state)
        self.generated += 1
        self.seconds.append(time.monotonic() - started)
        log.info("report for alert %s (%s, %s) ready in %.2f s", record.code, reason, record.state,
                 time.monotonic() - started)
