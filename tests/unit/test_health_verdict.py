"""envmon.heartbeat.health_verdict: the one shape of every service's health, which the watchdog reads."""

from __future__ import annotations

import pytest

from envmon.heartbeat import FAILING, health_verdict, rounded_seconds


@pytest.mark.parametrize(
    ("checks", "healthy", "failing"),
    [
        pytest.param({}, True, [], id="nothing-checked"),
        pytest.param({"threads": True, "database": True}, True, [], id="all-fine"),
        pytest.param({"threads": True, "database": False}, False, ["database"], id="one-fails"),
        pytest.param({"mqtt": False, "threads": False, "database": True}, False, ["mqtt", "threads"],
                     id="failures-in-the-order-checked"),
    ],
)
def test_verdict_names_each_failed_check_in_order(checks: dict[str, bool], healthy: bool, failing: list[str]) -> None:
    ok, detail = health_verdict(checks, {"queue_depth": 4})
    assert ok is healthy
    assert detail == {FAILING: failing, "queue_depth": 4}


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        pytest.param(None, None, id="not-measured"),
        pytest.param(1.23456, 1.235, id="milliseconds"),
        pytest.param(0.0, 0.0, id="zero"),
    ],
)
def test_rounded_seconds(seconds: float | None, shown: float | None) -> None:
    assert rounded_seconds(seconds) == shown
