"""The demo's backfill plan: which devices, which week, how many samples each (`now` passed in)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from device_sim.backfill import BackfillPlan, plan_backfill
from device_sim.plans import DevicePlan, build_plans
from envmon.registry.load import load_registry_file
from tests.conftest import EXAMPLE_REGISTRY

NOW = datetime(2026, 12, 5, 2, 30, 0, 400_000, tzinfo=UTC)
WEEK_S = 7 * 86400
DEVICES = ("310120EP001W01", "310120EP002W01", "310120CH001S01")  # in registry order


def _plans(intervals: tuple[float, ...]) -> list[DevicePlan]:
    plans = build_plans(load_registry_file(EXAMPLE_REGISTRY), 0, DEVICES)
    return [dataclasses.replace(p, interval_seconds=i) for p, i in zip(plans, intervals, strict=True)]


@pytest.mark.parametrize(
    ("intervals", "rate", "budget_s", "steps", "counts"),
    [
        pytest.param((30, 5, 60), 1e9, 60, (30, 5, 60), (20160, 120960, 10080), id="fits-at-full-interval"),
        pytest.param((30, 5, 60), 1000, 60, (60, 60, 60), (10080, 10080, 10080), id="one-per-minute"),
        pytest.param((30, 5, 60), 200, 60, (300, 300, 300), (2016, 2016, 2016), id="stretched-to-5-minutes"),
        pytest.param((30, 5, 60), 60, 60, (600, 600, 600), (1008, 1008, 1008), id="stretched-to-10-minutes"),
        pytest.param((30, 5, 7200), 200, 60, (120, 120, 7200), (5040, 5040, 84), id="slow-device-keeps-its-interval"),
        pytest.param((30, 5, 60), 1, 1, (3600, 3600, 3600), (168, 168, 168), id="nothing-fits-hourly"),
    ],
)
def test_plan_backfill(intervals: tuple[float, ...], rate: float, budget_s: float, steps: tuple[float, ...],
                       counts: tuple[int, ...]) -> None:
    plan = plan_backfill(_plans(intervals), NOW, messages_per_second=rate, budget_seconds=budget_s)
    assert plan.end_s == 1_796_437_800.0  # `now` on the whole second
    assert plan.end_s - plan.start_s == WEEK_S
    assert tuple(plan.steps_seconds) == DEVICES
    assert tuple(plan.steps_seconds.values()) == steps
    assert tuple(plan.count(mn) for mn in DEVICES) == counts
    assert plan.total == sum(counts)


def test_plan_covers_the_days_asked() -> None:
    plan = plan_backfill(_plans((60, 60, 60)), NOW, days=1, messages_per_second=1e9)
    assert plan == BackfillPlan(plan.end_s - 86400, plan.end_s, dict.fromkeys(DEVICES, 60.0))
