"""Simulated time: real time, accelerated, backfill; and the window a run covers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_sim.clock import SimClock
from device_sim.errors import SimError
from device_sim.runner import RunOptions, time_window
from device_sim.scenario import Scenario

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("speed", "elapsed_real", "sim_due", "wait"),
    [
        pytest.param(1.0, 0.0, 30.0, 30.0, id="real-time"),
        pytest.param(1.0, 10.0, 30.0, 20.0, id="real-time-later"),
        pytest.param(60.0, 0.0, 60.0, 1.0, id="an-hour-a-minute"),
        pytest.param(60.0, 2.0, 60.0, 0.0, id="already-due"),
        pytest.param(math.inf, 0.0, 1e9, 0.0, id="backfill-never-waits"),
    ],
)
def test_wait_until_a_simulated_time(speed: float, elapsed_real: float, sim_due: float, wait: float) -> None:
    mono = FakeMonotonic()
    clock = SimClock(1000.0, speed, mono)
    mono.t += elapsed_real
    assert clock.wait_seconds(1000.0 + sim_due) == pytest.approx(wait)


def test_accelerated_clock_runs_speed_times_faster() -> None:
    mono = FakeMonotonic()
    clock = SimClock(1000.0, 60.0, mono)
    mono.t += 2.5
    assert clock.now_s() == 1150.0


def _opts(**kw: object) -> RunOptions:
    return RunOptions(registry_path=Path("x"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "scenario_seconds", "start", "end"),
    [
        pytest.param(_opts(), None, NOW, None, id="real-time-from-now-until-stopped"),
        pytest.param(_opts(), 600.0, NOW, NOW + timedelta(seconds=600), id="real-time-scenario-length"),
        pytest.param(_opts(speed=60.0, duration_seconds=3600.0), None, NOW - timedelta(seconds=3540), NOW +
                     timedelta(seconds=60), id="accelerated-ends-at-the-real-clock"),
        pytest.param(_opts(speed=math.inf, start=NOW - timedelta(days=1), duration_seconds=86400.0), None,
                     NOW - timedelta(days=1), NOW, id="backfill-a-past-day"),
    ],
)
def test_time_window(options: RunOptions, scenario_seconds: float | None, start: datetime,
                     end: datetime | None) -> None:
    scenario = Scenario(name="t", duration_seconds=scenario_seconds)
    got_start, got_end = time_window(options, scenario, NOW)
    assert got_start == start.timestamp()
    assert got_end == (end.timestamp() if end else None)


def test_backfill_needs_a_start_and_a_length() -> None:
    with pytest.raises(SimError, match="backfill needs"):
        time_window(_opts(speed=math.inf), Scenario(name="t"), NOW)
