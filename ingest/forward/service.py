"""`envmon forward run`: one sender thread per enabled target, /metrics, /healthz and /status over HTTP."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from envmon.catalogue import load_catalogue
from envmon.db import DATABASE_AWAY, connect_url
from envmon.httpserve import QuietHandler, serve_in_background
from ingest.forward import queue
from ingest.forward.metrics import ForwardMetrics
from ingest.forward.sender import SenderConfig, TargetSender

log = logging.getLogger(__name__)
# How often the backlog gauges are read from the queue.
OBSERVE_SECONDS = 5.0


def status_json(statuses: list[queue.TargetStatus], now: datetime) -> list[dict[str, object]]:
    """Each target's backlog and lag as JSON values (the /status answer and `envmon forward status --json`)."""
    return [
        {
            "target": s.name,
            "upstream": f"{s.host}:{s.port}",
            "enabled": s.enabled,
            "backlog_readings": s.backlog_rows,
            "unacked_frames": s.unacked_frames,
            "lag_seconds": round(s.lag_seconds(now), 3),
            "acked_frames": s.acked_frames,
            "last_acked_at": _iso(s.last_acked_at),
            "connected": s.connected,
            "state_since": _iso(s.state_since),
            "reported_at": _iso(s.reported_at),
            "sent_frames": s.sent_frames,
            "resent_frames": s.resent_frames,
            "refusals": s.refusals,
            "last_error": s.last_error,
            "last_error_at": _iso(s.last_error_at),
        }
        for s in statuses
    ]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def read_status(database_url: str) -> list[queue.TargetStatus]:
    """Every target's backlog, read on a connection of its own."""
    with connect_url(database_url, application="envmon-forward-status") as conn:
        return queue.target_status(conn)


@dataclass
class ForwardService:
    """The senders of every enabled target and their metrics."""

    database_url: str
    config: SenderConfig = field(default_factory=SenderConfig)
    metrics: ForwardMetrics = field(default_factory=ForwardMetrics)
    senders: list[TargetSender] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        """Start a sender per enabled target, then refresh the backlog gauges until `stop` is set."""
        with connect_url(self.database_url) as conn:
            targets = queue.load_targets(conn)
        catalogue = load_catalogue()
        self.senders = [TargetSender(self.database_url, t, catalogue, self.metrics, self.config) for t in targets]
        threads = [threading.Thread(target=s.run, args=(stop,), name=f"forward-{t.name}", daemon=True)
                   for s, t in zip(self.senders, targets, strict=True)]
        for thread in threads:
            thread.start()
        log.info("forwarding to %d target(s): %s", len(targets), ", ".join(t.name for t in targets) or "none")
        while not stop.is_set():
            self.observe()
            stop.wait(OBSERVE_SECONDS)
        for thread in threads:
            thread.join(10)

    def observe(self) -> None:
        """Read the queue's backlog into the gauges and say the senders are alive (a database away leaves the
        last values, and the heartbeat goes stale)."""
        now = datetime.now(UTC)
        try:
            with connect_url(self.database_url, application="envmon-forward-status") as conn:
                if self.senders:
                    queue.report_alive(conn, [s.target_id for s in self.senders], now)
                statuses = queue.target_status(conn)
        except DATABASE_AWAY as exc:
            log.warning("forward status: database away: %r", exc)
            return
        self.metrics.observe(statuses, now)


def serve_http(service: ForwardService, host: str, port: int) -> ThreadingHTTPServer:
    """/metrics (Prometheus), /healthz and /status (JSON backlog and lag per target) on a daemon thread."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path == "/metrics":
                service.observe()
                self.reply(200, CONTENT_TYPE_LATEST, generate_latest(service.metrics.registry))
            elif self.path == "/status":
                body = status_json(read_status(service.database_url), datetime.now(UTC))
                self.reply(200, "application/json", json.dumps(body, ensure_ascii=False).encode())
            elif self.path == "/healthz":
                self.reply(200, "text/plain; charset=utf-8", b"ok\n")
            else:
                self.reply(404, "text/plain; charset=utf-8", b"not found\n")

    return serve_in_background(Handler, host, port, "forward-http")
