"""Prometheus metrics of forwarding, per target (one registry per service, so tests can read them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

from ingest.forward.queue import TargetStatus

_Metric = TypeVar("_Metric", Gauge, Counter)


class ForwardMetrics:
    """Backlog, lag and frame counters exposed at the forward service's /metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        gauge, counter = self._per_target(Gauge), self._per_target(Counter)
        self.backlog_rows = gauge("backlog_readings", "Readings queued, not yet acknowledged")
        self.unacked_frames = gauge("unacked_frames", "Frames sent and waiting for 9014")
        self.lag = gauge("lag_seconds", "Age of the oldest queued reading (0 when none)")
        self.connected = gauge("connected", "1 while connected to the upstream")
        self.sent = counter("frames_sent", "Frames sent for the first time")
        self.resent = counter("frames_resent", "Unacknowledged frames sent again (same QN)")
        self.acked = counter("frames_acked", "Frames the upstream acknowledged (9014)")
        self.refused = counter("refusals", "9011 refusals from the upstream (wrong MN or PW)")
        self.reconnects = counter("reconnects", "Connections lost or refused")

    def _per_target(self, kind: type[_Metric]) -> Callable[[str, str], _Metric]:
        """A maker of `envmon_forward_<name>` metrics of this registry, labelled by target."""
        return lambda name, text: kind(f"envmon_forward_{name}", text, ["target"], registry=self.registry)

    def observe(self, statuses: list[TargetStatus], now: datetime) -> None:
        """Set the backlog gauges from the queue's state."""
        for status in statuses:
            self.backlog_rows.labels(status.name).set(status.backlog_rows)
            self.unacked_frames.labels(status.name).set(status.unacked_frames)
            self.lag.labels(status.name).set(status.lag_seconds(now))
