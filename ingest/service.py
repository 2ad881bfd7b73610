"""`envmon ingest` / `envmon hj212 serve`: the pipeline with its sources, presence and HTTP endpoint."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time

from envmon.heartbeat import HeartbeatWriter
from envmon.settings import Settings
from ingest.batch_bus import BatchPublisher
from ingest.gateway import Hj212Gateway
from ingest.http import health, serve_http
from ingest.mqtt_source import MqttSource
from ingest.pipeline import BatchSubscriber, Pipeline, PipelineConfig
from ingest.presence import PresenceMonitor
from ingest.resend import GapMonitor, record_abandoned_gap, resend_payload

log = logging.getLogger(__name__)


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
        )
        self.pipeline = Pipeline(settings.require_database_url(), config=config)
        for subscriber in subscribers or []:
            self.pipeline.subscribe(subscriber)
        self.presence = PresenceMonitor(settings.require_database_url())
        self.source: MqttSource | None = None
        self.gaps: GapMonitor | None = None
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.pipeline.run, args=(self._stop,), name="ingest-writer"),
            threading.Thread(target=self.presence.run, args=(self._stop,), name="ingest-presence", daemon=True),
        ]
        if mqtt:
            self._add_mqtt(settings)
        use_hj212 = settings.ingest_hj212 if hj212 is None else hj212
        self.gateway = Hj212Gateway(self.pipeline, settings.hj212_host, settings.hj212_port) if use_hj212 else None
        # /healthz's verdict, written to PostgreSQL every few seconds for the platform watchdog.
        self._started = time.time()
        self.heartbeat = HeartbeatWriter(settings.require_database_url(), "ingest", self.health,
                                         beat_seconds=settings.heartbeat_interval_seconds)

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
        )
        self.pipeline.subscribe(self.gaps)
        if settings.ingest_publish_batches:
            self.pipeline.subscribe(BatchPublisher(source.publish_batch))
        self._threads.append(
            threading.Thread(target=self.gaps.run, args=(self._stop,), name="ingest-gaps", daemon=True)
        )

    def start(self) -> int:
        """Start everything; returns the HTTP port."""
        # Process-wide: the writer must get the GIL back quickly after each database round trip.
        sys.setswitchinterval(self._settings.ingest_gil_switch_seconds)
        for thread in self._threads:
            thread.start()
        self._started = time.time()
        server = serve_http(
            self.pipeline.metrics, self._settings.ingest_http_host, self._settings.ingest_http_port, self._started
        )
        self._http = server
        self.heartbeat.start()
        if self.source is not None:
            self.source.start()
        port = int(server.server_address[1])
        log.info(
            "ingest running: metrics and health at http://%s:%d/metrics and /healthz",
            self._settings.ingest_http_host,
            port,
        )
        return port

    def health(self) -> tuple[bool, dict[str, object]]:
        """The same verdict as /healthz (for the heartbeat)."""
        return health(self.pipeline.metrics, self._started, time.time())

    def wait_connected(self, timeout: float) -> bool:
        """True once the MQTT source is connected (at once when there is none)."""
        return self.source is None or self.source.connected.wait(timeout)

    def shutdown(self) -> None:
        """Stop taking messages, write what is queued, stop."""
        if self.source is not None:
            self.source.stop()
        self._stop.set()
        self._threads[0].join(timeout=60)
        self._http.shutdown()
        self.heartbeat.stop()
        log.info("ingest stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Run as a component until `stop` is set."""
        self.start()
        try:
            if self.gateway is not None:
                await self.gateway.run(stop)
            else:
                await stop.wait()
        finally:
            await asyncio.to_thread(self.shutdown)


def run_ingest(settings: Settings, *, mqtt: bool = True, hj212: bool | None = None) -> int:
    """Run the service until SIGINT/SIGTERM."""
    from envmon.runtime import run_components

    asyncio.run(run_components([IngestService(settings, mqtt=mqtt, hj212=hj212)]))
    return 0
