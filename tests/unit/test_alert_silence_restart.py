"""Silence clocks across an engine restart: counted from what ingest stored, not from the engine's start."""

from __future__ import annotations

import json

import pytest

from alerts.rules.engine import Engine
from tests.unit.test_alert_engine import WATER, at, feed, kinds, policy, registry

START_S = 300.0  # the restarted engine's first tick; WATER's silence window is 600 s


def _restarted(stored_seen_s: float | None, heard_s: float | None = 0.0, alive_s: float | None = None) -> Engine:
    """An engine that heard WATER at `heard_s`, restarted from its snapshot, seeded with device_state's time
    (and, with `alive_s`, the last time ingest is known to have been storing)."""
    before = Engine(registry(), policy())
    if heard_s is not None:
        feed(before, [(heard_s, 0.1)])
    engine = Engine.restore(registry(), policy(), json.loads(json.dumps(before.snapshot())))
    if stored_seen_s is not None:
        engine.seed_last_seen({WATER: at(stored_seen_s).timestamp()},
                              alive_s=None if alive_s is None else at(alive_s).timestamp())
    return engine


def _silent_water(engine: Engine, offset_s: float) -> list[str]:
    return kinds([t for t in engine.tick(at(offset_s)) if t.key.device_id == WATER and t.key.rule == "silent"])


@pytest.mark.parametrize(
    ("stored_seen_s", "heard_s", "reading_s", "quiet_s", "opens_s"),
    [
        pytest.param(200.0, 0.0, None, 800.0, 801.0, id="silent-since-before-the-restart-alerts-a-window-after-it"),
        pytest.param(-1000.0, None, None, None, START_S, id="silent-longer-than-the-window-alerts-at-the-first-tick"),
        pytest.param(None, 0.0, None, 900.0, 901.0, id="nothing-stored-counts-from-the-restart"),
        pytest.param(200.0, 0.0, 400.0, 1000.0, 1001.0, id="a-reading-after-the-restart-moves-the-clock-on"),
        pytest.param(-50.0, 0.0, None, 600.0, 601.0, id="a-stored-time-older-than-the-snapshot-never-moves-it-back"),
    ],
)
def test_silence_after_a_restart_counts_from_the_stored_last_seen(
        stored_seen_s: float | None, heard_s: float | None, reading_s: float | None, quiet_s: float | None,
        opens_s: float) -> None:
    engine = _restarted(stored_seen_s, heard_s)
    if opens_s > START_S:
        assert _silent_water(engine, START_S) == []
    if reading_s is not None:
        feed(engine, [(reading_s, 0.1)])
    if quiet_s is not None:
        assert _silent_water(engine, quiet_s) == []
    assert _silent_water(engine, opens_s) == ["open:silent:fault"]


def test_a_registry_reload_keeps_the_stored_silence_clock() -> None:
    engine = _restarted(200.0)
    assert _silent_water(engine, START_S) == []
    engine.set_registry(registry())
    assert _silent_water(engine, 801.0) == ["open:silent:fault"]


def test_unknown_devices_in_the_stored_times_are_ignored() -> None:
    engine = _restarted(None)
    engine.seed_last_seen({99999: at(-5000).timestamp()})
    assert engine.tick(at(START_S)) == []


@pytest.mark.parametrize(
    ("stored_seen_s", "alive_s", "quiet_s", "opens_s"),
    [
        # Ingest stored others (or beat) until the restart: the device's silence is all real.
        pytest.param(200.0, START_S, 800.0, 801.0, id="ingest-alive-until-the-restart-counts-all-of-it"),
        # The whole platform went dark at 250 s; the engine restarts at START_S = 300 s: those 50 s of
        # blackout are nobody's silence, so the clock moves on by them.
        pytest.param(200.0, 250.0, 850.0, 851.0, id="a-short-blackout-is-taken-off"),
        # A cold start a day after the platform stopped: no device alerts at the first tick (no flood),
        # one that stays silent alerts a window minus what it had already been silent before the outage.
        pytest.param(-86_400.0 + 200.0, -86_400.0 + 250.0, 850.0, 851.0, id="a-cold-start-after-a-day-floods-nobody"),
        # Silent long before the platform went dark: it alerts at the first tick all the same.
        pytest.param(-2000.0, 250.0, None, START_S, id="silent-long-before-the-outage-alerts-at-once"),
    ],
)
def test_the_platforms_own_blackout_counts_as_no_devices_silence(
        stored_seen_s: float, alive_s: float, quiet_s: float | None, opens_s: float) -> None:
    engine = _restarted(stored_seen_s, heard_s=None, alive_s=alive_s)
    if opens_s > START_S:
        assert _silent_water(engine, START_S) == []
    if quiet_s is not None:
        assert _silent_water(engine, quiet_s) == []
    assert _silent_water(engine, opens_s) == ["open:silent:fault"]
