"""A registry change taken while running (Engine.set_registry) keeps hold timers, firing alerts and clear timers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts.rules.engine import Engine
from alerts.rules.registry import EngineRegistry
from tests.unit.test_alert_engine import WATER, at, device, feed, kinds, limit, policy, registry

HOLD = "[rules.instant]\nhold_seconds = 60\nhold_samples = 1\nclear_hold_seconds = 60"
NEW = 0  # sorts before every other device: the series layout of the others moves


def with_new_device(reg: EngineRegistry, device_id: int = NEW) -> EngineRegistry:
    devices = {device_id: replace(device(device_id, "water_analyser", ("w20117",)), mn="MN-NEW"), **reg.devices}
    return EngineRegistry(devices, [*reg.limits, limit(device_id, "w20117", upper=0.2, limit_id=77)])


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda reg: reg, id="same-registry"),
        pytest.param(with_new_device, id="device-added-before-the-others"),
        pytest.param(lambda reg: with_new_device(reg, 99), id="device-added-after-the-others"),
        pytest.param(lambda reg: EngineRegistry({k: v for k, v in reg.devices.items() if k != 3},
                                                [lim for lim in reg.limits if lim.device_id != 3]),
                     id="another-device-removed"),
    ],
)
def test_reload_keeps_a_pending_hold_timer(change: object) -> None:
    engine = Engine(registry(), policy(HOLD))
    assert feed(engine, [(0, 1.5), (30, 1.5)]) == []  # 30 s of the 60 s hold have passed
    engine.set_registry(change(registry()))  # type: ignore[operator]
    out = feed(engine, [(60, 1.5)])
    assert kinds(out) == ["open:instant:exceedance"] and out[0].first_breach_at == at(0)


def test_reload_keeps_a_firing_alert_and_its_clear_timer() -> None:
    engine = Engine(registry(), policy(HOLD))
    assert kinds(feed(engine, [(0, 1.5), (60, 1.5)])) == ["open:instant:exceedance"]
    feed(engine, [(70, 0.1)])  # below the clear threshold: the 60 s clear hold starts
    engine.set_registry(with_new_device(registry()))
    assert feed(engine, [(80, 0.1)]) == []  # no second open, no early clear
    assert kinds(engine.tick(at(131))) == ["clear:instant:exceedance"]


def test_reload_that_lowers_a_limit_judges_the_next_reading_by_it() -> None:
    engine = Engine(registry(), policy(HOLD))
    assert feed(engine, [(0, 0.5), (60, 0.5)]) == []  # below the warning line of 0.8
    reg = registry()
    reg.limits[0] = replace(reg.limits[0], upper=0.1, limit_id=12345)
    engine.set_registry(reg)
    out = feed(engine, [(70, 0.5), (130, 0.5)])
    assert kinds(out) == ["open:instant:severe"] and out[0].limit_id == 12345  # 5x the new limit


def test_a_device_added_while_running_is_judged() -> None:
    engine = Engine(registry(), policy(HOLD))
    feed(engine, [(0, 0.1)])
    engine.set_registry(with_new_device(registry()))
    out = feed(engine, [(10, 1.0), (70, 1.0)], dev=NEW)
    assert kinds(out) == ["open:instant:exceedance"] and out[0].key.device_id == NEW and out[0].limit_id == 77


def test_a_removed_device_keeps_its_firing_alert_when_it_returns() -> None:
    engine = Engine(registry(), policy(HOLD))
    assert kinds(feed(engine, [(0, 1.5), (60, 1.5)])) == ["open:instant:exceedance"]
    reg = registry()
    engine.set_registry(EngineRegistry({k: v for k, v in reg.devices.items() if k != WATER},
                                       [lim for lim in reg.limits if lim.device_id != WATER]))
    engine.set_registry(registry())
    assert feed(engine, [(70, 1.5)]) == []  # still the same open alert, not a second one
