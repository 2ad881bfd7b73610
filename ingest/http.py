"""A small HTTP endpoint for operators and Prometheus: /metrics and /healthz."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingest.metrics import IngestMetrics

# Healthy while the last commit (or start) is this recent, or nothing is waiting.
STALE_SECONDS = 30.0


def health(metrics: IngestMetrics, started: float, now: float) -> tuple[bool, dict[str, object]]:
    """Whether ingest is healthy, with the facts behind the verdict."""
    last_commit = metrics.last_commit._value.get() or started
    waiting = metrics.queue_depth._value.get()
    connected = bool(metrics.mqtt_connected._value.get())
    stalled = waiting > 0 and now - last_commit > STALE_SECONDS
    facts = {"mqtt_connected": connected, "queue_depth": waiting, "seconds_since_commit": round(now - last_commit, 3)}
    return connected and not stalled, facts


def serve_http(metrics: IngestMetrics, host: str, port: int, started: float) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread; returns the server (its port may be chosen by the OS)."""
    handler = _handler_for(metrics, lambda: health(metrics, started, time.time()))
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="ingest-http", daemon=True).start()
    return server


def _handler_for(metrics: IngestMetrics, check: Callable[[], tuple[bool, dict[str, object]]]) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            elif self.path == "/healthz":
                ok, facts = check()
                self._send(200 if ok else 503, "application/json", json.dumps({"ok": ok, **facts}).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep scrapes out of the log
            return

    return Handler
