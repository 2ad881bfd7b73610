"""A small HTTP endpoint for operators and Prometheus: /metrics and /healthz."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from envmon.httpserve import QuietHandler, serve_in_background
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
    return serve_in_background(handler, host, port, "ingest-http")


def _handler_for(metrics: IngestMetrics, check: Callable[[], tuple[bool, dict[str, object]]]) -> type:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path == "/metrics":
                self.reply(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            elif self.path == "/healthz":
                ok, facts = check()
                self.reply(200 if ok else 503, "application/json", json.dumps({"ok": ok, **facts}).encode())
            else:
                self.reply(404, "text/plain", b"not found\n")

    return Handler
