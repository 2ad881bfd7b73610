"""The alert service's health verdict: a pure function of what its threads report and the configured bounds.

/healthz answers 503 and names every failing check (`failing`) when a worker thread died, the engine has
not finished a step for too long, the oldest batch waiting for the engine is too old (it falls behind its
input), the engine's or the sender's database has been in retry too long, or open alerts reached nobody
(alerts/notify/heard.py). A standby engine is healthy while its threads live and it can reach its database: a
standby that cannot even try the shard lock (its database is away) could never take over, so it names
`engine_database` too. (Losing the database makes the active engine lose its lock session and stand by,
so which role notices first is a race; the answer must not depend on it.)
"""

from __future__ import annotations

from dataclasses import dataclass

from envmon.heartbeat import health_verdict, rounded_seconds


@dataclass(frozen=True, slots=True)
class HealthBounds:
    """How long each condition may last before the service is unhealthy (seconds)."""

    step_stale_seconds: float = 30.0
    max_lag_seconds: float = 30.0
    database_retry_max_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What the service's threads report at one moment."""

    active: bool
    ready: bool
    dead_threads: tuple[str, ...]
    seconds_since_step: float | None
    lag_seconds: float
    queue_depth: int
    engine_database_retry_seconds: float | None
    sender_database_retry_seconds: float | None
    silent_alerts: int


def _checks(f: HealthFacts, b: HealthBounds) -> dict[str, bool]:
    """Each check's verdict (True: fine); the engine's work checks only count for the active engine."""
    checks = {"threads": not f.dead_threads,
              "engine_database": (f.engine_database_retry_seconds or 0.0) <= b.database_retry_max_seconds,
              "sender_database": (f.sender_database_retry_seconds or 0.0) <= b.database_retry_max_seconds}
    if f.active:
        step_ok = f.ready and f.seconds_since_step is not None and f.seconds_since_step < b.step_stale_seconds
        checks.update(
            engine_step=step_ok,
            engine_lag=f.lag_seconds <= b.max_lag_seconds,
            silent_alerts=f.silent_alerts == 0,
        )
    return checks


def judge_health(f: HealthFacts, b: HealthBounds) -> tuple[bool, dict[str, object]]:
    """(healthy, facts for /healthz and the heartbeat) with the names of the failing checks."""
    return health_verdict(_checks(f, b), {
        "role": "active" if f.active else "standby", "dead_threads": list(f.dead_threads),
        "seconds_since_step": rounded_seconds(f.seconds_since_step), "lag_seconds": round(f.lag_seconds, 3),
        "queue_depth": f.queue_depth, "database_retry_seconds": rounded_seconds(f.engine_database_retry_seconds),
        "sender_database_retry_seconds": rounded_seconds(f.sender_database_retry_seconds),
        "silent_alerts": f.silent_alerts,
    })
