"""Whether ingest is doing its work, judged from what its parts report (served at /healthz).

Unhealthy when a worker thread has died, when the oldest batch taken for storing has waited for its
acknowledgement longer than `stall_seconds` (commits or acknowledgements stalled with work waiting),
when the database has been retried for longer than `database_retry_seconds`, when the MQTT
source is not connected, or when the database's own policy jobs keep failing (TimescaleDB: the aggregates
stop refreshing and old chunks stop being compressed, silently unless someone says so). Each failed check is
named, so an operator sees which one.
"""

from __future__ import annotations

from dataclasses import dataclass

from envmon.heartbeat import health_verdict, rounded_seconds

# Far above a batch's commit at full load (p99 ~0.5 s, docs/benchmarks.md), far below the ten
# minutes after which silent devices raise "data interrupted" alerts.
STALL_SECONDS = 30.0
DATABASE_RETRY_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Vitals:
    """What the ingest parts report at one moment."""

    dead_threads: tuple[str, ...]
    oldest_unacked_seconds: float | None  # None: nothing taken and not yet acknowledged
    database_retry_seconds: float | None  # None: the database is answering
    queue_depth: int
    mqtt_connected: bool | None = None  # None: no MQTT source in this process
    # The database's own aggregate, compression and retention jobs that keep failing (TimescaleDB; ingest/rollups.py)
    failing_jobs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HealthBounds:
    """How long a stall or a database retry may last before ingest is unhealthy."""

    stall_seconds: float = STALL_SECONDS
    database_retry_seconds: float = DATABASE_RETRY_SECONDS


def judge(vitals: Vitals, bounds: HealthBounds = HealthBounds()) -> tuple[bool, dict[str, object]]:
    """(healthy, facts): the facts name every failed check under `failing`, as every service's do."""
    return health_verdict(_checks(vitals, bounds), _facts(vitals))


def _checks(vitals: Vitals, bounds: HealthBounds) -> dict[str, bool]:
    """Each check's verdict (True: fine)."""
    return {
        "threads": not vitals.dead_threads,
        "stalled": (vitals.oldest_unacked_seconds or 0.0) <= bounds.stall_seconds,
        "database": (vitals.database_retry_seconds or 0.0) <= bounds.database_retry_seconds,
        "mqtt": vitals.mqtt_connected is not False,
        "database_jobs": not vitals.failing_jobs,
    }


def _facts(vitals: Vitals) -> dict[str, object]:
    facts: dict[str, object] = {
        "dead_threads": list(vitals.dead_threads),
        "oldest_unacked_seconds": rounded_seconds(vitals.oldest_unacked_seconds),
        "database_retry_seconds": rounded_seconds(vitals.database_retry_seconds),
        "queue_depth": vitals.queue_depth,
    }
    if vitals.mqtt_connected is not None:
        facts["mqtt_connected"] = vitals.mqtt_connected
    if vitals.failing_jobs:
        facts["failing_jobs"] = list(vitals.failing_jobs)
    return facts
