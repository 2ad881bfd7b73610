"""Readings that arrive after newer ones of their series are judged in time order (alerts/rules/recent.py).

Found by the chaos run: a lead analyser's third high sample came back by resend after the next, normal one;
the live engine had forgotten the pending breach at the normal one and dropped the late reading, while the
replay of the stored readings (time order) opened the warning. Each case feeds the same readings in time
order and in arrival order and wants the same alerts.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from alerts.model import Transition
from alerts.rules.engine import Engine
from alerts.rules.recent import DEPTH
from tests.unit.test_alert_engine import GAS, WATER, at, batch, kinds, policy, registry

Arrival = tuple[float, float]  # (seconds after T0, value), in the order they arrive


def fed(arrivals: Sequence[Arrival], dev: int = WATER, code: str = "w20117", engine: Engine | None = None,
        now_s: float | None = None) -> list[Transition]:
    """Feed one reading per batch in this order; each is processed at the latest time seen so far."""
    engine = engine or Engine(registry(), policy())
    out: list[Transition] = []
    latest = 0.0
    for offset, value in arrivals:
        latest = max(latest, offset) if now_s is None else now_s
        out += engine.evaluate(batch([(offset, dev, code, value, "N")]), at(latest))
    return out


def opens(transitions: Sequence[Transition]) -> list[str]:
    return [k for k in kinds(transitions) if k.startswith(("open", "severity"))]


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        pytest.param([(0, 0.1), (10, 1.5), (20, 1.5), (40, 0.1), (30, 1.5)], ["open:instant:exceedance"],
                     id="the-chaos-case-third-breach-after-the-normal-one"),
        pytest.param([(10, 1.5), (20, 1.5), (30, 1.5), (0, 1.5)], ["open:instant:exceedance"],
                     id="late-breach-before-a-run-in-order-arrival-still-one-open"),
        pytest.param([(10, 1.5), (30, 1.5), (20, 0.1), (40, 1.5)], [],
                     id="late-normal-reading-splits-a-pending-run"),
        pytest.param([(10, 1.5), (30, 1.5), (20, 1.5)], ["open:instant:exceedance"],
                     id="late-breach-fills-the-middle-of-a-run"),
        pytest.param([(0, 0.9), (20, 0.9), (30, 0.1), (10, 0.9)], ["open:instant:warning"],
                     id="late-warning-line-sample"),
        pytest.param([(0, 3.5), (10, 3.5), (30, 0.1), (20, 3.5)], ["open:instant:severe"],
                     id="late-severe-sample"),
        pytest.param([(10, 0.1), (20, 0.1), (5, 0.2)], [], id="late-normal-reading-changes-nothing"),
    ],
)
def test_late_readings_open_what_time_order_opens(arrivals: list[Arrival], expected: list[str]) -> None:
    in_time_order = fed(sorted(arrivals))
    as_arrived = fed(arrivals)
    assert opens(in_time_order) == expected, "the case itself is wrong"
    assert opens(as_arrived) == expected


def test_an_alert_opened_on_the_readings_at_hand_is_not_withdrawn_by_a_late_normal_one() -> None:
    """Time order would not have opened it (the run was two), but its SMS went out: it stays, and clears as
    any alert does, on the normal readings that follow."""
    engine = Engine(registry(), policy())
    assert opens(fed([(10, 1.5), (30, 1.5), (40, 1.5)], engine=engine)) == ["open:instant:exceedance"]
    assert fed([(20, 0.1)], engine=engine, now_s=41) == []


def test_a_late_gas_reading_raises_its_level() -> None:
    arrivals = [(0, 1.0), (2, 1.0), (1, 14.0)]
    assert opens(fed(sorted(arrivals), GAS, "s02001")) == ["open:gas:level2"]
    assert opens(fed(arrivals, GAS, "s02001")) == ["open:gas:level2"]


def test_readings_given_again_by_a_catch_up_change_nothing() -> None:
    engine = Engine(registry(), policy())
    first = fed([(0, 1.5), (10, 1.5), (20, 1.5), (30, 0.1)], engine=engine)
    assert opens(first) == ["open:instant:exceedance"]
    again = fed([(0, 1.5), (10, 1.5), (20, 1.5), (30, 0.1)], engine=engine, now_s=40)
    assert again == []
    assert engine.late_judged == 0


def test_a_late_breach_of_a_firing_alert_raises_only_its_peak() -> None:
    engine = Engine(registry(), policy())
    assert opens(fed([(0, 1.5), (10, 1.5), (30, 1.5), (40, 1.6)], engine=engine)) == ["open:instant:exceedance"]
    (update,) = fed([(20, 2.5)], engine=engine, now_s=45)
    assert (update.kind, update.peak_value, update.peak_at) == ("update", 2.5, at(20))


def test_a_late_reading_older_than_the_recent_ones_kept_is_counted_not_judged() -> None:
    engine = Engine(registry(), policy())
    fed([(10.0 * (i + 1), 0.1) for i in range(DEPTH + 2)], engine=engine)
    assert fed([(0, 1.5)], engine=engine, now_s=1000) == []
    assert (engine.late_judged, engine.late_unjudged) == (0, 1)


def test_a_late_breach_before_the_alert_cleared_does_not_open_it_again() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nclear_hold_seconds = 0"))
    out = fed([(0, 1.5), (10, 1.5), (20, 1.5), (40, 0.1), (50, 0.1)], engine=engine)
    assert kinds(out) == ["open:instant:exceedance", "clear:instant:exceedance"]
    assert fed([(30, 1.5)], engine=engine, now_s=60) == []


def test_the_recent_readings_survive_a_restart_from_the_snapshot() -> None:
    engine = Engine(registry(), policy())
    fed([(0, 0.1), (10, 1.5), (20, 1.5), (40, 0.1)], engine=engine)
    restarted = Engine.restore(registry(), policy(), engine.snapshot())
    assert opens(fed([(30, 1.5)], engine=restarted, now_s=45)) == ["open:instant:exceedance"]
    assert fed([(10, 1.5), (20, 1.5)], engine=restarted, now_s=46) == []  # the catch-up gives them again


def test_several_late_readings_in_one_batch() -> None:
    engine = Engine(registry(), policy())
    fed([(0, 0.1), (40, 0.1)], engine=engine)
    out = engine.evaluate(batch([(10, WATER, "w20117", 1.5, "N"), (20, WATER, "w20117", 1.5, "N"),
                                 (30, WATER, "w20117", 1.5, "N")]), at(45))
    assert opens(out) == ["open:instant:exceedance"]


def test_readings_arriving_after_their_hour_closed_are_judged_in_the_hourly_mean() -> None:
    """Stored samples sent after an outage: their hour had closed below the limit; with them it exceeds."""
    engine = Engine(registry(water_basis="hour"), policy())
    fed([(0, 0.5)], engine=engine)
    assert hourly(engine.tick(at(3600 + 300))) == []  # the hour closes on its one value: 0.5
    late = engine.evaluate(batch([(1800, WATER, "w20117", 2.0, "N"), (2400, WATER, "w20117", 2.0, "N")]),
                           at(3600 + 400))
    assert hourly(late) == []
    assert hourly(engine.tick(at(3600 + 401))) == ["open:hour_avg:exceedance"]  # (0.5 + 2 + 2) / 3


def hourly(transitions: Sequence[Transition]) -> list[str]:
    return [k for k in opens(transitions) if ":hour_avg:" in k]
