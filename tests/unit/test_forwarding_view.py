"""How the forwarding page names a target's connection, and the order of its data kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.forwarding import STALE_AFTER, connection_state, ordered_bases

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("enabled", "connected", "reported_at", "expected"), [
    pytest.param(True, True, NOW - timedelta(seconds=5), "connected", id="fresh-heartbeat-connected"),
    pytest.param(True, False, NOW - timedelta(seconds=5), "disconnected", id="fresh-heartbeat-disconnected"),
    pytest.param(True, True, NOW - STALE_AFTER, "connected", id="heartbeat-exactly-at-the-limit-still-counts"),
    pytest.param(True, True, NOW - STALE_AFTER - timedelta(seconds=1), "not_reporting",
                 id="stale-heartbeat-never-claims-connected"),
    pytest.param(True, False, None, "not_reporting", id="service-never-ran"),
    pytest.param(False, True, NOW, "disabled", id="disabled-target-whatever-it-said"),
])
def test_connection_state(enabled: bool, connected: bool, reported_at: datetime | None, expected: str) -> None:
    assert connection_state(enabled=enabled, connected=connected, reported_at=reported_at, now=NOW) == expected


@pytest.mark.parametrize(("given", "expected"), [
    pytest.param(["day", "instant"], ("instant", "day"), id="hj212-command-order"),
    pytest.param(["hour", "minute", "instant", "day"], ("instant", "minute", "hour", "day"), id="all-four"),
    pytest.param(None, (), id="no-route-in-scope"),
])
def test_ordered_bases(given: list[str] | None, expected: tuple[str, ...]) -> None:
    assert ordered_bases(given) == expected
