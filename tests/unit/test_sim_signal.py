"""The undisturbed signal: deterministic, below the limits, with a daily cycle and correlated flow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from device_sim.noise import F64, channel_key, normals
from device_sim.plans import DevicePlan, build_plans
from device_sim.signal import Channels, base_values
from envmon.registry.load import load_registry_file

REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "fengxian.toml"
DAY = datetime(2026, 11, 23, tzinfo=UTC).timestamp()  # midnight UTC = 08:00 in Shanghai


@pytest.fixture(scope="module")
def plans() -> list[DevicePlan]:
    return build_plans(load_registry_file(REGISTRY), seed=7)


def _plan(plans: list[DevicePlan], mn: str) -> DevicePlan:
    return next(p for p in plans if p.mn == mn)


def _at_times(channels: Channels, times: F64) -> F64:
    """base_values at each of `times` in one call (row i: time i), as bulk history computes it: one
    call per time took 16 s for this test's 86,400 calls."""
    tiled = Channels(**{name: np.tile(getattr(channels, name), len(times)) for name in Channels.__dataclass_fields__})
    return base_values(tiled, np.repeat(times, len(channels))).reshape(len(times), len(channels))


def test_same_seed_gives_the_same_values_and_another_seed_does_not() -> None:
    registry = load_registry_file(REGISTRY)
    a, b = build_plans(registry, 1), build_plans(registry, 1)
    c = build_plans(registry, 2)
    for t in (DAY, DAY + 30, DAY + 3600.5):
        assert np.array_equal(base_values(a[0].channels, t), base_values(b[0].channels, t))
        assert not np.array_equal(base_values(a[0].channels, t), base_values(c[0].channels, t))


def test_noise_depends_only_on_key_and_time_not_on_call_order() -> None:
    keys = np.array([channel_key(0, "X", "w20117"), channel_key(0, "X", "w00000")], dtype=np.uint64)
    ticks = np.array([1000, 2000], dtype=np.int64)
    together = normals(keys, ticks)
    alone = [normals(keys[i : i + 1], ticks[i : i + 1])[0] for i in (1, 0)]
    assert together.tolist() == [alone[1], alone[0]]


def test_noise_is_roughly_standard_normal() -> None:
    n = normals(np.full(20_000, 12345, dtype=np.uint64), np.arange(20_000, dtype=np.int64))
    assert abs(float(n.mean())) < 0.03
    assert float(n.std()) == pytest.approx(1.0, abs=0.03)


def test_every_baseline_stays_below_the_warning_line_for_a_whole_day(plans: list[DevicePlan]) -> None:
    worst = 0.0
    for plan in plans:
        limits = [plan.limits.get(c) for c in plan.codes]
        # Upper limits only: pH and O2 ranges are checked by their own test.
        uppers = np.array([lim.upper if lim and lim.direction == "upper" and lim.upper else np.inf for lim in limits])
        worst = max(worst, float(np.max(_at_times(plan.channels, np.arange(DAY, DAY + 86400, 1800.0)) / uppers)))
    assert 0.2 < worst < 0.8, f"highest value reached {worst:.2f} of a limit"


def test_ph_stays_in_its_range_and_oxygen_in_air_near_20_9(plans: list[DevicePlan]) -> None:
    times = DAY + np.arange(50) * 97.0
    ph = np.concatenate([_at_times(p.channels, times)[:, p.index("w01001")] for p in plans if "w01001" in p.codes])
    o2 = np.concatenate([_at_times(p.channels, times)[:, p.index("s03001")] for p in plans if "s03001" in p.codes])
    assert ph.size and min(ph) > 6.5 and max(ph) < 8.0
    assert o2.size and min(o2) > 20.3 and max(o2) < 21.5


def test_electroplating_flow_follows_the_day_shift(plans: list[DevicePlan]) -> None:
    plan = _plan(plans, "310120EP001W01")
    j = plan.index("w00000")
    noon = np.mean([base_values(plan.channels, DAY + 4 * 3600 + k)[j] for k in range(0, 600, 30)])  # 12:00 CST
    night = np.mean([base_values(plan.channels, DAY - 5 * 3600 + k)[j] for k in range(0, 600, 30)])  # 03:00 CST
    assert noon > 2.5 * night


def test_concentrations_rise_with_load(plans: list[DevicePlan]) -> None:
    plan = _plan(plans, "310120EP001W01")
    j = plan.index("w20117")
    noon = np.mean([base_values(plan.channels, DAY + 4 * 3600 + k)[j] for k in range(0, 1800, 30)])
    night = np.mean([base_values(plan.channels, DAY - 5 * 3600 + k)[j] for k in range(0, 1800, 30)])
    assert noon > 1.15 * night


def test_values_at_many_times_in_one_call_equal_one_call_per_time(plans: list[DevicePlan]) -> None:
    times = np.arange(DAY, DAY + 600, 5.0)
    for plan in plans[:5]:
        one_by_one = np.array([base_values(plan.channels, float(t)) for t in times])
        assert np.allclose(_at_times(plan.channels, times), one_by_one, rtol=1e-12, atol=0.0)


def test_concentrations_never_go_negative_on_their_own(plans: list[DevicePlan]) -> None:
    times = np.arange(DAY, DAY + 7200, 5.0)
    for plan in plans[:60]:
        values = _at_times(plan.channels, times)
        negative = np.argwhere(values < 0)
        assert negative.size == 0, f"{plan.mn} {plan.codes[negative[0][1]]} at {times[negative[0][0]]}"
