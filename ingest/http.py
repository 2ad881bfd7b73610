"""A small HTTP endpoint for operators and Prometheus: /metrics and /healthz (503 when unhealthy)."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from envmon.httpserve import QuietHandler, serve_in_background
from ingest.metrics import IngestMetrics

HealthCheck = Callable[[], tuple[bool, dict[str, object]]]


def serve_http(metrics: IngestMetrics, host: str, port: int, check: HealthCheck) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread; returns the server (its port may be chosen by the OS).

    `check` gives (healthy, facts) at the moment of the request (ingest.health.judge).
    """
    return serve_in_background(_handler_for(metrics, check), host, port, "ingest-http")


def _handler_for(metrics: IngestMetrics, check: HealthCheck) -> type:
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
