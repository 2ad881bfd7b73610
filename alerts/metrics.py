"""Prometheus metrics of the alert service (one registry per service, so tests can read them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AlertMetrics:
    """Counters, gauges and histograms exposed at /metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.readings = Counter("envmon_alerts_readings_evaluated", "Readings the engine evaluated", registry=r)
        self.transitions = Counter("envmon_alerts_transitions", "Engine transitions (open, severity, clear, update)",
                                   registry=r)
        self.notifications = Counter(
            "envmon_alerts_notifications", "Notification outcomes", ["status"], registry=r
        )
        self.evaluate_seconds = Histogram(
            "envmon_alerts_step_seconds",
            "Time to evaluate a batch and commit what it changed",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
        )
        self.active_alerts = Gauge("envmon_alerts_active", "Alerts open, escalated or acknowledged (at the last plan)",
                                   registry=r)
        self.queue_depth = Gauge("envmon_alerts_queue_depth", "Batches waiting for the engine", registry=r)
        self.database_errors = Counter("envmon_alerts_database_errors", "Steps the database refused", registry=r)
        self.last_step = Gauge("envmon_alerts_last_step_timestamp_seconds", "Unix time of the last step", registry=r)
        self.engine_errors = Counter("envmon_alerts_engine_errors",
                                     "Batches or ticks the engine failed on unexpectedly (logged, split, skipped)",
                                     registry=r)
        self.readings_quarantined = Counter("envmon_alerts_readings_quarantined",
                                            "Readings set aside because the engine failed on them alone", registry=r)
        self.silent_alerts = Gauge("envmon_alerts_silent",
                                   "Open pollution and safety alerts that reached nobody and record no reason why",
                                   registry=r)
