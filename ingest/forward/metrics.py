"""Prometheus metrics of forwarding, per target (one registry per service, so tests can read them)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from ingest.forward.queue import TargetStatus


class ForwardMetrics:
    """Backlog, lag and frame counters exposed at the forward service's /metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r, target = self.registry, ["target"]
        self.backlog_rows = Gauge("envmon_forward_backlog_readings", "Readings queued, not yet acknowledged", target,
                                  registry=r)
        self.unacked_frames = Gauge("envmon_forward_unacked_frames", "Frames sent and waiting for 9014", target,
                                    registry=r)
        self.lag = Gauge("envmon_forward_lag_seconds", "Age of the oldest queued reading (0 when none)", target,
                         registry=r)
        self.connected = Gauge("envmon_forward_connected", "1 while connected to the upstream", target, registry=r)
        self.sent = Counter("envmon_forward_frames_sent", "Frames sent for the first time", target, registry=r)
        self.resent = Counter("envmon_forward_frames_resent", "Unacknowledged frames sent again (same QN)", target,
                              registry=r)
        self.acked = Counter("envmon_forward_frames_acked", "Frames the upstream acknowledged (9014)", target,
                             registry=r)
        self.refused = Counter("envmon_forward_refusals", "9011 refusals from the upstream (wrong MN or PW)", target,
                               registry=r)
        self.reconnects = Counter("envmon_forward_reconnects", "Connections lost or refused", target, registry=r)

    def observe(self, statuses: list[TargetStatus], now: datetime) -> None:
        """Set the backlog gauges from the queue's state."""
        for status in statuses:
            self.backlog_rows.labels(status.name).set(status.backlog_rows)
            self.unacked_frames.labels(status.name).set(status.unacked_frames)
            self.lag.labels(status.name).set(status.lag_seconds(now))
