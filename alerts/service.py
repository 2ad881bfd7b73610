"""`envmon alerts`: the engine thread, the SMS sender, the webhooks and (optionally) the batch bus.

In one process with ingest (the demo) the service is an ingest batch subscriber (`on_batch`); as a
process of its own it reads committed batches from the broker (`from_bus=True`). Batches wait in a
bounded queue; when it is full the subscriber blocks, which slows ingest rather than losing batches.
The engine thread evaluates each batch, ticks every settings.alerts_tick_seconds, and retries with
backoff when the database is away (rebuilding its state from the database when it returns).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from alerts.batch import batch_from_columns
from alerts.bus import BatchBus
from alerts.callbacks import STATUS_CALLBACK_PATH, public_url
from alerts.http import serve_http
from alerts.leader import ShardLock
from alerts.metrics import AlertMetrics
from alerts.model import ReadingBatch
from alerts.policy import Policy, load_policy, load_policy_file
from alerts.processor import AlertProcessor, StepResult, link_maker
from alerts.report_worker import ReportWorker
from alerts.sender import OutboxSender
from alerts.sms import RetryPolicy, SmsSender
from alerts.twilio_sms import sms_sender_from_settings
from alerts.webhooks import Webhooks
from alerts.wire import batch_from_wire
from envmon.batchwire import WireBatch
from envmon.registry.watch import RegistryWatcher
from envmon.settings import Settings
from ingest.pipeline import StoredBatch

log = logging.getLogger(__name__)
QUEUE_BATCHES = 64
RETRY_MAX_SECONDS = 10.0
LOCK_CHECK_SECONDS = 2.0
# The safety net behind registry notifications (a reload that finds nothing changed rebuilds nothing).
REGISTRY_REFRESH_SECONDS = 300.0
# Batches from the bus evaluated but not yet covered by a saved snapshot, at most: then a save is forced.
# Below Mosquitto's default of 20 QoS 1 messages in flight to a client, which would stop the bus.
MAX_UNSAVED_ACKS = 10


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
        self.reports = ReportWorker(settings) if settings.alerts_reports else None
        self._queue: queue.Queue[tuple[ReadingBatch, Callable[[], None] | None]] = queue.Queue(maxsize=QUEUE_BATCHES)
        # Acknowledgements of bus batches waiting for the snapshot that covers them, in arrival order.
        self._unsaved_acks: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._plan_now = threading.Event()
        self.ready = threading.Event()
        self.active = threading.Event()  # this process holds the shard lock
        self.shard = settings.alerts_shard
        self._lock = ShardLock(settings.require_database_url(), self.shard)
        client_id = "envmon-alerts-" + ("all" if self.shard == "*" else self.shard)
        self.bus = BatchBus(settings.require_mqtt_url(), self._from_bus, client_id=client_id) if from_bus else None
        self.webhooks = Webhooks(settings, on_change=self._plan_soon)
        self.registry_watch = RegistryWatcher(settings.require_database_url(), self._registry_changed,
                                              name="envmon-alerts-registry-watch",
                                              refresh_seconds=REGISTRY_REFRESH_SECONDS)
        self._threads = [
            threading.Thread(target=self._lead, name="alerts-leader", daemon=True),
            threading.Thread(target=self._engine_loop, name="alerts-engine"),
            threading.Thread(target=self.outbox.run, args=(self._stop,), name="alerts-sms", daemon=True),
            threading.Thread(target=self.registry_watch.run, args=(self._stop,), name="alerts-registry", daemon=True),
        ]
        if self.bus is not None:
            self._threads.append(
                threading.Thread(target=self.bus.run, args=(self._stop, self.active), name="alerts-bus")
            )
        if self.reports is not None:
            self._threads.append(
                threading.Thread(target=self.reports.run, args=(self._stop,), name="alerts-reports", daemon=True)
            )
        self.http_port = 0

    # ----- input --------------------------------------------------------------------------------

    def on_batch(self, batch: StoredBatch) -> None:
        """Ingest's subscriber call (its dispatch thread): queue the committed rows for the engine.

        A standby engine in the same process as ingest drops them: the active engine of the shard runs
        elsewhere and reads its batches from the bus."""
        if self.active.is_set():
            self._queue.put((batch_from_columns(batch.readings), None))

    def _from_bus(self, wire: WireBatch, ack: Callable[[], None]) -> None:
        self._queue.put((batch_from_wire(wire), ack))

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
        delay = 0.5
        pending: tuple[ReadingBatch, Callable[[], None] | None] | None = None
        while not self._stop.is_set():
            if not self.active.is_set():
                self._stand_by()
                pending = None
                self.active.wait(0.5)
                continue
            try:
                if pending is None:
                    pending = self._next_batch(next_tick)
                if pending is not None:
                    batch, ack = pending
                    started = time.monotonic()
                    result = self.processor.evaluate(batch, datetime.now(UTC))
                    # A batch retried after a database error comes back with the same ack: keep it once.
                    if ack is not None and (not self._unsaved_acks or self._unsaved_acks[-1] is not ack):
                        self._unsaved_acks.append(ack)
                    self._after(result, len(batch))
                    self.metrics.evaluate_seconds.observe(time.monotonic() - started)
                    pending = None
                if time.monotonic() >= next_tick or self._plan_now.is_set():
                    self._plan_now.clear()
                    self._after(self.processor.tick(datetime.now(UTC)), 0)
                    next_tick = time.monotonic() + self._settings.alerts_tick_seconds
                self.ready.set()
                delay = 0.5
            except psycopg.Error as exc:
                self.metrics.database_errors.inc()
                log.warning("alert step failed (database): %s; retrying in %.1f s", exc, delay)
                self.processor.close()  # the engine is rebuilt from the last committed snapshot
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        self.processor.close()

    def _stand_by(self) -> None:
        """Drop the engine (rebuilt from the database when active again) and batches not evaluated: their
        acknowledgements belong to a broker connection that is gone, so the broker sends them again."""
        self.processor.close()
        self._unsaved_acks.clear()
        while not self._queue.empty():
            self._queue.get_nowait()

    def _next_batch(self, next_tick: float) -> tuple[ReadingBatch, Callable[[], None] | None] | None:
        self.metrics.queue_depth.set(self._queue.qsize())
        try:
            return self._queue.get(timeout=max(0.0, min(next_tick - time.monotonic(), 0.25)))
        except queue.Empty:
            return None

    def _after(self, result: StepResult, readings: int) -> None:
        self.metrics.readings.inc(readings)
        self.metrics.transitions.inc(result.transitions)
        if result.active_alerts is not None:
            self.metrics.active_alerts.set(result.active_alerts)
        self.metrics.last_step.set(time.time())
        if result.to_send:
            self.outbox.hand(result.to_send)
        force = len(self._unsaved_acks) >= MAX_UNSAVED_ACKS
        if self.processor.checkpoint(datetime.now(UTC), force=force):
            # Evaluated, committed and covered by the saved snapshot: the broker may forget these batches.
            for ack in self._unsaved_acks:
                ack()
            self._unsaved_acks.clear()
        if self.reports is not None:
            for alert_id in (*result.opened, *result.changed):
                self.reports.request(alert_id)

    # ----- running ------------------------------------------------------------------------------

    def start(self) -> int:
        """Start every thread and the HTTP endpoint; returns the HTTP port (the engine waits for the lock)."""
        server = serve_http(self.metrics.registry, self._health, self.webhooks.routes(), self.webhooks.pages(),
                            self._settings.alerts_http_host, self._settings.alerts_http_port)
        self._http = server
        self.http_port = int(server.server_address[1])
        for thread in self._threads:
            thread.start()
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
        log.info("alerts stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Run as a component until `stop` is set."""
        self.start()
        try:
            await stop.wait()
        finally:
            await asyncio.to_thread(self.shutdown)

    def _health(self) -> tuple[bool, dict[str, object]]:
        if not self.active.is_set():
            return True, {"role": "standby", "shard": self.shard}
        last = self.metrics.last_step._value.get()
        age = time.time() - last if last else None
        healthy = self.ready.is_set() and age is not None and age < 30
        return healthy, {"role": "active", "shard": self.shard, "queue_depth": self._queue.qsize(),
                         "seconds_since_step": None if age is None else round(age, 3)}


def _policy(settings: Settings) -> Policy:
    return load_policy_file(settings.alerts_policy_file) if settings.alerts_policy_file else load_policy("")


def _status_callback(settings: Settings) -> str | None:
    """Where Twilio reports delivery (only when a real account is configured)."""
    return public_url(settings, STATUS_CALLBACK_PATH) if settings.twilio_account_sid else None


def run_alerts(settings: Settings) -> int:
    """`envmon alerts`: run the service on the batch bus until SIGINT/SIGTERM."""
    from envmon.runtime import run_components

    asyncio.run(run_components([AlertService(settings, from_bus=True)]))
    return 0
