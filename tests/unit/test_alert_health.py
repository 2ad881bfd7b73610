"""The alert service's health verdict: which check fails for which fact (alerts/health.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts.health import HealthBounds, HealthFacts, judge_health

FINE = HealthFacts(active=True, ready=True, dead_threads=(), seconds_since_step=0.5, lag_seconds=0.1, queue_depth=0,
                   engine_database_retry_seconds=None, sender_database_retry_seconds=None, silent_alerts=0)
BOUNDS = HealthBounds(step_stale_seconds=30, max_lag_seconds=30, database_retry_max_seconds=30)


@pytest.mark.parametrize(
    ("facts", "failing"),
    [
        pytest.param(FINE, [], id="fine"),
        pytest.param(replace(FINE, dead_threads=("alerts-engine",)), ["threads"], id="engine-thread-died"),
        pytest.param(replace(FINE, dead_threads=("alerts-sms",)), ["threads"], id="sender-thread-died"),
        pytest.param(replace(FINE, ready=False), ["engine_step"], id="engine-never-ready"),
        pytest.param(replace(FINE, seconds_since_step=31), ["engine_step"], id="engine-stuck"),
        pytest.param(replace(FINE, seconds_since_step=None), ["engine_step"], id="engine-never-stepped"),
        pytest.param(replace(FINE, lag_seconds=30.5), ["engine_lag"], id="engine-behind-its-input"),
        pytest.param(replace(FINE, lag_seconds=30.0), [], id="lag-at-the-bound"),
        pytest.param(replace(FINE, engine_database_retry_seconds=31), ["engine_database"], id="engine-db-retry"),
        pytest.param(replace(FINE, engine_database_retry_seconds=5), [], id="short-db-retry"),
        pytest.param(replace(FINE, sender_database_retry_seconds=31), ["sender_database"], id="sender-db-retry"),
        pytest.param(replace(FINE, silent_alerts=2), ["silent_alerts"], id="silent-alerts"),
        pytest.param(replace(FINE, active=False, ready=False, seconds_since_step=None, silent_alerts=3), [],
                     id="standby-ignores-engine-checks"),
        pytest.param(replace(FINE, active=False, dead_threads=("alerts-leader",)), ["threads"], id="standby-dead-thread"),
        pytest.param(replace(FINE, active=False, engine_database_retry_seconds=31), ["engine_database"],
                     id="standby-cannot-reach-its-database"),
        pytest.param(replace(FINE, active=False, engine_database_retry_seconds=31, sender_database_retry_seconds=31),
                     ["engine_database", "sender_database"], id="database-away-names-both-users"),
    ],
)
def test_judge_health(facts: HealthFacts, failing: list[str]) -> None:
    ok, out = judge_health(facts, BOUNDS)
    assert (ok, out["failing"]) == (not failing, failing)
