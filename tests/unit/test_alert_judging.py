"""Issue 16, judging: each clause of docs/conformance.md against the engine, the limit table and the averages.

Exact comparison (GB/T 8170), the severe multiple (judicial interpretation, 以上 includes the number), the
legal basis versus pre-warnings, T over the measuring range, plausibility against the range, unknown and
manual flags, one device-fault alert per device, the early daily exceedance.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import numpy as np
import pytest

from alerts.lifecycle import on_transition
from alerts.model import WHOLE_DEVICE, AlertKey, LimitSpec, Transition
from alerts.rules.averages import KIND_WATER, AverageBook
from alerts.rules.engine import Engine
from alerts.rules.limits import LimitTable, SeriesLayout
from alerts.rules.policy import AveragesPolicy, Policy, load_policy
from alerts.rules.registry import EngineRegistry
from tests.unit.test_alert_engine import CEMS, GAS, WATER, at, batch, feed, kinds, limit, registry

LAYOUT = SeriesLayout((1,), ("w20115", "w20117", "s02001", "s03001", "w01001"))


def tier_of(spec: LimitSpec, value: float, *, rounded: bool = False) -> int:
    table = LimitTable([spec], LAYOUT, rounded=rounded)
    return int(table.tiers(np.array([0]), np.array([value]))[0])


CD = limit(1, "w20115", upper=0.01, severe_multiple=3.0, basis="day")
CR6 = limit(1, "w20117", upper=0.1, warning_ratio=0.8, severe_multiple=3.0, basis="day")
H2S = limit(1, "s02001", upper=6.6, level2_upper=13.2, scheme="gas_alarm")
O2 = limit(1, "s03001", lower=19.5, upper=23.5, scheme="gas_alarm")
PH = limit(1, "w01001", lower=6.0, upper=9.0, basis="day")
TEN_UG_MEAN = sum([0.01] * 24) / 24  # 0.010000000000000007: a day of Cd at exactly 10 µg/L


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        # GB/T 8170-2008 4.3: 全数值比较法, the value as written: float noise is not a measurement.
        pytest.param(CD, TEN_UG_MEAN, 0, id="cd-daily-mean-of-exactly-10ug-is-not-an-exceedance"),
        pytest.param(CD, 0.0100001, 2, id="cd-just-above-the-limit-exceeds"),
        pytest.param(CD, 0.01, 0, id="exactly-the-limit-does-not-exceed"),
        # Severe at 3x the limit and above (以上 includes the number): 0.1*3 is 0.30000000000000004 in floats.
        pytest.param(CR6, 0.3, 3, id="cr6-at-exactly-3x-is-severe"),
        pytest.param(CR6, 0.1 * 3, 3, id="cr6-3x-computed-in-floats-is-severe"),
        pytest.param(CR6, 0.2999999, 2, id="cr6-just-below-3x-is-an-exceedance"),
        pytest.param(CR6, 0.08, 0, id="cr6-at-the-warning-line-is-not-above-it"),
        pytest.param(CR6, 0.0800001, 1, id="cr6-above-the-warning-line-warns"),
        pytest.param(CD, 0.03, 3, id="cd-at-exactly-3x-is-severe"),
        # GB/T 50493 alarms sound at the set point; oxygen at its lower set point too.
        pytest.param(H2S, 6.6, 1, id="gas-at-the-set-point-alarms"),
        pytest.param(H2S, 6.5999999, 0, id="gas-below-the-set-point-is-quiet"),
        pytest.param(H2S, 13.2, 2, id="gas-at-level-2-set-point"),
        pytest.param(O2, 19.5, 1, id="oxygen-at-19.5-alarms"),
        pytest.param(O2, 19.5000001, 0, id="oxygen-just-above-19.5-is-quiet"),
        # A range limit is exceeded strictly outside it.
        pytest.param(PH, 6.0, 0, id="ph-at-6-is-inside"),
        pytest.param(PH, 5.9999, 2, id="ph-below-6-exceeds"),
        pytest.param(PH, 9.0, 0, id="ph-at-9-is-inside"),
    ],
)
def test_values_meet_limits_exactly(spec: LimitSpec, value: float, expected: int) -> None:
    assert tier_of(spec, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0.014, 0, id="0.014-rounds-to-0.01"),
        pytest.param(0.015, 2, id="0.015-rounds-half-to-even-0.02"),
        pytest.param(0.025, 2, id="0.025-rounds-half-to-even-0.02"),
        pytest.param(0.0149999, 0, id="below-half-rounds-down"),
    ],
)
def test_rounded_comparison_rounds_to_the_limits_decimals_half_to_even(value: float, expected: int) -> None:
    # GB/T 8170-2008 4.3 修约值比较法 with 3.2 rounding: a policy choice, not the default.
    assert tier_of(CD, value, rounded=True) == expected


def test_the_limits_stated_decimals_are_data() -> None:
    three_decimals = dataclasses.replace(CD, decimals=3)
    assert tier_of(three_decimals, 0.0106, rounded=True) == 2  # 0.011 > 0.010 at three decimals
    assert tier_of(CD, 0.0106, rounded=True) == 0  # 0.01 as written: two decimals, 0.0106 rounds to 0.01


def water_registry(**ranges: tuple[float | None, float | None]) -> EngineRegistry:
    """The engine test registry with the Cr(VI) and pH limits on daily means, and measuring ranges."""
    base = registry("day")
    return dataclasses.replace(base, ranges={(WATER, code): r for code, r in ranges.items()})


def policy(text: str = "") -> Policy:
    return load_policy(text)


def opens(out: list[Transition]) -> list[Transition]:
    return [t for t in out if t.kind == "open"]


@pytest.mark.parametrize(
    ("values", "severity"),
    [
        pytest.param([1.5, 1.5, 1.5], "warning", id="above-the-daily-limit"),
        pytest.param([3.5, 3.5, 3.5], "warning", id="above-3x-the-daily-limit"),
        pytest.param([0.85, 0.85, 0.85], "warning", id="above-the-warning-line"),
    ],
)
def test_an_instantaneous_value_against_a_daily_limit_is_only_a_pre_warning(values: list[float], severity: str) -> None:
    engine = Engine(water_registry(), policy())
    out = feed(engine, [(i * 10.0, v) for i, v in enumerate(values)])
    [opened] = opens(out)
    assert (opened.key.rule, opened.severity, opened.detail["prewarning_of"]) == ("instant", severity, "day")
    record = on_transition(None, opened, at(30)).record
    assert record is not None and not record.latched


def test_a_pre_warning_passing_the_limit_is_no_severity_change() -> None:
    engine = Engine(water_registry(), policy("[rules.instant]\nhold_samples = 1"))
    out = feed(engine, [(0, 0.85), (10, 1.5), (20, 3.5)])
    assert kinds(out) == ["open:instant:warning", "update:instant:warning", "update:instant:warning"]


def test_the_legal_exceedance_comes_from_the_daily_mean_and_latches() -> None:
    engine = Engine(water_registry(), policy("[averages]\ngrace_seconds = 0\n[judging]\nearly_daily_exceedance = false"))
    rows = [(h * 3600.0 + m * 600.0, WATER, "w20117", 1.2, "N") for h in range(15) for m in range(6)]
    engine.evaluate(batch(rows), at(15 * 3600))
    day_end = at(0).replace(hour=16)
    [opened] = [t for t in opens(engine.tick(day_end)) if t.key.rule == "day_avg"]
    assert opened.severity == "exceedance"
    record = on_transition(None, opened, day_end).record
    assert record is not None and record.latched


def test_a_daily_exceedance_is_announced_once_the_running_mean_guarantees_it() -> None:
    engine = Engine(water_registry(), policy("[averages]\ngrace_seconds = 0"))
    # T0 is 09:00 CST: 15 hours left in the day after 09:00-10:00; 30 mg/L in the first hour alone
    # makes the lowest possible mean 30/15 = 2, above the limit of 1 even if every hour left is zero.
    rows = [(m * 600.0, WATER, "w20117", 30.0, "N") for m in range(6)]
    engine.evaluate(batch(rows), at(3000))
    out = [t for t in engine.tick(at(3600)) if t.key.rule == "day_avg"]
    [opened] = opens(out)
    assert (opened.severity, opened.detail["early"], opened.detail["hours_left"]) == ("exceedance", True, 14)
    assert opened.value == pytest.approx(2.0)


def test_a_running_mean_that_could_still_fall_below_the_limit_says_nothing() -> None:
    engine = Engine(water_registry(), policy("[averages]\ngrace_seconds = 0"))
    rows = [(m * 600.0, WATER, "w20117", 10.0, "N") for m in range(6)]  # 10/15 < 1
    engine.evaluate(batch(rows), at(3000))
    assert [t for t in engine.tick(at(3600)) if t.key.rule == "day_avg"] == []


@pytest.mark.parametrize(
    ("ranges", "value", "expected_value", "over_range"),
    [
        pytest.param({"w20117": (0.0, 2.0)}, 0.3, 2.0, True, id="t-is-judged-as-the-range-upper"),
        pytest.param({"w20117": (0.0, 2.0)}, 3.5, 3.5, True, id="t-above-the-range-keeps-its-value"),
        pytest.param({}, 1.2, 1.2, True, id="t-without-a-range-is-judged-on-its-value"),
    ],
)
def test_over_range_readings_are_judged_as_at_least_full_scale(ranges: dict[str, tuple[float, float]], value: float,
                                                               expected_value: float, over_range: bool) -> None:
    reg = dataclasses.replace(registry(), ranges={(WATER, c): r for c, r in ranges.items()})
    engine = Engine(reg, policy())
    out = feed(engine, [(0, value), (10, value), (20, value)], flag="T")
    [opened] = [t for t in opens(out) if t.key.rule == "instant"]
    assert (opened.value, opened.detail["over_range"]) == (expected_value, over_range)
    assert opened.severity in ("exceedance", "severe")
    later = feed(engine, [(150, value)], flag="T")
    assert [t.key for t in opens(later)] == [AlertKey(WATER, WHOLE_DEVICE, "flag")]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        pytest.param("range_upper", [("day_avg", "exceedance", 1.1666667)], id="t-enters-the-mean-as-full-scale"),
        pytest.param("exclude", [], id="excluded-t-makes-its-hour-abnormal-and-invalid"),
    ],
)
def test_over_range_values_in_the_daily_mean(setting: str, expected: list[tuple[str, str, float]]) -> None:
    reg = dataclasses.replace(registry("day"), ranges={(WATER, "w20117"): (0.0, 2.0)})
    engine = Engine(reg, policy(f"[averages]\ngrace_seconds = 0\n[judging]\nearly_daily_exceedance = false\n"
                                f"over_range_in_averages = \"{setting}\""))
    # One T reading at 0.3 (true value at least 2.0) and five normal readings of 1.0: (2 + 5) / 6.
    rows = [(m * 600.0, WATER, "w20117", 0.3 if m == 0 else 1.0, "T" if m == 0 else "N") for m in range(6)]
    engine.evaluate(batch(rows), at(3000))
    out = [t for t in engine.tick(at(0).replace(hour=16)) if t.key.rule == "day_avg"]
    assert [(t.key.rule, t.severity, pytest.approx(t.value)) for t in out] == expected


def test_the_book_counts_the_values_it_is_told_are_valid() -> None:
    book = AverageBook(np.array([KIND_WATER], dtype=np.int8), np.array([1]), AveragesPolicy(grace_seconds=0))
    flags = np.array([ord("T"), *[ord("N")] * 5], dtype=np.uint8)
    values = np.array([2.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    book.add(np.zeros(6, dtype=np.int64), at(0).timestamp() + np.arange(6) * 600.0, values, flags,
             np.zeros(6, dtype=bool), (flags == ord("N")) | (flags == ord("T")))
    [hour] = [p for p in book.close_due(at(3600).timestamp()) if p.period == "hour"]
    assert (bool(hour.valid[0]), float(hour.average[0]), hour.flag[0]) == (True, 0.75, "T")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(2.5, ["open:implausible:fault"], id="above-the-range"),
        pytest.param(-0.5, ["open:implausible:fault"], id="below-the-range"),
        pytest.param(1.5, [], id="inside-the-range"),
    ],
)
def test_normal_values_outside_the_measuring_range_are_implausible(value: float, expected: list[str]) -> None:
    reg = dataclasses.replace(registry(), limits=[], ranges={(WATER, "w20117"): (0.0, 2.0)})
    engine = Engine(reg, policy("[rules.negative]\nhold_seconds = 999"))
    out = feed(engine, [(0, value), (30, value), (60, value)])
    assert [k for k in kinds(out) if "implausible" in k or not k.startswith("open:negative")] == expected


def test_one_device_fault_alert_lists_every_pollutant_in_calibration() -> None:
    engine = Engine(registry(), policy())
    rows = [(float(s), WATER, code, 0.0, "C") for s in (0, 60, 120) for code in ("w20117", "w01001", "w00000")]
    out = engine.evaluate(batch(rows), at(120))
    [opened] = opens(out)
    assert opened.key == AlertKey(WATER, WHOLE_DEVICE, "flag")
    assert opened.detail["flags"] == {"w00000": "C", "w01001": "C", "w20117": "C"}


def test_the_device_fault_clears_once_every_pollutant_is_normal_again() -> None:
    engine = Engine(registry(), policy("[rules.flag]\nhold_seconds = 0\nclear_hold_seconds = 0"))
    opened = engine.evaluate(batch([(0.0, WATER, "w20117", 0.5, "M"), (0.0, WATER, "w01001", 7.0, "M")]), at(0))
    assert kinds(opened) == ["open:flag:fault"]
    assert "clear:flag:fault" not in kinds(engine.evaluate(batch([(60.0, WATER, "w20117", 0.5, "N")]), at(60)))
    out = engine.evaluate(batch([(120.0, WATER, "w01001", 7.0, "N")]), at(120))
    assert kinds(out) == ["clear:flag:fault"]


@pytest.mark.parametrize(
    ("flag", "seconds", "expected"),
    [
        pytest.param("S", 3600, ["open:manual:fault"], id="an-hour-of-manual-data-raises-a-device-alert"),
        pytest.param("S", 1800, [], id="half-an-hour-is-within-the-hold"),
        pytest.param("P", 120, ["open:flag:fault"], id="legacy-p-is-abnormal-with-its-raw-letter"),
    ],
)
def test_manual_and_unknown_flags(flag: str, seconds: int, expected: list[str]) -> None:
    engine = Engine(registry(), policy())
    out = feed(engine, [(float(s), 0.5) for s in range(0, seconds + 1, 60)], flag=flag)
    assert kinds(out) == expected
    for t in opens(out):
        assert t.key.pollutant == WHOLE_DEVICE and t.detail["flags"] == {"w20117": flag}


def test_a_snapshot_with_per_pollutant_flag_alerts_clears_them_for_the_device_alert() -> None:
    engine = Engine(registry(), policy())
    snap = engine.snapshot()
    old = {"status": "firing", "since": at(0).timestamp(), "samples": 3, "tier": 1, "value": None,
           "last_time": at(0).timestamp(), "detail": {"flag": "C"}, "sign": 0}
    snap["keys"] = {f"{WATER}|w20117|flag": old}
    restored = Engine.restore(registry(), policy(), json.loads(json.dumps(snap)))
    out = restored.evaluate(batch([(10.0, CEMS, "a34013", 1.0, "N")]), at(10))
    assert [(t.kind, t.key) for t in out] == [("clear", AlertKey(WATER, "w20117", "flag"))]


def test_gas_alarms_sound_at_the_set_point_in_the_engine() -> None:
    engine = Engine(registry(), policy())
    assert kinds(feed(engine, [(0, 6.6)], GAS, "s02001")) == ["open:gas:level1"]


def test_judged_values_carry_no_float_artefact() -> None:
    reg = dataclasses.replace(registry(), limits=[limit(WATER, "w20117", upper=0.1, severe_multiple=3.0, limit_id=5)])
    engine = Engine(reg, policy("[rules.instant]\nhold_samples = 1"))
    [opened] = opens(feed(engine, [(0, 0.1 * 3)]))
    assert (opened.severity, opened.value, repr(opened.value)) == ("severe", 0.3, "0.3")


def test_the_day_of_cd_at_exactly_the_limit_raises_nothing() -> None:
    reg = dataclasses.replace(registry(), limits=[limit(WATER, "w20117", upper=0.01, severe_multiple=3.0, basis="day")])
    engine = Engine(reg, policy("[averages]\ngrace_seconds = 0"))
    day_start = at(0).replace(hour=0) - timedelta(hours=8) + timedelta(days=1)  # 00:00 CST next day
    offset = (day_start - at(0)).total_seconds()
    rows = [(offset + h * 3600.0 + m * 600.0, WATER, "w20117", 0.01, "N") for h in range(24) for m in range(6)]
    engine.evaluate(batch(rows), at(offset + 86000))
    out = engine.tick(at(offset + 86400))
    assert [t for t in out if t.key.rule in ("day_avg", "hour_avg", "instant")] == []


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        # (1*1 + 3*3) / (1 + 3) = 2.5 > 2.2; the arithmetic mean 2.0 is not.
        pytest.param("true", [("open", 2.5)], id="flow-weighted-daily-mean-exceeds"),
        pytest.param("false", [], id="arithmetic-daily-mean-does-not"),
    ],
)
def test_wastewater_means_are_weighted_by_the_outfall_flow(setting: str, expected: list[tuple[str, float]]) -> None:
    reg = dataclasses.replace(registry(), limits=[limit(WATER, "w20117", upper=2.2, basis="day")])
    engine = Engine(reg, policy(f"[averages]\ngrace_seconds = 0\nflow_weighted = {setting}\n"
                                "[judging]\nearly_daily_exceedance = false"))
    engine.evaluate(batch([(0.0, WATER, "w00000", 1.0, "N"), (0.0, WATER, "w20117", 1.0, "N")]), at(0))
    engine.evaluate(batch([(600.0, WATER, "w00000", 3.0, "N"), (600.0, WATER, "w20117", 3.0, "N")]), at(600))
    out = [t for t in engine.tick(at(0).replace(hour=16)) if t.key.rule == "day_avg"]
    assert [(t.kind, pytest.approx(t.value)) for t in out] == expected


def test_the_flow_of_an_earlier_batch_weighs_later_readings() -> None:
    reg = dataclasses.replace(registry(), limits=[limit(WATER, "w20117", upper=2.2, basis="day")])
    engine = Engine(reg, policy("[averages]\ngrace_seconds = 0\n[judging]\nearly_daily_exceedance = false"))
    engine.evaluate(batch([(0.0, WATER, "w00000", 1.0, "N"), (0.0, WATER, "w20117", 1.0, "N")]), at(0))
    engine.evaluate(batch([(300.0, WATER, "w00000", 3.0, "N")]), at(300))
    engine.evaluate(batch([(600.0, WATER, "w20117", 3.0, "N")]), at(600))
    [opened] = [t for t in engine.tick(at(0).replace(hour=16)) if t.key.rule == "day_avg"]
    assert opened.value == pytest.approx(2.5)


def test_a_flag_and_its_return_to_normal_in_one_batch_leave_no_device_fault() -> None:
    engine = Engine(registry(), policy("[rules.flag]\nhold_seconds = 0\nclear_hold_seconds = 0"))
    out = engine.evaluate(batch([(0.0, WATER, "w20117", 0.5, "M"), (1.0, WATER, "w20117", 0.5, "N")]), at(1))
    assert kinds(out) == ["open:flag:fault", "clear:flag:fault"]
    assert kinds(engine.evaluate(batch([(2.0, WATER, "w20117", 0.5, "N")]), at(2))) == []


def test_a_restored_engine_keeps_each_pollutants_flag_and_the_device_hold() -> None:
    engine = Engine(registry(), policy())
    engine.evaluate(batch([(0.0, WATER, "w20117", 0.5, "C"), (0.0, WATER, "w01001", 7.0, "C")]), at(0))
    restored = Engine.restore(registry(), policy(), json.loads(json.dumps(engine.snapshot())))
    out = restored.evaluate(batch([(120.0, WATER, "w00000", 3.0, "N")]), at(120))
    out += restored.tick(at(121))
    [opened] = opens(out)
    assert opened.detail["flags"] == {"w01001": "C", "w20117": "C"}
