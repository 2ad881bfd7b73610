"""`envmon alerts`: the engine thread, the SMS sender, the webhooks and (optionally) the batch bus.

In one process with ingest (the demo) the service is an ingest batch subscriber (`on_batch`); as a
process of its own it reads committed batches from the broker (`from_bus=True`; the priority lane's on a
topic and session of their own, so they pass the backlog in the broker too). Batches wait in a bounded
queue (alerts/intake.py: the priority lane's first); when it is full the subscriber blocks, which slows
ingest rather than losing batches.
The engine thread evaluates each batch, ticks every settings.alerts_tick_seconds, and retries with
backoff when the database is away (rebuilding its state from the database when it returns).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import psycopg

from alerts import store
from alerts.answer_flow import answer_policy, tick_answers
from alerts.batch import describe_row, sanitize_batch, split_batch
from alerts.bus import BatchBus
from alerts.catchup import MARGIN_SECONDS, catch_up_since, stored_batches
from alerts.errors import AlertsError
from alerts.health import HealthBounds, HealthFacts, judge_health
from alerts.http import serve_http
from alerts.intake import Intake, Queued, put_off_since
from alerts.leader import ShardLock
from alerts.metrics import AlertMetrics
from alerts.notify.callbacks import STATUS_CALLBACK_PATH, public_url
from alerts.notify.sender import OutboxSender
from alerts.notify.sms import RetryPolicy, SmsSender
from alerts.notify.twilio_sms import sms_sender_from_settings
from alerts.processor import AlertProcessor, StepResult, link_maker
from alerts.reports.worker import ReportWorker
from alerts.rules.policy import Policy, load_policy, load_policy_file
from alerts.webhooks import Webhooks
from envmon.batchwire import LANE_BATCH_TOPIC
from envmon.columns import ReadingColumns
from envmon.db import DATABASE_AWAY, Backoff
from envmon.heartbeat import HeartbeatWriter
from envmon.registry.watch import RegistryWatcher
from envmon.settings import Settings

log = logging.getLogger(__name__)
QUEUE_BATCHES = 64
RETRY_MAX_SECONDS = 10.0
LOCK_CHECK_SECONDS = 2.0
# The safety net behind registry notifications (a reload that finds nothing changed rebuilds nothing).
REGISTRY_REFRESH_SECONDS = 300.0
# Batches from the bus evaluated but not yet covered by a saved snapshot, at most: then a save is forced.
# Below Mosquitto's default of 20 QoS 1 messages in flight to a client, which would stop the bus.
MAX_UNSAVED_ACKS = 10
# A waiting priority lane batch puts the snapshot and the timers off for this long at most (alerts/intake.py).
LANE_DEFER_MAX_SECONDS = 1.0
# How often the engine counts silent alerts (open pollution and safety alerts nobody heard of).
SILENT_CHECK_SECONDS = 10.0
ANSWER_CHECK_SECONDS = 30.0  # the plant's answer: asking, reminding and escalating are minutes-scale steps
# The engine has not finished a step (batch or tick) for this long: it is stuck.
STEP_STALE_SECONDS = 30.0
# The engine waits by the one reconnect policy (envmon.db) while the database is away (DATABASE_AWAY):
# every other error, psycopg's data and integrity errors included, comes from the step's content.
DATABASE_BACKOFF = Backoff(first_seconds=0.5, max_seconds=RETRY_MAX_SECONDS)


class CommittedBatch(Protocol):
    """What the engine reads of a batch ingest committed (ingest.batches.StoredBatch, in one process with it):
    only its readings, so alerts needs nothing of ingest."""

    @property
    def readings(self) -> ReadingColumns: ...
    @property
    def lane(self) -> bool: ...  # the priority lane's: life-safety devices only (ingest/lane.py)


class AlertServiceError(AlertsError):
    """The alert service cannot go on (a worker thread died); the process exits non-zero."""


class AlertService:
    """Owns the engine thread, the sender thread and the HTTP endpoint; a demo component."""

    name = "alerts"

    def __init__(
        self, settings: Settings, *, sender: SmsSender | None = None, from_bus: bool = False,
        policy: Policy | None = None, retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        self.metrics = AlertMetrics()
        self.processor = AlertProcessor(settings, policy or _policy(settings), shard=settings.alerts_shard,
                                        link=link_maker(settings))
        self._sms = sender or sms_sender_from_settings(settings)
        self.outbox = OutboxSender(
            settings.require_database_url(), self._sms, self.metrics,
            status_callback=_status_callback(settings), on_failed=self._plan_soon, retry=retry,
        )
        self.reports = ReportWorker(settings, load_alert=store.load_alert) if settings.alerts_reports else None
        self._queue = Intake(QUEUE_BATCHES)
        # Acknowledgements of bus batches waiting for the snapshot that covers them, in arrival order.
        self._unsaved_acks: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._plan_now = threading.Event()
        self._bus_back = threading.Event()  # the bus (re)connected: the engine catches up from the database
        # Where an unfinished catch-up started: its chunks save snapshots, so the next one must not start later.
        self._catch_up_floor: datetime | None = None
        self.ready = threading.Event()
        self.active = threading.Event()  # this process holds the shard lock
        self.shard = settings.alerts_shard
        self._lock = ShardLock(settings.require_database_url(), self.shard)
        client_id = "envmon-alerts-" + ("all" if self.shard == "*" else self.shard)
        self.bus = BatchBus(settings.require_mqtt_url(), self._from_bus, client_id=client_id,
                            on_connect=self._bus_back.set) if from_bus else None
        # The priority lane's batches on a session of their own: the broker's queue of the main one holds
        # the backlog, and its in-flight window (acknowledged only after a snapshot) would hold them back.
        self.lane_bus = BatchBus(settings.require_mqtt_url(), self._from_lane_bus, client_id=client_id + "-lane",
                                 on_connect=self._bus_back.set, topic=LANE_BATCH_TOPIC) if from_bus else None
        self.webhooks = Webhooks(settings, on_change=self._plan_soon)
        self.registry_watch = RegistryWatcher(settings.require_database_url(), self._registry_changed,
                                              name="envmon-alerts-registry-watch",
                                              refresh_seconds=REGISTRY_REFRESH_SECONDS)
        # Health facts the engine thread keeps (read by /healthz and the heartbeat from other threads).
        self._working_since: float | None = None  # when the batch being evaluated was queued
        self._deferred_since: float | None = None  # since when a waiting lane batch puts housekeeping off
        self._db_failing_since: float | None = None
        self._db_failures = 0
        self._silent_alerts = 0
        self._silent_checked = float("-inf")
        self._answers_checked = float("-inf")
        self.failure: str | None = None  # why a worker thread died; the process then exits non-zero
        self._died = threading.Event()
        self._threads = [
            self._thread(self._lead, "alerts-leader", daemon=True),
            self._thread(self._engine_loop, "alerts-engine"),
            self._thread(lambda: self.outbox.run(self._stop), "alerts-sms", daemon=True),
            self._thread(lambda: self.registry_watch.run(self._stop), "alerts-registry", daemon=True),
        ]
        for bus, name in ((self.bus, "alerts-bus"), (self.lane_bus, "alerts-lane-bus")):
            if bus is not None:
                self._threads.append(self._thread(_bus_runner(bus, self._stop, self.active), name))
        if self.reports is not None:
            reports = self.reports
            self._threads.append(self._thread(lambda: reports.run(self._stop), "alerts-reports", daemon=True))
        service = "alerts" if self.shard == "*" else f"alerts:{self.shard}"
        self.heartbeat = HeartbeatWriter(settings.require_database_url(), service, self._health,
                                         beat_seconds=settings.heartbeat_interval_seconds)
        self._bounds = HealthBounds(
            step_stale_seconds=STEP_STALE_SECONDS, max_lag_seconds=settings.alerts_max_lag_seconds,
            database_retry_max_seconds=settings.alerts_database_retry_max_seconds,
        )
        self.http_port = 0

    def _thread(self, target: Callable[[], None], name: str, *, daemon: bool = False) -> threading.Thread:
        return threading.Thread(target=self._guarded, args=(target, name), name=name, daemon=daemon)

    def _guarded(self, target: Callable[[], None], name: str) -> None:
        """Run a worker; if it raises or returns before the service stops, record why and stop the service."""
        try:
            target()
        except BaseException as exc:
            log.critical("alerts: thread %s died: %r", name, exc, exc_info=True)
            self._die(f"thread {name} died: {exc!r}")
            return
        if not self._stop.is_set():
            log.critical("alerts: thread %s stopped while the service runs", name)
            self._die(f"thread {name} stopped")

    def _die(self, why: str) -> None:
        self.failure = self.failure or why
        self._died.set()

    # ----- input --------------------------------------------------------------------------------

    def on_batch(self, batch: CommittedBatch) -> None:
        """Ingest's subscriber call (its dispatch thread): queue the committed rows for the engine.

        A standby engine in the same process as ingest drops them: the active engine of the shard runs
        elsewhere and reads its batches from the bus."""
        if self.active.is_set():
            self.submit(batch.readings, lane=batch.lane)

    def _from_bus(self, batch: ReadingColumns, ack: Callable[[], None]) -> None:
        self.submit(batch, ack)

    def _from_lane_bus(self, batch: ReadingColumns, ack: Callable[[], None]) -> None:
        self.submit(batch, ack, lane=True)

    def submit(self, batch: ReadingColumns, ack: Callable[[], None] | None = None, *, lane: bool = False) -> None:
        """Queue committed readings for the engine (blocks while their queue is full: backpressure), a priority
        lane batch ahead of the backlog; rows no rule can judge (non-finite values) are set aside here, and counted."""
        batch, dropped = sanitize_batch(batch)
        if dropped:
            self.metrics.readings_quarantined.inc(dropped)
            log.error("alert engine set aside %d readings with a value or time that is not finite", dropped)
        self._queue.put((batch, ack, time.monotonic()), lane=lane)

    def _plan_soon(self) -> None:
        self._plan_now.set()

    def _registry_changed(self, _tables: frozenset[str]) -> None:
        # The engine thread reloads at its next step; the timer step comes at once, not in a tick.
        self.processor.request_reload()
        self._plan_now.set()

    # ----- leadership ---------------------------------------------------------------------------

    def _lead(self) -> None:
        """Hold the shard lock while running; step down to standby when its session is lost."""
        while self._lock.wait(self._stop):
            self.active.set()
            while not self._stop.wait(LOCK_CHECK_SECONDS) and self._lock.still_held():
                pass
            self.active.clear()
            self._lock.release()
            if not self._stop.is_set():
                log.error("shard %s: lost the session holding the shard lock; standing by", self.shard)

    # ----- the engine thread --------------------------------------------------------------------

    def _engine_loop(self) -> None:
        next_tick = 0.0
        pending: Queued | None = None
        while not self._stop.is_set():
            if not self.active.is_set():
                self._stand_by()
                pending, self._working_since = None, None
                self.active.wait(0.5)
                continue
            try:
                if pending is None:
                    pending = self._next_batch(next_tick)
                # After taking the batch: a batch of a new bus connection was queued after its connect hook ran,
                # and judged before the catch-up it would move series past the readings the broker lost.
                if self._bus_back.is_set() or self.processor.needs_catch_up:
                    self._catch_up()
                if pending is not None:
                    self._working_since = pending[2]
                    self._evaluate(pending)
                    pending, self._working_since = None, None
                if not self._alarm_first():
                    next_tick = self._timers(next_tick)
                self.ready.set()
                self._db_failures, self._db_failing_since = 0, None
            except DATABASE_AWAY as exc:
                self.metrics.database_errors.inc()
                self._db_failures += 1
                self._db_failing_since = self._db_failing_since or time.monotonic()
                delay = DATABASE_BACKOFF.delay_seconds(self._db_failures)
                log.warning("alert step failed (database): %s; retrying in %.1f s", exc, delay)
                self.processor.close()  # the engine is rebuilt from the last committed snapshot
                self._stop.wait(delay)
            except Exception as exc:  # the engine thread must outlive any one step
                # Not the database being away: something in the step itself (e.g. state the database refuses).
                # Retrying the same step would fail the same way: drop it, rebuild from the snapshot, go on.
                self.metrics.engine_errors.inc()
                log.error("alert step failed: %r; dropped, engine rebuilt from its snapshot", exc, exc_info=True)
                self.processor.close()
                pending, self._working_since = None, None
                self._stop.wait(DATABASE_BACKOFF.delay_seconds(self._db_failures))
        self.processor.close()

    def _catch_up(self) -> None:
        """Evaluate the readings stored since the engine's snapshot (less a margin) from the database, in chunks:
        the broker may have lost batches (alerts/catchup.py). Off the alarm path: only after a rebuild or a
        reconnection; live batches wait in the queue meanwhile."""
        self._bus_back.clear()
        devices = self.processor.device_ids()  # rebuilds the engine from its snapshot when needed
        since = catch_up_since(self.processor.saved_at, datetime.now(UTC),
                               MARGIN_SECONDS + self._settings.alerts_max_lag_seconds, floor=self._catch_up_floor)
        self._catch_up_floor = since
        started, readings, chunks = time.monotonic(), 0, 0
        for stored in stored_batches(self._settings.require_database_url(), since, devices):
            if self._stop.is_set():  # a stop does not wait for the whole span (minutes of a busy district)
                log.info("alert engine catch-up stopped after %d chunks; the next start resumes it from %s",
                         chunks, since.isoformat())
                return
            batch, _ = sanitize_batch(stored)
            self._evaluate_or_split(batch)
            # Saved after every chunk: a rebuild midway replays from here, not from the start.
            self._after_checkpoint(force=True)
            readings, chunks = readings + len(stored), chunks + 1
        self._after_checkpoint(force=True)
        self.processor.catch_up_pending, self._catch_up_floor = False, None
        log.info("alert engine caught up from the database: %d readings received since %s in %d chunks (%.0f ms)",
                 readings, since.isoformat(), chunks, (time.monotonic() - started) * 1000)

    def _evaluate(self, queued: Queued) -> None:
        """Evaluate one batch; one that trips the engine is split until the reading at fault is set aside."""
        batch, ack, _ = queued
        started = time.monotonic()
        self._evaluate_or_split(batch)
        # A batch retried after a database error comes back with the same ack: keep it once.
        if ack is not None and (not self._unsaved_acks or self._unsaved_acks[-1] is not ack):
            self._unsaved_acks.append(ack)
        if not self._alarm_first():
            self._after_checkpoint()
        self.metrics.evaluate_seconds.observe(time.monotonic() - started)

    def _alarm_first(self) -> bool:
        """True when a priority lane batch waits: the snapshot and the timers (tens to hundreds of milliseconds on
        a loaded machine) come after it, since in a leak several detectors alarm at once and each must not wait
        for the last one's save. Put off for LANE_DEFER_MAX_SECONDS at most, so steady lane traffic cannot starve
        them, and never past MAX_UNSAVED_ACKS batches from the bus."""
        waiting = self._queue.lane_waiting() and len(self._unsaved_acks) < MAX_UNSAVED_ACKS
        self._deferred_since = put_off_since(waiting, self._deferred_since, time.monotonic(), LANE_DEFER_MAX_SECONDS)
        return self._deferred_since is not None

    def _timers(self, next_tick: float) -> float:
        """The tick when due (or asked for), the silent-alert count and the plants' answers; the next tick's time."""
        if time.monotonic() >= next_tick or self._plan_now.is_set():
            self._plan_now.clear()
            next_tick = time.monotonic() + self._settings.alerts_tick_seconds
            self._tick()
        self._count_silent()
        self._tick_answers()
        return next_tick

    def _evaluate_or_split(self, batch: ReadingColumns) -> None:
        try:
            result = self.processor.evaluate(batch, datetime.now(UTC))
        except DATABASE_AWAY:
            raise
        except Exception as exc:  # no content of one batch may stop the engine (issue 15 §1, §2)
            self.metrics.engine_errors.inc()
            self.processor.close()  # the step may have left the engine half changed: rebuild it from the snapshot
            if len(batch) <= 1:
                self.metrics.readings_quarantined.inc(len(batch))
                log.error("alert engine set aside a reading it cannot evaluate (%s): %r",
                          describe_row(batch) if len(batch) else "empty batch", exc, exc_info=True)
                return
            log.error("alert engine failed on a batch of %d readings (%r); evaluating it in halves",
                      len(batch), exc, exc_info=True)
            for half in split_batch(batch):
                self._evaluate_or_split(half)
            return
        self._record(result, len(batch))

    def _tick(self) -> None:
        try:
            result = self.processor.tick(datetime.now(UTC))
        except DATABASE_AWAY:
            raise
        except Exception as exc:  # a timer bug must not stop the engine: log it, rebuild, try again next tick
            self.metrics.engine_errors.inc()
            log.error("alert engine tick failed: %r", exc, exc_info=True)
            self.processor.close()
            return
        self._record(result, 0)
        self._after_checkpoint()

    def _count_silent(self) -> None:
        """Every SILENT_CHECK_SECONDS: count open alerts nobody heard of (alerts/notify/heard.py)."""
        if time.monotonic() - self._silent_checked < SILENT_CHECK_SECONDS:
            return
        silent = self.processor.silent_alerts(datetime.now(UTC), self._settings.alerts_silent_grace_seconds)
        self._silent_checked = time.monotonic()
        if silent and len(silent) != self._silent_alerts:
            log.error("%d open alerts reached nobody and record no reason why: %s", len(silent), silent[:20])
        self._silent_alerts = len(silent)
        self.metrics.silent_alerts.set(len(silent))

    def _tick_answers(self) -> None:
        """Every ANSWER_CHECK_SECONDS: ask plants about new exceedances, remind, escalate (alerts/answer_flow.py)."""
        if time.monotonic() - self._answers_checked < ANSWER_CHECK_SECONDS:
            return
        self._answers_checked = time.monotonic()
        policy = answer_policy(self._settings)
        with psycopg.connect(self._settings.require_database_url(), autocommit=True) as conn:
            asked, reminded, escalated = tick_answers(conn, policy, datetime.now(UTC))
        if asked or reminded or escalated:
            log.info("plant answers: %d asked, %d reminded, %d overdue", asked, reminded, escalated)

    def _stand_by(self) -> None:
        """Drop the engine (rebuilt from the database when active again) and batches not evaluated: their
        acknowledgements belong to a broker connection that is gone, so the broker sends them again."""
        self.processor.close()
        self._unsaved_acks.clear()
        self._queue.clear()

    def _next_batch(self, next_tick: float) -> Queued | None:
        self.metrics.queue_depth.set(self._queue.qsize())
        return self._queue.get(timeout=max(0.0, min(next_tick - time.monotonic(), 0.25)))

    def _record(self, result: StepResult, readings: int) -> None:
        """A committed step: count it, hand its SMS to the sender, ask for its reports."""
        self.metrics.readings.inc(readings)
        self.metrics.transitions.inc(result.transitions)
        if result.active_alerts is not None:
            self.metrics.active_alerts.set(result.active_alerts)
        self.metrics.last_step.set(time.time())
        if result.to_send:
            self.outbox.hand(result.to_send)
        if self.reports is not None:
            for alert_id in (*result.opened, *result.changed):
                self.reports.request(alert_id)

    def _after_checkpoint(self, *, force: bool = False) -> None:
        force = force or len(self._unsaved_acks) >= MAX_UNSAVED_ACKS
        if self.processor.checkpoint(datetime.now(UTC), force=force):
            # Evaluated, committed and covered by the saved snapshot: the broker may forget these batches.
            for ack in self._unsaved_acks:
                ack()
            self._unsaved_acks.clear()

    # ----- running ------------------------------------------------------------------------------

    def start(self) -> int:
        """Start every thread and the HTTP endpoint; returns the HTTP port (the engine waits for the lock)."""
        server = serve_http(self.metrics.registry, self._health, self.webhooks.routes(), self.webhooks.pages(),
                            self._settings.alerts_http_host, self._settings.alerts_http_port)
        self._http = server
        self.http_port = int(server.server_address[1])
        for thread in self._threads:
            thread.start()
        self.heartbeat.start()
        log.info("alerts running: metrics, health and Twilio webhooks on http://%s:%d",
                 self._settings.alerts_http_host, self.http_port)
        return self.http_port

    def shutdown(self) -> None:
        """Stop taking batches, finish the current step, stop."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._lock.release()
        self._http.shutdown()
        self.heartbeat.stop(forget=self.failure is None)  # a failed service's row goes stale: the watchdog pages
        log.info("alerts stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Run as a component until `stop` is set; raises AlertServiceError when a worker thread died."""
        self.start()
        try:
            while not stop.is_set() and not self._died.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
        finally:
            await asyncio.to_thread(self.shutdown)
        if self.failure is not None:
            raise AlertServiceError(f"alerts: {self.failure}")

    def _lag_seconds(self, now: float) -> float:
        """Age of the oldest batch the engine has not finished (the one in hand, or the head of the queue)."""
        oldest = [t for t in (self._working_since, self._queue.oldest_queued()) if t is not None]
        return max(0.0, now - min(oldest)) if oldest else 0.0

    def health_facts(self) -> HealthFacts:
        """What the threads report now."""
        now = time.monotonic()
        last = self.metrics.last_step._value.get()
        # Active: since when its steps fail on the database; standby: since when it cannot reach it to try the lock.
        active = self.active.is_set()
        engine_since = self._db_failing_since if active else self._lock.failing_since
        sender_since = self.outbox.failing_since
        return HealthFacts(
            active=active, ready=self.ready.is_set(),
            dead_threads=tuple(t.name for t in self._threads if self._is_dead(t)),
            seconds_since_step=time.time() - last if last else None, lag_seconds=self._lag_seconds(now),
            queue_depth=self._queue.qsize(),
            engine_database_retry_seconds=None if engine_since is None else now - engine_since,
            sender_database_retry_seconds=None if sender_since is None else now - sender_since,
            silent_alerts=self._silent_alerts,
        )

    def _is_dead(self, thread: threading.Thread) -> bool:
        return thread.ident is not None and not thread.is_alive() and not self._stop.is_set()

    def _health(self) -> tuple[bool, dict[str, object]]:
        ok, facts = judge_health(self.health_facts(), self._bounds)
        return ok, {**facts, "shard": self.shard, **({"failure": self.failure} if self.failure else {})}


def _bus_runner(bus: BatchBus, stop: threading.Event, active: threading.Event) -> Callable[[], None]:
    return lambda: bus.run(stop, active)


def _policy(settings: Settings) -> Policy:
    return load_policy_file(settings.alerts_policy_file) if settings.alerts_policy_file else load_policy("")


def _status_callback(settings: Settings) -> str | None:
    """Where Twilio reports delivery (only when a real account is configured)."""
    return public_url(settings, STATUS_CALLBACK_PATH) if settings.twilio_account_sid else None


def run_alerts(settings: Settings) -> int:
    """`envmon alerts`: run the service on the batch bus until SIGINT/SIGTERM; 1 when a worker thread died
    (logged), so systemd restarts the process rather than leaving it limping."""
    from envmon.runtime import run_components

    service = AlertService(settings, from_bus=True)
    asyncio.run(run_components([service]))
    if service.failure is not None:
        log.critical("alerts exit: %s", service.failure)
        return 1
    return 0
