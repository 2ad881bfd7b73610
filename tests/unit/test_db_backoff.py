"""The one reconnect policy: waits after consecutive failures."""

from __future__ import annotations

import pytest

from envmon.db import Backoff


@pytest.mark.parametrize(
    ("backoff", "failures", "expected_seconds"),
    [
        pytest.param(Backoff(), 0, 0.1, id="no-failure-yet-waits-the-first-step"),
        pytest.param(Backoff(), 1, 0.1, id="first-failure"),
        pytest.param(Backoff(), 2, 0.2, id="doubles"),
        pytest.param(Backoff(), 6, 3.2, id="sixth"),
        pytest.param(Backoff(), 7, 5.0, id="capped-at-max"),
        pytest.param(Backoff(), 400, 5.0, id="long-outage-stays-capped"),
        pytest.param(Backoff(first_seconds=1.0, max_seconds=30.0), 5, 16.0, id="watchdog-policy"),
        pytest.param(Backoff(first_seconds=0.5, max_seconds=10.0), 9, 10.0, id="alerts-policy-capped"),
    ],
)
def test_backoff_doubles_up_to_its_max(backoff: Backoff, failures: int, expected_seconds: float) -> None:
    assert backoff.delay_seconds(failures) == pytest.approx(expected_seconds)
