"""ingest.health: each check turns ingest unhealthy on its own, and names itself."""

from __future__ import annotations

import pytest

from ingest.health import HealthBounds, Vitals, judge

HEALTHY = Vitals(dead_threads=(), oldest_unacked_seconds=0.2, database_retry_seconds=None, queue_depth=3,
                 mqtt_connected=True)
BOUNDS = HealthBounds(stall_seconds=30, database_retry_seconds=20)


@pytest.mark.parametrize(
    ("vitals", "failed"),
    [
        pytest.param(HEALTHY, [], id="healthy"),
        pytest.param(Vitals((), None, None, 0), [], id="idle-without-mqtt"),
        pytest.param(Vitals(("ingest-commit-1",), 0.1, None, 0, True), ["threads"], id="dead-thread"),
        pytest.param(Vitals((), 30.5, None, 10, True), ["stalled"], id="acks-stalled"),
        pytest.param(Vitals((), 29.9, None, 10, True), [], id="slow-but-within-bound"),
        pytest.param(Vitals((), 1.0, 21.0, 10, True), ["database"], id="database-retried-too-long"),
        pytest.param(Vitals((), None, None, 0, False), ["mqtt"], id="mqtt-disconnected"),
        pytest.param(Vitals((), None, None, 0, True, ("policy_compression readings (job 1000)",)),
                     ["database_jobs"], id="database-jobs-keep-failing"),
        pytest.param(Vitals(("ingest-prepare",), 40.0, 40.0, 5, False, ("x",)),
                     ["threads", "stalled", "database", "mqtt", "database_jobs"], id="everything"),
    ],
)
def test_each_check_fails_alone_and_is_named(vitals: Vitals, failed: list[str]) -> None:
    ok, facts = judge(vitals, BOUNDS)
    assert ok is (not failed)
    assert facts["failing"] == failed
