"""The demo's backfill plan: which devices, which week, how many samples each (`now` passed in)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from device_sim.backfill import BackfillPlan, BackfillResult, plan_backfill, until_stored
from device_sim.plans import DevicePlan, build_plans
from envmon.registry.load import load_registry_file
from tests.conftest import EXAMPLE_REGISTRY

NOW = datetime(2026, 12, 5, 2, 30, 0, 400_000, tzinfo=UTC)
WEEK_S = 7 * 86400
DEVICES = ("310120EP001W01", "310120EP002W01", "310120CH001S01")  # in registry order


def _plans(intervals: tuple[float, ...]) -> list[DevicePlan]:
    plans = build_plans(load_registry_file(EXAMPLE_REGISTRY), 0, DEVICES)
    return [dataclasses.replace(p, interval_seconds=i) for p, i in zip(plans, intervals, strict=True)]


MQTT_FIRST, HJ212, MQTT_LAST = DEVICES  # the middle one is an HJ 212 logger


def _tail_hours(plan: BackfillPlan, mn: str) -> float:
    return (plan.end_s - max(plan.start_s, plan.devices[mn].tail_from_s)) / 3600


@pytest.mark.parametrize(
    ("intervals", "rates", "steps", "tails_h", "counts", "said"),
    [
        pytest.param((30, 5, 60), {"mqtt": 1e9, "hj212": 1e9}, (30, 5, 60), (168, 168, 168), (20160, 120960, 10080),
                     "every device at its own interval", id="the-whole-week-at-full-interval"),
        # MQTT: 6,000 samples: the last day at full interval (4,320) and the six before at 900 s (1,152). HJ 212:
        # 600 frames: not even its last hour (720), so one every 1,800 s over the week.
        pytest.param((30, 5, 60), {"mqtt": 100, "hj212": 10}, (900, 1800, 900), (24, 0, 24), (3456, 336, 2016),
                     "MQTT: the last 24 h at each device's own interval, one reading per 900 s before; "
                     "HJ 212: one reading per 1800 s", id="each-transport-its-own-budget"),
        pytest.param((30, 30, 5), {"mqtt": 2000, "hj212": 150}, (60, 120, 60), (24, 24, 24), (11520, 7200, 25920),
                     "MQTT: the last 24 h at each device's own interval, one reading per 60 s before; "
                     "HJ 212: the last 24 h at each device's own interval, one reading per 120 s before",
                     id="a-longer-tail-before-a-finer-older-step"),
        pytest.param((30, 5, 7200), {"mqtt": 100, "hj212": 1e9}, (300, 5, 7200), (24, 168, 24), (4608, 120960, 84),
                     "MQTT: the last 24 h at each device's own interval, one reading per 300-7200 s before; "
                     "HJ 212: every device at its own interval", id="a-slow-device-keeps-its-interval"),
        # HJ 212: 120 frames: the week hourly (168) does not fit, its last hour at 30 s (120) does.
        pytest.param((30, 30, 60), {"mqtt": 100, "hj212": 2}, (900, math.inf, 900), (24, 1, 24), (3456, 120, 2016),
                     "MQTT: the last 24 h at each device's own interval, one reading per 900 s before; "
                     "HJ 212: only the last 1 h, at each device's own interval", id="no-week-fits-the-recent-part-alone"),
        pytest.param((30, 5, 60), {"mqtt": 1, "hj212": 1}, (math.inf,) * 3, (1, 1, 1), (120, 720, 60),
                     "only the last 1 h, at each device's own interval", id="nothing-fits-the-last-hour"),
    ],
)
def test_plan_backfill(intervals: tuple[float, ...], rates: dict[str, float], steps: tuple[float, ...],
                       tails_h: tuple[float, ...], counts: tuple[int, ...], said: str) -> None:
    plan = plan_backfill(_plans(intervals), NOW, rates_per_second=rates, budget_seconds=60)
    assert plan.end_s == 1_796_437_800.0  # `now` on the whole second
    assert plan.end_s - plan.start_s == WEEK_S
    assert tuple(plan.devices) == DEVICES
    assert tuple(plan.steps_seconds.values()) == steps
    assert tuple(_tail_hours(plan, mn) for mn in DEVICES) == tails_h
    assert tuple(plan.count(mn) for mn in DEVICES) == counts
    assert tuple(len(plan.times(mn)) for mn in DEVICES) == counts
    assert plan.total == sum(counts)
    assert plan.describe() == said


def test_plan_covers_the_days_asked() -> None:
    plan = plan_backfill(_plans((60, 60, 60)), NOW, days=1, rates_per_second={"mqtt": 1e9, "hj212": 1e9})
    assert plan.start_s == plan.end_s - 86400
    assert {mn: plan.count(mn) for mn in DEVICES} == dict.fromkeys(DEVICES, 1440)


def test_a_devices_times_are_where_the_per_sample_simulation_puts_them() -> None:
    """The older part at the stretched step and the recent part at the device's own interval, each at the phase
    the per-sample path gives that spacing (DevicePlan.phase_s), ascending, inside the week."""
    plans = _plans((30, 5, 60))
    plan = plan_backfill(plans, NOW, rates_per_second={"mqtt": 100, "hj212": 10})
    for device in plans:
        d, times = plan.devices[device.mn], plan.times(device.mn)
        older, recent = times[times < d.tail_from_s], times[times >= d.tail_from_s]
        stretched = dataclasses.replace(device, interval_seconds=d.step_s)
        assert list(older[:2]) == [plan.start_s + stretched.phase_s, plan.start_s + stretched.phase_s + d.step_s]
        if len(recent):
            assert recent[0] == d.tail_from_s + device.phase_s and set(np.diff(recent)) == {device.interval_seconds}
        assert (np.diff(times) > 0).all() and plan.start_s <= times[0] and times[-1] < plan.end_s


@pytest.mark.parametrize(("counts", "readings", "said"), [
    pytest.param([0, 500, 1000], 1000, "stored by ingest", id="caught-up"),
    pytest.param([0, 500, 500, 500, 500], 1000, "ingest stored 500 of 1,000 readings and no more", id="stalled"),
])
def test_going_live_waits_until_ingest_stored_the_history(counts: list[int], readings: int, said: str) -> None:
    seen = iter([*counts, *[counts[-1]] * 1000])
    result = BackfillResult(plan_backfill(_plans((60, 60, 60)), NOW), 10, readings, 0, 1.0)
    lines: list[str] = []
    asyncio.run(until_stored(lambda: next(seen), result, asyncio.Event(), stall_seconds=0.0, say=lines.append))
    assert len(lines) == 1 and said in lines[0]
