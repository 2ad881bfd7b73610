"""The alert engine: hold, hysteresis, tiers, flapping, flags, device rules, timers, snapshots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from alerts.model import AlertKey, DeviceSpec, LimitSpec, Transition
from alerts.rules.engine import Engine
from alerts.rules.policy import Policy, load_policy
from alerts.rules.registry import EngineRegistry, from_registry
from benchmarks.engine_rate import EXAMPLE, cloned_registry, make_batches
from envmon.columns import BASES, ReadingColumns
from envmon.registry.load import load_registry_file

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ALWAYS = datetime(2000, 1, 1, tzinfo=UTC)
WATER, GAS, CEMS = 1, 2, 3


def device(device_id: int, kind: str, pollutants: tuple[str, ...], interval: int = 60) -> DeviceSpec:
    """A device of the test district."""
    return DeviceSpec(device_id, f"MN{device_id:03d}", "S1", "站", "Site", "fx", "electroplating", kind,  # type: ignore[arg-type]
                      "排口", "Outfall", pollutants, interval)


def limit(device_id: int, pollutant: str, *, upper: float | None = None, lower: float | None = None,
          scheme: str = "discharge", basis: str = "instant", warning_ratio: float | None = None,
          severe_multiple: float | None = None, level2_upper: float | None = None, limit_id: int = 1,
          scope: str = "device", valid_from: datetime = ALWAYS, valid_to: datetime | None = None) -> LimitSpec:
    """A limit on one device."""
    direction = "range" if upper is not None and lower is not None else "upper" if upper is not None else "lower"
    return LimitSpec(limit_id=limit_id, scheme=scheme, basis=basis, direction=direction,  # type: ignore[arg-type]
                     lower=lower, upper=upper, warning_ratio=warning_ratio, severe_multiple=severe_multiple,
                     level2_lower=None, level2_upper=level2_upper, unit="mg/L", source="test", valid_from=valid_from,
                     valid_to=valid_to, device_id=device_id, pollutant=pollutant, scope=scope)  # type: ignore[arg-type]


def registry(water_basis: str = "instant") -> EngineRegistry:
    """A wastewater analyser (Cr(VI), pH, flow), a gas detector (H2S, O2) and a stack monitor (dust).

    The Cr(VI) and pH limits apply to instantaneous values unless `water_basis` says otherwise ("day": the
    instantaneous check is then only a pre-warning)."""
    return EngineRegistry(
        {WATER: device(WATER, "water_analyser", ("w20117", "w01001", "w00000")),
         GAS: device(GAS, "gas_detector", ("s02001", "s03001"), interval=1),
         CEMS: device(CEMS, "cems", ("a34013", "a00000"))},
        [limit(WATER, "w20117", upper=1.0, warning_ratio=0.8, severe_multiple=3.0, basis=water_basis, limit_id=11),
         limit(WATER, "w01001", lower=6.0, upper=9.0, basis=water_basis, limit_id=12),
         limit(GAS, "s02001", upper=6.6, level2_upper=13.2, scheme="gas_alarm", limit_id=21),
         limit(GAS, "s03001", lower=19.5, upper=23.5, scheme="gas_alarm", limit_id=22),
         limit(CEMS, "a34013", upper=30.0, warning_ratio=0.8, basis="hour", limit_id=31)],
    )


Row = tuple[float, int, str, float, str]  # (seconds after T0, device, pollutant, value, flag)


def batch(rows: Sequence[Row], basis: int = 0, received_offset_s: float | None = None) -> ReadingColumns:
    """A batch from (offset_s, device, pollutant, value, flag) rows, each received at its own time unless
    `received_offset_s` says when."""
    return ReadingColumns.from_rows(
        (at(r[0]), r[1], r[2], BASES[basis], r[3], r[4], n, at(r[0] if received_offset_s is None else received_offset_s))
        for n, r in enumerate(rows))


def at(offset_s: float) -> datetime:
    return T0 + timedelta(seconds=offset_s)


def feed(engine: Engine, series: Sequence[tuple[float, float]], dev: int = WATER, code: str = "w20117",
         flag: str = "N") -> list[Transition]:
    """One reading per batch, as ingest would hand them over one message at a time."""
    out: list[Transition] = []
    for offset, value in series:
        out += engine.evaluate(batch([(offset, dev, code, value, flag)]), at(offset))
    return out


def kinds(transitions: Sequence[Transition]) -> list[str]:
    return [f"{t.kind}:{t.key.rule}:{t.severity}" for t in transitions]


def policy(text: str = "") -> Policy:
    return load_policy(text)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([1.5, 1.5], [], id="two-samples-do-not-open"),
        pytest.param([1.5, 1.5, 1.5], ["open:instant:exceedance"], id="third-consecutive-sample-opens"),
        pytest.param([1.5, 0.1, 1.5, 1.5], [], id="a-normal-sample-resets-the-hold"),
        pytest.param([0.85, 0.85, 0.85], ["open:instant:warning"], id="warning-line-at-0.8-of-limit"),
        pytest.param([3.5, 3.5, 3.5], ["open:instant:severe"], id="severe-above-3x-limit"),
        pytest.param([1.0, 1.0, 1.0], ["open:instant:warning"], id="exactly-the-limit-is-not-an-exceedance"),
    ],
)
def test_instant_exceedance_opens_after_hold_samples(values: list[float], expected: list[str]) -> None:
    engine = Engine(registry(), policy())
    assert kinds(feed(engine, [(i * 10.0, v) for i, v in enumerate(values)])) == expected


def test_open_carries_limit_first_breach_and_peak() -> None:
    engine = Engine(registry(), policy())
    out = feed(engine, [(0, 1.2), (10, 1.6), (20, 1.4)])
    (opened,) = out
    assert opened.key == AlertKey(WATER, "w20117", "instant")
    assert (opened.category, opened.limit_value, opened.limit_id) == ("pollution", 1.0, 11)
    assert opened.first_breach_at == at(0) and opened.time == at(20)
    assert (opened.value, opened.peak_value, opened.peak_at) == (1.4, 1.6, at(10))


def test_hold_seconds_matures_on_tick_without_new_data() -> None:
    engine = Engine(registry(), policy("[rules.gas]\nhold_seconds = 2"))
    assert feed(engine, [(0, 8.0), (1, 8.0)], GAS, "s02001") == []
    assert kinds(engine.tick(at(1.5))) == []
    assert kinds(engine.tick(at(2.0))) == ["open:gas:level1"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([7.0], ["open:gas:level1"], id="level1-at-once"),
        pytest.param([6.6], ["open:gas:level1"], id="alarm-sounds-at-the-set-point"),
        pytest.param([6.5], [], id="below-set-point"),
        pytest.param([14.0], ["open:gas:level2"], id="level2"),
        pytest.param([7.0, 14.0], ["open:gas:level1", "severity:gas:level2"], id="level1-then-level2"),
    ],
)
def test_gas_two_level_alarm(values: list[float], expected: list[str]) -> None:
    engine = Engine(registry(), policy())
    assert kinds(feed(engine, [(i, v) for i, v in enumerate(values)], GAS, "s02001")) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(19.0, ["open:gas:level1"], id="oxygen-low"),
        pytest.param(24.0, ["open:gas:level1"], id="oxygen-high"),
        pytest.param(20.9, [], id="oxygen-normal"),
    ],
)
def test_oxygen_range_alarms_low_and_high(value: float, expected: list[str]) -> None:
    engine = Engine(registry(), policy())
    assert kinds(feed(engine, [(0, value)], GAS, "s03001")) == expected


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        pytest.param([0.95], [], id="below-limit-but-above-clear-threshold-stays"),
        pytest.param([0.85], ["clear:instant:exceedance"], id="below-0.9-of-lowest-tier-clears"),
        pytest.param([0.85, 0.95], ["clear:instant:exceedance"], id="clears-once"),
    ],
)
def test_hysteresis_clear_threshold(after: list[float], expected: list[str]) -> None:
    # Without a warning line the lowest tier is the limit itself: clear below 0.9.
    reg = registry()
    reg.limits[0] = limit(WATER, "w20117", upper=1.0, basis="instant", limit_id=11)
    engine = Engine(reg, policy("[rules.instant]\nclear_hold_seconds = 0"))
    feed(engine, [(0, 1.5), (10, 1.5), (20, 1.5)])
    assert kinds(feed(engine, [(30 + 10 * i, v) for i, v in enumerate(after)])) == expected


def test_clear_waits_for_clear_hold_seconds_and_matures_on_tick() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nclear_hold_seconds = 60"))
    feed(engine, [(0, 1.5), (10, 1.5), (20, 1.5)])
    assert feed(engine, [(30, 0.1), (60, 0.1)]) == []
    assert kinds(engine.tick(at(89))) == []
    assert kinds(engine.tick(at(90))) == ["clear:instant:exceedance"]


def test_a_breach_during_clear_hold_restarts_it() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nclear_hold_seconds = 60"))
    feed(engine, [(0, 1.5), (10, 1.5), (20, 1.5), (30, 0.1), (50, 1.5), (60, 0.1)])
    assert kinds(engine.tick(at(100))) == []
    assert kinds(engine.tick(at(120))) == ["clear:instant:exceedance"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([1.5, 3.5], ["severity:instant:severe"], id="up-at-once"),
        pytest.param([3.5, 1.5], ["severity:instant:exceedance"], id="down-after-clear-hold-0"),
        pytest.param([1.5, 2.9], ["update:instant:exceedance"], id="peak-rise-is-an-update"),
        pytest.param([1.5, 1.2], [], id="falling-within-the-tier-says-nothing"),
    ],
)
def test_severity_moves_while_firing(values: list[float], expected: list[str]) -> None:
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 1\nclear_hold_seconds = 0"))
    feed(engine, [(0, values[0])])
    assert kinds(feed(engine, [(10, values[1])])) == expected


def test_severity_down_respects_hysteresis() -> None:
    # Severe above 3.0; once severe it stays severe down to 0.9 x 3.0 = 2.7.
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 1\nclear_hold_seconds = 0"))
    feed(engine, [(0, 3.5)])
    assert kinds(feed(engine, [(10, 2.8)])) == []
    assert kinds(feed(engine, [(20, 2.6)])) == ["severity:instant:exceedance"]


def test_at_most_one_update_per_key_per_batch() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 1"))
    feed(engine, [(0, 1.2)])
    out = engine.evaluate(batch([(10, WATER, "w20117", 1.3, "N"), (20, WATER, "w20117", 1.4, "N"),
                                 (30, WATER, "w20117", 1.5, "N")]), at(30))
    assert kinds(out) == ["update:instant:exceedance"]
    assert (out[0].peak_value, out[0].peak_at) == (1.5, at(30))


def test_flapping_key_stays_firing_until_calm_for_the_window() -> None:
    engine = Engine(registry(), policy("[rules.gas]\nclear_hold_seconds = 0\nflap_opens = 3\nflap_window_seconds = 900"))
    out = feed(engine, [(0, 8.0), (10, 1.0), (20, 8.0), (30, 1.0), (40, 8.0), (50, 1.0), (60, 8.0), (70, 1.0)],
               GAS, "s02001")
    assert kinds(out) == ["open:gas:level1", "clear:gas:level1", "open:gas:level1", "clear:gas:level1",
                          "open:gas:level1"]
    assert out[-1].detail["flapping"] is True
    # The last breach was at 60 s: calm from 70 s, so it clears at 70 + 900 s.
    assert [t for t in engine.tick(at(969)) if t.key.rule == "gas"] == []
    assert kinds([t for t in engine.tick(at(970)) if t.key.rule == "gas"]) == ["clear:gas:level1"]


def test_flapping_at_1hz_for_ten_minutes_opens_at_most_flap_opens_times() -> None:
    engine = Engine(registry(), policy("[rules.gas]\nclear_hold_seconds = 0"))
    out = feed(engine, [(float(i), 8.0 if i % 2 == 0 else 1.0) for i in range(600)], GAS, "s02001")
    assert sum(t.kind == "open" for t in out) == 3


@pytest.mark.parametrize(
    ("flag", "expected_now", "expected_later"),
    [
        pytest.param("M", [], ["open:flag:fault"], id="maintenance-raises-a-device-alert-not-pollution"),
        pytest.param("D", [], ["open:flag:fault"], id="fault-flag"),
        pytest.param("P", [], ["open:flag:fault"], id="legacy-power-failure-flag-is-abnormal"),
        pytest.param("S", [], [], id="manually-set-value-raises-nothing-within-the-manual-hold"),
    ],
)
def test_flagged_readings_never_raise_pollution_alerts(flag: str, expected_now: list[str],
                                                       expected_later: list[str]) -> None:
    engine = Engine(registry(), policy())
    assert kinds(feed(engine, [(0, 5.0), (60, 5.0), (119, 5.0)], flag=flag)) == expected_now
    assert kinds(feed(engine, [(120, 5.0)], flag=flag)) == expected_later


def test_flag_alert_clears_when_normal_data_returns() -> None:
    engine = Engine(registry(), policy("[rules.flag]\nhold_seconds = 0\nclear_hold_seconds = 0"))
    assert kinds(feed(engine, [(0, 0.1)], flag="C")) == ["open:flag:fault"]
    assert kinds(feed(engine, [(10, 0.1)])) == ["clear:flag:fault"]


def test_flagged_readings_do_not_clear_a_pollution_alert() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 1\nclear_hold_seconds = 0"))
    feed(engine, [(0, 1.5)])
    assert kinds(feed(engine, [(10, 0.1)], flag="M")) == []
    assert kinds(feed(engine, [(20, 0.1)])) == ["clear:instant:exceedance"]


@pytest.mark.parametrize(
    ("ph", "expected"),
    [
        pytest.param(5.5, ["open:instant:exceedance"], id="below-range"),
        pytest.param(9.5, ["open:instant:exceedance"], id="above-range"),
        pytest.param(7.5, [], id="inside-range"),
    ],
)
def test_ph_range_limit(ph: float, expected: list[str]) -> None:
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 1"))
    assert kinds(feed(engine, [(0, ph)], code="w01001")) == expected


def test_low_ph_clears_only_above_lower_over_clear_ratio() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 1\nclear_hold_seconds = 0"))
    out = feed(engine, [(0, 5.5), (10, 6.5), (20, 6.7)], code="w01001")
    assert kinds(out) == ["open:instant:exceedance", "clear:instant:exceedance"]
    assert out[-1].time == at(20)


def test_silent_device_opens_on_tick_and_clears_when_data_arrives() -> None:
    engine = Engine(registry(), policy())
    feed(engine, [(0, 0.1)])
    # WATER reports every 60 s: 3 intervals = 180 s < 10 min, so the window is 600 s.
    silent = [t for t in engine.tick(at(600)) if t.key.device_id == WATER]
    assert silent == []
    opened = [t for t in engine.tick(at(601)) if t.key.device_id == WATER]
    assert kinds(opened) == ["open:silent:fault"] and opened[0].key.pollutant == "*"
    assert kinds(feed(engine, [(700, 0.1)])) == ["clear:silent:fault"]


def test_a_device_never_heard_from_is_silent_after_the_window_from_start() -> None:
    engine = Engine(registry(), policy())
    assert engine.tick(at(0)) == []
    opened = engine.tick(at(601))
    assert {t.key.device_id for t in opened} == {WATER, GAS, CEMS}


def test_zero_concentration_while_flow_runs() -> None:
    engine = Engine(registry(), policy("[rules.zero_flow]\nhold_seconds = 0\nhold_samples = 2\nclear_hold_seconds = 0"))
    rows = [(0, WATER, "w00000", 5.0, "N"), (0, WATER, "w20117", 0.0, "N")]
    assert engine.evaluate(batch(rows), at(0)) == []
    rows = [(60, WATER, "w00000", 5.0, "N"), (60, WATER, "w20117", 0.0, "N")]
    assert kinds(engine.evaluate(batch(rows), at(60))) == ["open:zero_flow:fault"]
    assert kinds(engine.evaluate(batch([(120, WATER, "w20117", 0.02, "N")]), at(120))) == ["clear:zero_flow:fault"]


def test_zero_concentration_without_flow_is_normal() -> None:
    engine = Engine(registry(), policy("[rules.zero_flow]\nhold_seconds = 0\nhold_samples = 1"))
    rows = [(0, WATER, "w00000", 0.0, "N"), (0, WATER, "w20117", 0.0, "N")]
    assert engine.evaluate(batch(rows), at(0)) == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([0.3] * 4, [], id="four-equal-is-not-stuck"),
        pytest.param([0.3] * 5, ["open:constant:fault"], id="five-equal-is-stuck"),
        pytest.param([0.3, 0.3, 0.31, 0.3, 0.3, 0.3], [], id="a-change-restarts-the-count"),
        pytest.param([0.3] * 5 + [0.31], ["open:constant:fault", "clear:constant:fault"], id="change-clears"),
    ],
)
def test_constant_value_over_n_samples(values: list[float], expected: list[str]) -> None:
    engine = Engine(registry(), policy("[constant]\nsamples = 5"))
    assert kinds(feed(engine, [(i * 60.0, v) for i, v in enumerate(values)])) == expected


def test_constant_counts_across_batches_in_one_batch_too() -> None:
    engine = Engine(registry(), policy("[constant]\nsamples = 5"))
    feed(engine, [(0, 0.3), (60, 0.3)])
    rows = [(120 + 60 * i, WATER, "w20117", 0.3, "N") for i in range(3)]
    assert kinds(engine.evaluate(batch(rows), at(240))) == ["open:constant:fault"]


def test_negative_concentration() -> None:
    engine = Engine(registry(), policy("[rules.negative]\nhold_seconds = 0\nhold_samples = 1"))
    out = feed(engine, [(0, -0.2)])
    assert kinds(out) == ["open:negative:fault"]


def test_negative_within_tolerance_is_normal() -> None:
    engine = Engine(registry(), policy("[rules.negative]\nhold_samples = 1\nhold_seconds = 0\n[negative]\ntolerance = 0.05"))
    assert feed(engine, [(0, -0.02)]) == []


def test_sequence_gap_opens_and_clears_after_quiet() -> None:
    engine = Engine(registry(), policy("[seq_gap]\nquiet_seconds = 600"))
    out = engine.observe_gap(WATER, 10, 14, at(0))
    assert kinds(out) == ["open:seq_gap:fault"] and out[0].detail["missing"] == 5
    again = engine.observe_gap(WATER, 20, 20, at(100))
    assert kinds(again) == ["update:seq_gap:fault"] and again[0].detail["missing"] == 6
    assert [t.key.rule for t in engine.tick(at(699)) if t.key.rule == "seq_gap"] == []
    assert [t.kind for t in engine.tick(at(700)) if t.key.rule == "seq_gap"] == ["clear"]


def test_a_reading_seen_twice_changes_nothing() -> None:
    engine = Engine(registry(), policy("[constant]\nsamples = 3"))
    rows = [(0, WATER, "w20117", 1.5, "N"), (10, WATER, "w20117", 1.5, "N")]
    first = engine.evaluate(batch(rows + rows), at(10))
    assert first == []  # duplicates in one batch: two samples, not four
    assert engine.evaluate(batch(rows), at(11)) == []  # redelivered later
    assert sorted(kinds(engine.evaluate(batch([(20, WATER, "w20117", 1.5, "N")]), at(20)))) == [
        "open:constant:fault", "open:instant:exceedance"]


@pytest.mark.parametrize(
    ("basis", "expected"),
    [
        pytest.param(1, ["open:instant:exceedance"], id="minute-values-are-watched-like-instants"),
        pytest.param(2, [], id="device-hourly-averages-are-not-rules-input"),
        pytest.param(3, [], id="device-daily-averages-are-not-rules-input"),
    ],
)
def test_which_bases_feed_the_instantaneous_rules(basis: int, expected: list[str]) -> None:
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 1"))
    assert kinds(engine.evaluate(batch([(0, WATER, "w20117", 1.5, "N")], basis=basis), at(0))) == expected


def test_the_benchmark_district_clones_devices_with_their_limits() -> None:
    reg = cloned_registry(416)  # the example district twice
    assert len(reg.devices) == 416 and len(reg.limits) == 2 * len(from_registry(load_registry_file(EXAMPLE)).limits)
    (first,) = make_batches(reg, 1500)
    assert len(first) == 1500 and set(first.device_id.tolist()) <= set(reg.devices)


def test_unknown_devices_and_codes_are_ignored() -> None:
    engine = Engine(registry(), policy())
    rows = [(0, 99, "w20117", 9.0, "N"), (0, WATER, "w20111", 9.0, "N")]
    assert engine.evaluate(batch(rows), at(0)) == []


@pytest.mark.parametrize("through_json", [pytest.param(True, id="via-json"), pytest.param(False, id="as-dict")])
def test_snapshot_round_trip_mid_hold_continues_the_timer(through_json: bool) -> None:
    engine = Engine(registry(), policy())
    feed(engine, [(0, 1.5), (10, 1.5)])
    snap = engine.snapshot()
    if through_json:
        snap = json.loads(json.dumps(snap))
    restored = Engine.restore(registry(), policy(), snap)
    out = feed(restored, [(20, 1.5)])
    assert kinds(out) == ["open:instant:exceedance"] and out[0].first_breach_at == at(0)


def test_snapshot_round_trip_keeps_firing_conditions_and_clear_timers() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nclear_hold_seconds = 60"))
    feed(engine, [(0, 1.5), (10, 1.5), (20, 1.5), (30, 0.1)])
    restored = Engine.restore(registry(), policy("[rules.instant]\nclear_hold_seconds = 60"),
                              json.loads(json.dumps(engine.snapshot())))
    assert feed(restored, [(20, 1.5)]) == []  # already seen before the restart
    assert kinds(restored.tick(at(90))) == ["clear:instant:exceedance"]


def test_snapshot_round_trip_keeps_silence_and_constant_counts() -> None:
    engine = Engine(registry(), policy("[constant]\nsamples = 3"))
    feed(engine, [(0, 0.3), (60, 0.3)])
    restored = Engine.restore(registry(), policy("[constant]\nsamples = 3"), json.loads(json.dumps(engine.snapshot())))
    assert kinds(feed(restored, [(120, 0.3)])) == ["open:constant:fault"]
    assert WATER not in {t.key.device_id for t in restored.tick(at(600))}


def test_registry_reload_keeps_state_and_uses_new_limits() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 3"))
    feed(engine, [(0, 0.9), (10, 0.9)])  # warning line 0.8: pending, two samples held
    reg = registry()
    reg.limits[0] = limit(WATER, "w20117", upper=0.5, basis="instant", limit_id=99)
    engine.set_registry(reg)
    out = feed(engine, [(20, 0.9)])
    assert kinds(out) == ["open:instant:exceedance"] and out[0].limit_id == 99


def test_day_average_closes_after_grace_on_china_standard_time_days() -> None:
    engine = Engine(registry("day"), policy("[averages]\ngrace_seconds = 60\n[judging]\nearly_daily_exceedance = false"))
    # 2026-03-02 CST runs from 03-01 16:00 UTC to 03-02 16:00 UTC; T0 is 03-02 01:00 UTC.
    day_end = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    rows = [((h * 3600.0) + m * 600.0, WATER, "w20117", 0.7, "N") for h in range(15) for m in range(6)]
    engine.evaluate(batch(rows), at(15 * 3600))
    assert [t for t in engine.tick(day_end + timedelta(seconds=59)) if t.key.rule == "day_avg"] == []
    out = [t for t in engine.tick(day_end + timedelta(seconds=60)) if t.key.rule == "day_avg"]
    assert kinds(out) == []  # 0.7 is below the warning line of 0.8
    rows = [((h * 3600.0) + 86400 + m * 600.0, WATER, "w20117", 1.2, "N") for h in range(15) for m in range(6)]
    engine.evaluate(batch(rows), at(86400 + 15 * 3600))
    out = [t for t in engine.tick(day_end + timedelta(days=1, seconds=60)) if t.key.rule == "day_avg"]
    assert kinds(out) == ["open:day_avg:exceedance"]
    assert out[0].value == pytest.approx(1.2) and out[0].detail["valid_count"] == 15


def test_hour_average_needs_45_valid_minutes_for_flue_gas() -> None:
    engine = Engine(registry(), policy("[averages]\ngrace_seconds = 0"))
    rows = [(m * 60.0, CEMS, "a34013", 40.0, "N") for m in range(44)]
    engine.evaluate(batch(rows), at(44 * 60))
    assert [t for t in engine.tick(at(3600)) if t.key.rule == "hour_avg"] == []
    rows = [(3600 + m * 60.0, CEMS, "a34013", 40.0, "N") for m in range(45)]
    engine.evaluate(batch(rows), at(3600 + 45 * 60))
    out = [t for t in engine.tick(at(7200)) if t.key.rule == "hour_avg"]
    assert kinds(out) == ["open:hour_avg:exceedance"] and out[0].detail["valid_count"] == 45


def test_transitions_come_back_in_time_order() -> None:
    engine = Engine(registry(), policy("[rules.instant]\nhold_samples = 1"))
    rows = [(5, GAS, "s02001", 8.0, "N"), (1, WATER, "w20117", 1.5, "N")]
    out = engine.evaluate(batch(rows), at(5))
    assert [t.time for t in out] == [at(1), at(5)]


def test_a_restart_long_after_the_snapshot_gives_every_device_a_fresh_silence_window() -> None:
    engine = Engine(registry(), policy())
    feed(engine, [(0, 0.1)])
    restored = Engine.restore(registry(), policy(), json.loads(json.dumps(engine.snapshot())))
    assert restored.tick(at(3600)) == [], "no storm of silent alerts for the time the engine was away"
    opened = restored.tick(at(3600 + 601))
    assert {t.key.rule for t in opened} == {"silent"} and WATER in {t.key.device_id for t in opened}
