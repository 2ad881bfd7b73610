"""Prometheus metrics of the ingest pipeline (one registry per pipeline, so tests can read them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    """Counters, gauges and histograms exposed at /metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages_received = Counter(
            "envmon_ingest_messages_received", "Messages received", ["transport"], registry=r
        )
        self.readings_stored = Counter("envmon_ingest_readings_stored", "Readings newly stored", registry=r)
        self.readings_duplicate = Counter(
            "envmon_ingest_readings_duplicate", "Readings already stored (redelivery)", registry=r
        )
        self.quarantined = Counter("envmon_ingest_quarantined", "Messages quarantined", ["reason"], registry=r)
        self.database_errors = Counter("envmon_ingest_database_errors", "Batches the database refused", registry=r)
        self.batch_readings = Histogram(
            "envmon_ingest_batch_readings",
            "Readings per committed batch",
            registry=r,
            buckets=(10, 100, 1000, 5000, 10000, 20000, 50000),
        )
        self.batch_seconds = Histogram(
            "envmon_ingest_batch_seconds",
            "Time to write and commit a batch",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.queue_depth = Gauge("envmon_ingest_queue_depth", "Messages waiting for the writer", registry=r)
        self.unacked = Gauge("envmon_ingest_unacked_messages", "Messages received but not yet acknowledged", registry=r)
        self.mqtt_connected = Gauge("envmon_ingest_mqtt_connected", "1 while connected to the broker", registry=r)
        self.last_commit = Gauge(
            "envmon_ingest_last_commit_timestamp_seconds", "Unix time of the last commit", registry=r
        )
        self.hj212_auth_failures = Counter(
            "envmon_ingest_hj212_auth_failures", "HJ 212 logins refused (wrong PW or unknown MN)", ["reason"],
            registry=r,
        )
        self.hj212_blocks = Counter(
            "envmon_ingest_hj212_address_blocks", "Back-off windows started for an address after failed logins",
            registry=r,
        )
        self.hj212_refused_connections = Counter(
            "envmon_ingest_hj212_refused_connections", "HJ 212 connections closed unread: the address was blocked",
            registry=r,
        )
