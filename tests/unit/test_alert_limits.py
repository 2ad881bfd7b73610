"""Which limit applies: scope precedence, validity dates, lanes, and the tier a value reaches."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from alerts.model import LimitSpec
from alerts.rules.limits import LANE_DAY, LANE_HOUR, LANE_INSTANT, LimitTable, SeriesLayout, resolve_timeline
from tests.unit.test_alert_engine import limit

JAN = datetime(2026, 1, 1, tzinfo=UTC)
JUN = datetime(2026, 6, 1, tzinfo=UTC)
SEP = datetime(2026, 9, 1, tzinfo=UTC)
LAYOUT = SeriesLayout((1, 2), ("w20117", "w01001", "s02001"))


def table(*limits: LimitSpec) -> LimitTable:
    return LimitTable(list(limits), LAYOUT)


def applies(t: LimitTable, lane: int, when: datetime, device: int = 1, code: str = "w20117") -> int:
    index = int(t.lookup(lane, np.array([LAYOUT.series(device, code)]), np.array([when.timestamp()]))[0])
    return -1 if index < 0 else t.limits[index].limit_id or 0


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        pytest.param([], [(-np.inf, -1)], id="nothing"),
        pytest.param([((0, 0, 0.0), 0.0, np.inf, 0)], [(-np.inf, -1), (0.0, 0)], id="one-from-start"),
        pytest.param([((0, 0, 0.0), 0.0, np.inf, 0), ((2, 0, 0.0), 10.0, 20.0, 1)],
                     [(-np.inf, -1), (0.0, 0), (10.0, 1), (20.0, 0)], id="device-limit-for-a-while"),
        pytest.param([((1, 0, 0.0), 0.0, np.inf, 0), ((1, 0, 5.0), 5.0, np.inf, 1)],
                     [(-np.inf, -1), (0.0, 0), (5.0, 1)], id="later-valid-from-supersedes"),
    ],
)
def test_resolve_timeline(candidates: list[tuple[tuple[int, int, float], float, float, int]],
                          expected: list[tuple[float, int]]) -> None:
    assert resolve_timeline(candidates) == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param(JAN, 2, id="site-beats-default"),
        pytest.param(JUN, 3, id="device-beats-site-while-valid"),
        pytest.param(SEP, 2, id="site-again-after-device-limit-ends"),
    ],
)
def test_device_scope_beats_site_beats_default_within_validity(when: datetime, expected: int) -> None:
    t = table(limit(1, "w20117", upper=0.5, basis="day", scope="default", limit_id=1),
              limit(1, "w20117", upper=0.2, basis="day", scope="site", limit_id=2),
              limit(1, "w20117", upper=0.1, basis="day", scope="device", limit_id=3, valid_from=JUN, valid_to=SEP))
    assert applies(t, LANE_INSTANT, when) == expected
    assert applies(t, LANE_DAY, when) == expected


def test_a_limit_before_its_valid_from_does_not_apply() -> None:
    t = table(limit(1, "w20117", upper=0.5, basis="day", valid_from=JUN, limit_id=5))
    assert applies(t, LANE_DAY, JAN) == -1
    assert applies(t, LANE_DAY, SEP) == 5


@pytest.mark.parametrize(
    ("basis", "lanes"),
    [
        pytest.param("instant", {LANE_INSTANT: 7, LANE_HOUR: -1, LANE_DAY: -1}, id="instant-only"),
        pytest.param("hour", {LANE_INSTANT: 7, LANE_HOUR: 7, LANE_DAY: -1}, id="hour-and-instant-prewarning"),
        pytest.param("day", {LANE_INSTANT: 7, LANE_HOUR: -1, LANE_DAY: 7}, id="day-and-instant-prewarning"),
    ],
)
def test_basis_decides_lanes(basis: str, lanes: dict[int, int]) -> None:
    t = table(limit(1, "w20117", upper=0.5, basis=basis, limit_id=7))
    assert {lane: applies(t, lane, JUN) for lane in lanes} == lanes


def test_instant_lane_prefers_an_instant_limit_over_a_day_limit() -> None:
    t = table(limit(1, "w20117", upper=0.5, basis="day", limit_id=1),
              limit(1, "w20117", upper=0.8, basis="instant", limit_id=2))
    assert (applies(t, LANE_INSTANT, JUN), applies(t, LANE_DAY, JUN)) == (2, 1)


def test_limits_stay_on_their_own_device_and_pollutant() -> None:
    t = table(limit(1, "w20117", upper=0.5, limit_id=1))
    assert applies(t, LANE_INSTANT, JUN, device=2) == -1
    assert applies(t, LANE_INSTANT, JUN, code="w01001") == -1


def test_batch_lookup_spanning_a_validity_boundary_matches_row_by_row() -> None:
    t = table(limit(1, "w20117", upper=0.5, scope="site", limit_id=1),
              limit(1, "w20117", upper=0.1, scope="device", limit_id=2, valid_from=JUN),
              limit(2, "w20117", upper=0.3, limit_id=3, valid_to=JUN))
    times = np.array([JAN.timestamp(), JUN.timestamp() - 1, JUN.timestamp(), SEP.timestamp()] * 2)
    series = np.array([LAYOUT.series(1, "w20117")] * 4 + [LAYOUT.series(2, "w20117")] * 4)
    got = [t.limits[i].limit_id if i >= 0 else -1 for i in t.lookup(LANE_INSTANT, series, times).tolist()]
    assert got == [1, 1, 2, 2, 3, 3, -1, -1]


@pytest.mark.parametrize(
    ("spec", "value", "tier"),
    [
        pytest.param(dict(upper=1.0, warning_ratio=0.8, severe_multiple=3.0), 0.79, 0, id="below-warning"),
        pytest.param(dict(upper=1.0, warning_ratio=0.8, severe_multiple=3.0), 0.81, 1, id="warning"),
        pytest.param(dict(upper=1.0, warning_ratio=0.8, severe_multiple=3.0), 1.0, 1, id="at-limit-is-warning"),
        pytest.param(dict(upper=1.0, warning_ratio=0.8, severe_multiple=3.0), 1.01, 2, id="exceedance"),
        pytest.param(dict(upper=1.0, warning_ratio=0.8, severe_multiple=3.0), 3.01, 3, id="severe"),
        pytest.param(dict(upper=1.0), 0.9, 0, id="no-warning-line-without-ratio"),
        pytest.param(dict(upper=1.0), 30.0, 2, id="no-severe-tier-without-multiple"),
        pytest.param(dict(lower=6.0, upper=9.0, warning_ratio=0.8), 7.5, 0, id="ratios-do-not-apply-to-ranges"),
        pytest.param(dict(lower=6.0, upper=9.0), 5.9, 2, id="range-below"),
        pytest.param(dict(lower=6.0, upper=9.0), 9.1, 2, id="range-above"),
        pytest.param(dict(lower=5.0, warning_ratio=0.8), 6.0, 1, id="lower-limit-warning-above-it"),
        pytest.param(dict(lower=5.0, warning_ratio=0.8), 4.0, 2, id="lower-limit-exceeded"),
        pytest.param(dict(upper=6.6, level2_upper=13.2, scheme="gas_alarm"), 6.6, 1, id="gas-level1-at-set-point"),
        pytest.param(dict(upper=6.6, level2_upper=13.2, scheme="gas_alarm"), 13.2, 2, id="gas-level2-at-set-point"),
        pytest.param(dict(lower=19.5, upper=23.5, scheme="gas_alarm"), 19.5, 1, id="oxygen-at-low-set-point"),
    ],
)
def test_tiers(spec: dict[str, object], value: float, tier: int) -> None:
    t = table(limit(1, "w20117", **spec))  # type: ignore[arg-type]
    assert t.tiers(np.array([0]), np.array([value])).tolist() == [tier]


def test_no_limit_means_no_tier() -> None:
    t = table()
    assert t.tiers(np.array([-1, -1]), np.array([1e9, -1e9])).tolist() == [0, 0]


@pytest.mark.parametrize(
    ("value", "current", "held"),
    [
        pytest.param(0.95, 2, 2, id="exceedance-holds-down-to-0.9-of-limit"),
        pytest.param(0.89, 2, 1, id="then-warning"),
        pytest.param(0.73, 1, 1, id="warning-holds-down-to-0.9-of-warning-line"),
        pytest.param(0.71, 1, 0, id="then-nothing"),
        pytest.param(0.95, 1, 1, id="rising-needs-the-full-threshold"),
    ],
)
def test_held_tier_applies_hysteresis(value: float, current: int, held: int) -> None:
    t = table(limit(1, "w20117", upper=1.0, warning_ratio=0.8, severe_multiple=3.0))
    tier = int(t.tiers(np.array([0]), np.array([value]))[0])
    assert t.held_tier(0, value, current, 0.9, tier) == held


def test_layout_maps_unknown_devices_to_minus_one() -> None:
    assert LAYOUT.slots_of(np.array([1, 2, 3, 0, -5])).tolist() == [0, 1, -1, -1, -1]
    assert LAYOUT.series(1, "w99999") == -1
    assert LAYOUT.key_of(LAYOUT.series(2, "s02001")) == (2, "s02001")
