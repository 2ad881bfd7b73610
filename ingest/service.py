"""`envmon ingest` / `envmon hj212 serve`: the pipeline with its sources, presence and HTTP endpoint.

Health (/healthz, ingest.health) covers every thread of the process. A thread that died makes the
component fail: it logs which one, stops the others and the process exits non-zero, so systemd or
the demo's supervisor restarts it instead of leaving it limping with nothing stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time

from envmon.heartbeat import HeartbeatWriter
from envmon.settings import Settings
from ingest.batch_bus import BatchPublisher
from ingest.errors import IngestError
from ingest.gateway import Hj212Gateway
from ingest.health import HealthBounds, Vitals, judge
from ingest.hj212_guard import AuthPolicy
from ingest.http import serve_http
from ingest.mqtt_source import MqttSource
from ingest.pipeline import BatchSubscriber, Pipeline, PipelineConfig
from ingest.presence import PresenceMonitor
from ingest.resend import GapMonitor, OpenGapStore, record_abandoned_gap, resend_payload
from ingest.rollups import RollupRefresher

log = logging.getLogger(__name__)
# How often the running component looks for a dead thread.
WATCH_SECONDS = 1.0


class IngestFailed(IngestError):
    """A thread of the ingest service died; the process must exit non-zero and be restarted."""


class IngestService:
    """Owns the pipeline thread, the MQTT source and the HTTP endpoint; usable as a demo component."""

    name = "ingest"

    def __init__(
        self,
        settings: Settings,
        *,
        mqtt: bool = True,
        hj212: bool | None = None,
        subscribers: list[BatchSubscriber] | None = None,
    ) -> None:
        self._settings = settings
        config = PipelineConfig(
            batch_max_messages=settings.ingest_batch_max_messages,
            batch_max_seconds=settings.ingest_batch_max_seconds,
            committers=settings.ingest_committers,
            priority_lane=settings.ingest_priority_lane,
        )
        self.pipeline = Pipeline(settings.require_database_url(), config=config)
        for subscriber in subscribers or []:
            self.pipeline.subscribe(subscriber)
        self.presence = PresenceMonitor(settings.require_database_url())
        self.rollups = RollupRefresher(settings.require_database_url())
        self.source: MqttSource | None = None
        self.gaps: GapMonitor | None = None
        self.health_bounds = HealthBounds()
        self.failure: str | None = None  # why a thread died; the process then exits non-zero
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.pipeline.run, args=(self._stop,), name="ingest-writer"),
            threading.Thread(target=self.presence.run, args=(self._stop,), name="ingest-presence", daemon=True),
            threading.Thread(target=self.rollups.run, args=(self._stop,), name="ingest-rollups", daemon=True),
        ]
        if mqtt:
            self._add_mqtt(settings)
        use_hj212 = settings.ingest_hj212 if hj212 is None else hj212
        self.gateway = (
            Hj212Gateway(self.pipeline, settings.hj212_host, settings.hj212_port, auth=hj212_auth_policy(settings))
            if use_hj212
            else None
        )
        # /healthz's verdict, written to PostgreSQL every few seconds for the platform watchdog.
        self.heartbeat = HeartbeatWriter(settings.require_database_url(), "ingest", self.health,
                                         beat_seconds=settings.heartbeat_interval_seconds)


    def readings_stored(self) -> int:
        """Readings this process has newly stored (every basis; a redelivered one counts once)."""
        value = self.pipeline.metrics.registry.get_sample_value("envmon_ingest_readings_stored_total")
        return int(value or 0)
    def _add_mqtt(self, settings: Settings) -> None:
        source = MqttSource(
            settings.require_mqtt_url(),
            self.pipeline,
            client_id=settings.ingest_client_id,
            shared=settings.ingest_shared_subscription,
            on_status=self.presence.on_status,
        )
        self.source = source
        url = settings.require_database_url()
        self.gaps = GapMonitor(
            lambda r: source.publish_command(r.device, resend_payload(r)),
            on_abandoned=lambda gap: record_abandoned_gap(url, gap),
            store=OpenGapStore(url, settings.ingest_client_id),
        )
        self.pipeline.subscribe(self.gaps)
        if settings.ingest_publish_batches:
            self.pipeline.subscribe(BatchPublisher(source.publish_batch, source.publish_lane_batch))
        self._gaps_thread = threading.Thread(target=self.gaps.run, args=(self._stop,), name="ingest-gaps", daemon=True)
        self._threads.append(self._gaps_thread)

    def start(self) -> int:
        """Start everything; returns the HTTP port."""
        # Process-wide: the writer must get the GIL back quickly after each database round trip.
        sys.setswitchinterval(self._settings.ingest_gil_switch_seconds)
        for thread in self._threads:
            thread.start()
        server = serve_http(
            self.pipeline.metrics,
            self._settings.ingest_http_host,
            self._settings.ingest_http_port,
            self.health,
        )
        self._http = server
        self.heartbeat.start()
        # Before the first message (waiting for the database if need be), so a gap spanning the restart or
        # messages lost meanwhile are noticed.
        if self.gaps is not None and not self.gaps.restore(self._stop):
            return 0
        if self.source is not None:
            self.source.start()
        port = int(server.server_address[1])
        log.info(
            "ingest running: metrics and health at http://%s:%d/metrics and /healthz",
            self._settings.ingest_http_host,
            port,
        )
        return port

    def vitals(self, now: float) -> Vitals:
        """The pipeline's vitals with this service's own threads and MQTT connection added."""
        pipeline = self.pipeline.vitals(now)
        return Vitals(
            dead_threads=self.dead_threads() + pipeline.dead_threads,
            oldest_unacked_seconds=pipeline.oldest_unacked_seconds,
            database_retry_seconds=pipeline.database_retry_seconds,
            queue_depth=pipeline.queue_depth,
            mqtt_connected=None if self.source is None else self.source.connected.is_set(),
            failing_jobs=self.rollups.failing_jobs,
        )

    def dead_threads(self) -> tuple[str, ...]:
        """Names of this service's threads that ended while it was not stopping."""
        if self._stop.is_set():
            return ()
        threads = [t for t in self._threads if t.ident is not None]
        network = self.source.network_thread() if self.source is not None else None
        if network is not None:
            threads.append(network)
        return tuple(t.name for t in threads if not t.is_alive())

    def health(self) -> tuple[bool, dict[str, object]]:
        """The /healthz verdict (also written by the heartbeat for the platform watchdog)."""
        return judge(self.vitals(time.monotonic()), self.health_bounds)

    def _check_threads(self) -> str | None:
        """Why the service cannot go on (a thread died), or None; sets `failure` once."""
        dead = self.dead_threads() + self.pipeline.vitals(time.monotonic()).dead_threads
        if dead and self.failure is None:
            self.failure = f"thread(s) {', '.join(dead)} died"
        return self.failure

    def wait_connected(self, timeout: float) -> bool:
        """True once the MQTT source is connected (at once when there is none)."""
        return self.source is None or self.source.connected.wait(timeout)

    def shutdown(self) -> None:
        """Stop taking messages, write what is queued, stop."""
        if self.source is not None:
            self.source.stop()
        self._stop.set()
        self._threads[0].join(timeout=60)
        if self.gaps is not None:
            self._gaps_thread.join(timeout=10)  # its last save of the open gaps, for the next start
        self._http.shutdown()
        self.heartbeat.stop(forget=self.failure is None)  # a failed service's row goes stale: the watchdog pages
        log.info("ingest stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Run as a component until `stop` is set; IngestFailed when one of its threads died."""
        # In a thread: start() waits for the database when it must (the stored sequence tracking), and a
        # stop asked meanwhile ends that wait.
        starting = asyncio.ensure_future(asyncio.to_thread(self.start))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            self._stop.set()
        stopping.cancel()
        await starting
        gateway = asyncio.create_task(self.gateway.run(stop)) if self.gateway is not None else None
        try:
            while not stop.is_set():
                if (why := self._check_threads()) is not None:
                    log.critical("ingest cannot go on: %s (see the errors above); exiting to be restarted", why)
                    raise IngestFailed(why)
                if gateway is not None and gateway.done():  # it ended without being asked to
                    self.failure = self.failure or f"the HJ 212 gateway stopped: {gateway.exception()!r}"
                    log.critical("ingest cannot go on: %s; exiting to be restarted", self.failure)
                    raise IngestFailed(self.failure)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), WATCH_SECONDS)
        finally:
            if gateway is not None:
                if not stop.is_set():
                    gateway.cancel()
                await asyncio.gather(gateway, return_exceptions=True)
            await asyncio.to_thread(self.shutdown)


def run_ingest(settings: Settings, *, mqtt: bool = True, hj212: bool | None = None) -> int:
    """Run the service until SIGINT/SIGTERM."""
    from envmon.runtime import run_components

    service = IngestService(settings, mqtt=mqtt, hj212=hj212)
    asyncio.run(run_components([service]))
    if service.failure is not None:
        log.critical("ingest exit: %s", service.failure)
        return 1
    return 0


def hj212_auth_policy(settings: Settings) -> AuthPolicy:
    """The gateway's login back-off from the settings (hj212_auth_*)."""
    return AuthPolicy(
        max_failures_per_connection=settings.hj212_auth_max_failures_per_connection,
        max_failures_per_address=settings.hj212_auth_max_failures_per_address,
        backoff_seconds=settings.hj212_auth_backoff_seconds,
        backoff_max_seconds=settings.hj212_auth_backoff_max_seconds,
    )
