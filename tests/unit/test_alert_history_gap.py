"""HJ 212 history lost for good raises the same gap alert as an MQTT gap given up on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.rules.engine import Engine
from tests.unit.test_alert_engine import T0, WATER, at, kinds, policy, registry

SPAN = (T0 - timedelta(hours=2), T0 - timedelta(hours=1))


@pytest.mark.parametrize(
    ("windows", "expected", "windows_in_detail"),
    [
        pytest.param(1, ["open:seq_gap:fault"], 1, id="one-window-opens-the-gap-alert"),
        pytest.param(2, ["open:seq_gap:fault", "update:seq_gap:fault"], 2, id="a-second-window-updates-it"),
    ],
)
def test_lost_history_opens_the_seq_gap_alert_with_its_span(windows: int, expected: list[str],
                                                            windows_in_detail: int) -> None:
    engine = Engine(registry(), policy())
    out = []
    for i in range(windows):
        out += engine.observe_history_gap(WATER, "minute", *SPAN, "abandoned", at(i))
    assert kinds(out) == expected
    assert out[-1].key.pollutant == "*"
    assert out[-1].detail["begin_time"] == SPAN[0].isoformat() and out[-1].detail["end_time"] == SPAN[1].isoformat()
    assert out[-1].detail["windows"] == windows_in_detail


def test_the_lost_history_alert_clears_after_the_quiet_time_like_an_mqtt_gap() -> None:
    engine = Engine(registry(), policy())
    engine.observe_history_gap(WATER, "hour", *SPAN, "expired", at(0))
    quiet = policy().seq_gap.quiet_seconds
    assert "clear:seq_gap:fault" in kinds(engine.tick(at(quiet + 1)))
