"""`envmon ingest`: the pipeline, its MQTT source and its HTTP endpoint, run together."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from envmon.settings import Settings
from ingest.http import serve_http
from ingest.mqtt_source import MqttSource
from ingest.pipeline import BatchSubscriber, Pipeline, PipelineConfig
from ingest.resend import GapMonitor, resend_payload

log = logging.getLogger(__name__)


class IngestService:
    """Owns the pipeline thread, the MQTT source and the HTTP endpoint; usable as a demo component."""

    name = "ingest"

    def __init__(self, settings: Settings, *, subscribers: list[BatchSubscriber] | None = None) -> None:
        self._settings = settings
        config = PipelineConfig(batch_max_messages=settings.ingest_batch_max_messages,
                                batch_max_seconds=settings.ingest_batch_max_seconds)
        self.pipeline = Pipeline(settings.require_database_url(), config=config)
        for subscriber in subscribers or []:
            self.pipeline.subscribe(subscriber)
        self.source = MqttSource(settings.require_mqtt_url(), self.pipeline, client_id=settings.ingest_client_id,
                                 shared=settings.ingest_shared_subscription)
        self.gaps = GapMonitor(lambda r: self.source.publish_command(r.device, resend_payload(r)))
        self.pipeline.subscribe(self.gaps)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.pipeline.run, args=(self._stop,), name="ingest-writer")
        self._gap_thread = threading.Thread(target=self.gaps.run, args=(self._stop,), name="ingest-gaps", daemon=True)

    def start(self) -> int:
        """Start everything; returns the HTTP port."""
        self._thread.start()
        self._gap_thread.start()
        server = serve_http(self.pipeline.metrics, self._settings.ingest_http_host, self._settings.ingest_http_port,
                            time.time())
        self._http = server
        self.source.start()
        port = int(server.server_address[1])
        log.info("ingest running: metrics and health at http://%s:%d/metrics and /healthz",
                 self._settings.ingest_http_host, port)
        return port

    def shutdown(self) -> None:
        """Stop taking messages, write what is queued, stop."""
        self.source.stop()
        self._stop.set()
        self._thread.join(timeout=60)
        self._http.shutdown()
        log.info("ingest stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Run as a component until `stop` is set."""
        self.start()
        try:
            await stop.wait()
        finally:
            await asyncio.to_thread(self.shutdown)


def run_ingest(settings: Settings) -> int:
    """Run the service until SIGINT/SIGTERM."""
    from envmon.runtime import run_components

    asyncio.run(run_components([IngestService(settings)]))
    return 0
