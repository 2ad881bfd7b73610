"""The chaos run's pure parts: the fault schedule, the readings ledger, SMS counting, the district."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from alerts.notify.fake_twilio import RecordedRequest
from benchmarks.chaos.district import device_codes, repeated_scenario, subset_registry
from benchmarks.chaos.faults import KINDS, MIN_EACH, schedule
from benchmarks.chaos.ledger import compare
from benchmarks.chaos.oracle import OutboxRow, compare_sms, replay_levels, replay_sms, sends_per_row
from device_sim.scenario import check_scenario, parse_scenario
from envmon.registry.load import parse_registry


@pytest.mark.parametrize(("start", "end", "gap"), [
    pytest.param(10.0, 60.0, 12.0, id="short-window-still-every-kind-three-times"),
    pytest.param(10.0, 560.0, 12.0, id="long-window-filled-at-the-mean-gap"),
])
def test_schedule_has_every_fault_three_times_inside_the_window(start: float, end: float, gap: float) -> None:
    faults = schedule(random.Random(7), start, end, gap)
    counts = Counter(f.kind for f in faults)
    assert set(counts) == set(KINDS)
    assert min(counts.values()) >= MIN_EACH
    assert len(faults) == max(len(KINDS) * MIN_EACH, int((end - start) / gap))
    assert all(start <= f.at_seconds <= end for f in faults)
    assert [f.at_seconds for f in faults] == sorted(f.at_seconds for f in faults)


def test_schedule_is_the_same_for_the_same_seed() -> None:
    assert schedule(random.Random(3), 0, 100, 5) == schedule(random.Random(3), 0, 100, 5)
    assert schedule(random.Random(3), 0, 100, 5) != schedule(random.Random(4), 0, 100, 5)


@pytest.mark.parametrize(("stored", "lost", "duplicates", "unexpected"), [
    pytest.param({("A", 1, "x"): 1, ("A", 2, "x"): 1}, 0, 0, 0, id="exact"),
    pytest.param({("A", 1, "x"): 1}, 1, 0, 0, id="one-lost"),
    pytest.param({("A", 1, "x"): 3, ("A", 2, "x"): 1}, 0, 2, 0, id="stored-three-times"),
    pytest.param({("A", 1, "x"): 1, ("A", 2, "x"): 1, ("B", 9, "y"): 1}, 0, 0, 1, id="never-sent"),
])
def test_ledger_counts_lost_duplicated_and_unexpected_readings(
    stored: dict[tuple[str, int, str], int], lost: int, duplicates: int, unexpected: int,
) -> None:
    result = compare({("A", 1, "x"), ("A", 2, "x")}, Counter(stored))
    assert (result["lost_readings"], result["duplicate_readings"], result["unexpected_readings"]) == (
        lost, duplicates, unexpected)


def _message(to: str, body: str, sid: str) -> RecordedRequest:
    return RecordedRequest(time=datetime(2026, 12, 4, tzinfo=UTC), to=to, body=body, from_="+1", messaging_service_sid=None,
                           status_callback=None, http_status=201, sid=sid, error_code=None)


KEY = ("+861", "DEV", "s01001", "gas", "new")
ROWS = [OutboxRow(1, "+861", "leak", "sent", "SM1", KEY), OutboxRow(2, "+862", "leak", "suppressed", None,
                                                                    ("+862", "DEV", "s01001", "gas", "new"))]


@pytest.mark.parametrize(("messages", "sends"), [
    pytest.param([_message("+861", "leak", "SM1")], {1: 1, 2: 0}, id="by-sid"),
    pytest.param([_message("+861", "leak", "SM0"), _message("+861", "leak", "SM1")], {1: 2, 2: 0},
                 id="a-send-whose-sid-was-lost-counts-by-text"),
    pytest.param([_message("+869", "other", "SM7")], {1: 0, 2: 0}, id="not-ours"),
])
def test_sends_per_row(messages: list[RecordedRequest], sends: dict[int, int]) -> None:
    assert sends_per_row(ROWS, messages) == sends


@pytest.mark.parametrize(("expected", "sends", "missed", "over"), [
    pytest.param(Counter({KEY: 1}), {1: 1, 2: 0}, 0, 0, id="heard-once"),
    pytest.param(Counter({KEY: 1}), {1: 0, 2: 0}, 1, 0, id="never-received"),
    pytest.param(Counter({KEY: 2}), {1: 1, 2: 0}, 1, 0, id="second-reminder-never-made"),
    pytest.param(Counter({KEY: 1}), {1: 3, 2: 0}, 0, 1, id="sent-three-times"),
])
def test_compare_sms(expected: Counter[tuple[str, str, str, str, str]], sends: dict[int, int], missed: int,
                     over: int) -> None:
    result = compare_sms(expected, ROWS, sends)
    assert (result["missed_sms"], result["sms_sent_more_than_twice"]) == (missed, over)


def test_a_missed_sms_shows_what_the_live_outbox_holds_for_its_phone_and_alert() -> None:
    raised = ("+861", "DEV", "s01001", "gas", "severity")
    rows = [OutboxRow(1, "+861", "leak", "sent", "SM1", KEY, "level2"),
            OutboxRow(2, "+862", "leak", "sent", "SM2", ("+862", "DEV", "s01001", "gas", "new"), "level2")]
    result = compare_sms(Counter({KEY: 1, raised: 1}), rows, {1: 1, 2: 1})
    assert result["missed_sms"] == 1
    assert result["missed_context"] == {"+861|DEV|s01001|gas|severity": [[1, "new", "level2", "sent", 1]]}


RAISED = ("+861", "DEV", "s01001", "gas", "severity")


@pytest.mark.parametrize(("opening_level", "sent", "missed", "folded"), [
    pytest.param("level2", 1, 0, 1, id="opening-sms-already-named-the-raised-level"),
    pytest.param("level1", 1, 1, 0, id="opening-at-the-lower-level-and-no-severity-sms"),
    pytest.param("level2", 0, 2, 0, id="opening-never-received"),
])
def test_a_severity_sms_folded_into_the_opening_one_is_not_missed(opening_level: str, sent: int, missed: int,
                                                                  folded: int) -> None:
    rows = [OutboxRow(1, "+861", "leak", "sent", "SM1", KEY, opening_level)]
    result = compare_sms(Counter({KEY: 1, RAISED: 1}), rows, {1: sent}, {RAISED: "level2"})
    assert (result["missed_sms"], result["severity_folded"]) == (missed, folded)


def test_replay_lines_give_levels_and_sent_sms() -> None:
    lines = [
        {"kind": "transition", "transition": "open", "device": "D", "pollutant": "p", "rule": "gas", "level": "level1"},
        {"kind": "transition", "transition": "severity", "device": "D", "pollutant": "p", "rule": "gas",
         "level": "level2"},
        {"kind": "transition", "transition": "update", "device": "D", "pollutant": "p", "rule": "gas",
         "level": "level2"},
        {"kind": "notification", "status": "pending", "phone": "+1", "device": "D", "pollutant": "p", "rule": "gas",
         "reason": "new"},
        {"kind": "notification", "status": "suppressed", "phone": "+2", "device": "D", "pollutant": "p",
         "rule": "gas", "reason": "new"},
    ]
    assert replay_levels(lines) == {("D", "p", "gas", "level1"), ("D", "p", "gas", "level2")}
    assert replay_sms(lines) == Counter({("+1", "D", "p", "gas", "new"): 1})


def test_district_is_the_mqtt_devices_of_five_plants_and_the_scenario_fits_it() -> None:
    text = subset_registry()
    registry = parse_registry(text, "chaos")
    assert {d.transport for d in registry.file.devices} == {"mqtt"}
    assert {d.site for d in registry.file.devices} == {"FX-EP-001", "FX-PB-001", "FX-CH-001", "FX-CH-002",
                                                       "FX-CH-003"}
    assert len(device_codes(text)) == len(registry.file.devices)
    scenario = repeated_scenario(300)
    check_scenario(scenario, registry, "chaos")
    cycle = repeated_scenario(120)
    assert len(scenario.incidents) == 2 * len(cycle.incidents) + sum(i.at_seconds < 60 for i in cycle.incidents)
    assert max(i.at_seconds for i in scenario.incidents) < 300


def test_repeated_scenario_shifts_each_cycle() -> None:
    base = parse_scenario('name = "c"\nduration_seconds = 100\n[[incidents]]\ndevice = "D"\nkind = "malformed"\n'
                          'at_seconds = 10\n')
    assert [i.at_seconds for i in repeated_scenario(250, base).incidents] == [10, 110, 210]
