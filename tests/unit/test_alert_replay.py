"""`envmon replay`: the engine, lifecycle and planner over a CSV in simulated time, with no services."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.replay import Replay
from alerts.rules.policy import load_policy
from envmon.registry.load import parse_registry
from tests.alert_helpers import ALERT_REGISTRY, GAS, INSPECTOR_PHONE, LEADER_PHONE, SAFETY_PHONE, WATER

START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")


def registry(repeat_seconds: int = 600) -> str:
    return ALERT_REGISTRY.replace("repeat_interval_seconds = 600", f"repeat_interval_seconds = {repeat_seconds}")


def csv_of(rows: list[tuple[int, str, str, float, str]]) -> io.StringIO:
    lines = ["time,device,pollutant,value,flag"]
    lines += [f"{(START + timedelta(seconds=s)).isoformat()},{d},{p},{v},{f}" for s, d, p, v, f in rows]
    return io.StringIO("\n".join(lines) + "\n")


def replay(rows: list[tuple[int, str, str, float, str]], *, repeat_seconds: int = 600) -> list[dict[str, object]]:
    engine = Replay(parse_registry(registry(repeat_seconds)), load_policy(""), zone=ZONE)
    return list(engine.run(csv_of(rows)))


def test_a_gas_alarm_opens_and_texts_the_safety_officer() -> None:
    lines = replay([(0, GAS, "s02001", 2.0, "N"), (1, GAS, "s02001", 20.0, "N")])
    [transition] = [line for line in lines if line["kind"] == "transition"]
    assert {k: transition[k] for k in ("device", "pollutant", "rule", "level", "state", "value", "limit")} == {
        "device": GAS, "pollutant": "s02001", "rule": "gas", "level": "level2", "state": "open", "value": 20.0,
        "limit": 13.2,
    }
    [sms] = [line for line in lines if line["kind"] == "notification"]
    assert sms["recipient"] == "safety-b" and sms["phone"] == SAFETY_PHONE and sms["reason"] == "new"
    assert str(transition["alert"]) in str(sms["body"])


def test_values_in_ug_per_litre_are_compared_in_mg_per_litre() -> None:
    # Cr(VI) travels in µg/L: 95 µg/L is below the 0.1 mg/L limit but above its 0.08 warning line.
    rows = [(s, WATER, "w20117", 95.0, "N") for s in range(0, 90, 30)]
    [transition] = [line for line in replay(rows) if line["kind"] == "transition"]
    assert (transition["level"], transition["value"], transition["unit"]) == ("warning", 0.095, "mg/L")


def test_an_unacknowledged_exceedance_escalates_after_the_step_delay() -> None:
    rows = [(s, WATER, "w20117", 450.0, "N") for s in range(0, 10)]
    sms = [line for line in replay(rows) if line["kind"] == "notification"]
    assert [(m["phone"], m["reason"]) for m in sms] == [(INSPECTOR_PHONE, "new"), (LEADER_PHONE, "escalation")]


@pytest.mark.parametrize("repeat_seconds", [60, 120, 300])
@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param(lambda s: 7.0 if s % 2 else 6.0, id="gas-every-second"),
        pytest.param(lambda s: 9.0 if (s // 30) % 2 else 1.0, id="gas-30s-blocks"),
    ],
)
def test_a_sensor_flapping_at_1_hz_for_10_minutes_sends_at_most_one_plus_600_over_repeat(
    repeat_seconds: int, pattern: object
) -> None:
    values = pattern  # type: ignore[assignment]
    rows = [(s, GAS, "s02001", values(s), "N") for s in range(600)]  # type: ignore[operator]
    sms = [line for line in replay(rows, repeat_seconds=repeat_seconds) if line["kind"] == "notification"]
    per_phone: dict[object, int] = {}
    for m in sms:
        per_phone[m["phone"]] = per_phone.get(m["phone"], 0) + 1
    assert sms, "the flapping sensor raised an alarm"
    assert max(per_phone.values()) <= 1 + 600 // repeat_seconds


def test_flagged_readings_raise_no_pollution_alert() -> None:
    rows = [(s, WATER, "w20117", 450.0, "C") for s in range(0, 10)]
    lines = replay(rows)
    assert not [line for line in lines if line["kind"] == "transition" and line["rule"] == "instant"]


def test_every_line_is_json_with_the_documented_keys() -> None:
    lines = replay([(0, GAS, "s02001", 20.0, "N")])
    keys = {"kind", "time", "device", "pollutant", "rule", "level", "state", "value", "limit"}
    assert all(keys <= set(line) for line in lines)
    assert all(json.loads(json.dumps(line)) == line for line in lines)
    assert {"recipient", "body"} <= set(next(line for line in lines if line["kind"] == "notification"))


def test_envmon_replay_prints_json_lines(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from envmon_app.cli import main

    folder = Path(str(tmp_path))
    (folder / "registry.toml").write_text(registry(), encoding="utf-8")
    (folder / "readings.csv").write_text(csv_of([(0, GAS, "s02001", 20.0, "N")]).getvalue(), encoding="utf-8")
    assert main(["replay", "--registry", str(folder / "registry.toml"), str(folder / "readings.csv")]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["kind"] for line in out] == ["transition", "notification"]


def test_a_new_exceedance_after_an_acknowledged_and_resolved_one_is_texted() -> None:
    """Issue 15 §3: exceedance, acknowledged with a disposition, resolved when the value came back, and a new
    exceedance eight minutes later of the same device, pollutant and rule: the new alert is texted."""
    engine = Replay(parse_registry(registry()), load_policy(""), zone=ZONE)
    first = list(engine.run(csv_of([(s, WATER, "w20117", 150.0, "N") for s in range(0, 10)])))
    [opened] = [line for line in first if line["kind"] == "transition" and line["transition"] == "open"]
    engine.acknowledge(str(opened["alert"]), actor="insp-a", disposition="confirmed", now=START + timedelta(seconds=10))
    back = list(engine.run(csv_of([(s, WATER, "w20117", 20.0, "N") for s in range(10, 100)])))
    assert [line["state"] for line in back if line["kind"] == "transition"] == ["resolved"]
    again = list(engine.run(csv_of([(s, WATER, "w20117", 150.0, "N") for s in range(550, 560)])))
    [reopened] = [line for line in again if line["kind"] == "transition" and line["transition"] == "open"]
    assert reopened["alert"] != opened["alert"]
    sms = [(m["phone"], m["reason"], m["alert"]) for m in again if m["kind"] == "notification"]
    assert (INSPECTOR_PHONE, "new", reopened["alert"]) in sms
    assert engine.silent_alerts(START + timedelta(seconds=700), grace_seconds=60) == []


@pytest.mark.parametrize("repeat_seconds", [600, 1800])
def test_a_warning_flapping_in_90_second_blocks_is_damped_by_the_engine_and_every_alert_is_told(
    repeat_seconds: int,
) -> None:
    # Cr(VI) 95 µg/L is above the 80 µg/L warning line, 30 µg/L below its clear line; the warning does not latch,
    # so each block above opens a new alert until the engine sees the key flapping and holds it open.
    rows = [(s, WATER, "w20117", 95.0 if (s // 90) % 2 == 0 else 30.0, "N") for s in range(600)]
    engine = Replay(parse_registry(registry(repeat_seconds)), load_policy(""), zone=ZONE)
    lines = list(engine.run(csv_of(rows)))
    opened = {line["alert"] for line in lines if line["kind"] == "transition" and line["transition"] == "open"}
    told = {m["alert"] for m in lines if m["kind"] == "notification" and m["phone"] == INSPECTOR_PHONE}
    per_phone: dict[object, int] = {}
    for m in (line for line in lines if line["kind"] == "notification"):
        per_phone[m["phone"]] = per_phone.get(m["phone"], 0) + 1
    flap_opens = load_policy("").rule("instant").flap_opens
    assert len(opened) >= 2 and told == opened
    assert max(per_phone.values()) <= flap_opens + 600 // repeat_seconds, per_phone
    assert engine.silent_alerts(START + timedelta(seconds=600), grace_seconds=60) == []


def test_an_alarm_no_chain_routes_records_why_nobody_was_told() -> None:
    no_gas_chain = registry()[: registry().index('[[escalation_chains]]\ncode = "gas"')]
    engine = Replay(parse_registry(no_gas_chain), load_policy(""), zone=ZONE)
    lines = list(engine.run(csv_of([(0, GAS, "s02001", 20.0, "N")])))
    assert [line["kind"] for line in lines] == ["transition"]  # nobody to text ...
    assert engine.silent_alerts(START + timedelta(seconds=600), grace_seconds=60) == []  # ... and it says so


def test_replay_of_one_device_reports_no_other_device_silent() -> None:
    from alerts.replay import lines_of_devices, narrow_registry

    water = [(s, WATER, "w20117", 0.01 * (s % 7), "N") for s in range(0, 3600, 30)]
    rows = sorted([*water, (1, GAS, "s02001", 20.0, "N")])  # another device's line in the same file
    whole = list(Replay(parse_registry(registry()), load_policy(""), zone=ZONE).run(csv_of(water)))
    narrowed = narrow_registry(parse_registry(registry()), devices=[WATER])
    lines = list(Replay(narrowed, load_policy(""), zone=ZONE).run(lines_of_devices(csv_of(rows), {WATER})))
    # Unfiltered, the gas detector missing from the file is reported silent; filtered, nothing of it shows.
    assert {(line["device"], line["rule"]) for line in whole if line["kind"] == "transition"} == {(GAS, "silent")}
    assert lines == []
    assert {d.mn for d in narrowed.file.devices} == {WATER}


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["missing.csv"], "missing.csv: no such file", id="missing-readings"),
    pytest.param(["readings.csv", "--device", "NOPE"], "not in the registry: NOPE", id="unknown-device"),
    pytest.param(["readings.csv", "--site", "NOPE"], "not in the registry: NOPE", id="unknown-site"),
])
def test_envmon_replay_refuses_bad_input_without_a_traceback(
    tmp_path: object, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from pathlib import Path

    from envmon_app.cli import main

    folder = Path(str(tmp_path))
    (folder / "registry.toml").write_text(registry(), encoding="utf-8")
    (folder / "readings.csv").write_text(csv_of([(0, GAS, "s02001", 20.0, "N")]).getvalue(), encoding="utf-8")
    argv = [str(folder / a) if a.endswith(".csv") else a for a in args]
    assert main(["replay", "--registry", str(folder / "registry.toml"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_envmon_replay_site_filter_keeps_that_plants_devices(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from envmon_app.cli import main

    folder = Path(str(tmp_path))
    (folder / "registry.toml").write_text(registry(), encoding="utf-8")
    (folder / "readings.csv").write_text(csv_of([(0, GAS, "s02001", 20.0, "N")]).getvalue(), encoding="utf-8")
    assert main(["replay", "--registry", str(folder / "registry.toml"), "--site", "T-001",
                 str(folder / "readings.csv")]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["kind"] for line in out] == ["transition", "notification"]


@pytest.mark.parametrize(("given", "states"), [
    pytest.param(None, ["open", "escalated", "acknowledged"], id="default-active"),
    pytest.param(["any"], ["open", "escalated", "acknowledged", "resolved", "closed"], id="any"),
    pytest.param(["closed", "active"], ["closed", "open", "escalated", "acknowledged"], id="mixed"),
    pytest.param(["open", "open"], ["open"], id="repeated"),
])
def test_alert_list_states(given: list[str] | None, states: list[str]) -> None:
    from alerts.cli import list_states

    assert list_states(given) == states


@pytest.mark.parametrize(("value", "limit", "shown"), [
    pytest.param(20.0, 13.2, "20 (limit 13.2)", id="both"),
    pytest.param(None, None, "-", id="silent-device"),
    pytest.param(0.5, None, "0.5", id="no-limit"),
    pytest.param(None, 0.1, "(limit 0.1)", id="no-value"),
])
def test_alert_list_value_text_never_shows_none(value: float | None, limit: float | None, shown: str) -> None:
    from alerts.cli import value_text

    assert value_text(value, limit) == shown
