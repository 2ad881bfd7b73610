"""Alert lifecycle: opening, severity, latching, acknowledgement, resolution, closing, and alert codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.lifecycle import (
    AlertRecord,
    LifecycleError,
    acknowledge,
    alert_code,
    close,
    escalate,
    on_transition,
    parse_alert_code,
    resolve,
)
from alerts.model import AlertKey, Category, Severity, Transition, TransitionKind

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
KEY = AlertKey(7, "w20116", "instant")


def tr(kind: TransitionKind, severity: Severity = "exceedance", value: float | None = 1.5, at: int = 0) -> Transition:
    """A transition `at` seconds after T0."""
    time = T0 + timedelta(seconds=at)
    category: Category = "safety" if severity.startswith("level") else ("device" if severity == "fault" else "pollution")
    return Transition(
        kind=kind, key=KEY, category=category, severity=severity, time=time, value=value, limit_value=1.0,
        limit_id=3, first_breach_at=T0, peak_value=value, peak_at=time,
    )


def opened(severity: Severity = "exceedance") -> AlertRecord:
    record = on_transition(None, tr("open", severity), T0).record
    assert record is not None
    return replace(record, id=41, code=alert_code(41))


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_open_transition_creates_an_open_alert_and_announces_it() -> None:
    out = on_transition(None, tr("open"), T0)
    assert out.record is not None
    assert (out.record.state, out.record.severity, out.record.latched, out.notify) == ("open", "exceedance", True, "open")
    assert [(e.from_state, e.to_state, e.actor, e.reason) for e in out.events] == [(None, "open", "engine", "opened")]


@pytest.mark.parametrize(
    ("severity", "latched"),
    [
        pytest.param("warning", False, id="warning-not-latched"),
        pytest.param("exceedance", True, id="exceedance-latched"),
        pytest.param("severe", True, id="severe-latched"),
        pytest.param("level1", True, id="gas-level1-latched"),
        pytest.param("level2", True, id="gas-level2-latched"),
        pytest.param("fault", False, id="device-fault-not-latched"),
    ],
)
def test_clear_resolves_unless_latched(severity: Severity, latched: bool) -> None:
    out = on_transition(opened(severity), tr("clear", severity, at=60), at(60))
    assert out.record is not None
    assert out.record.condition_active is False
    assert out.record.state == ("open" if latched else "resolved")
    assert out.notify == (None if latched else "resolved")


@pytest.mark.parametrize(
    ("kind", "expected_state", "expected_notify"),
    [
        pytest.param("clear", None, None, id="clear-without-alert-is-nothing"),
        pytest.param("update", None, None, id="update-without-alert-is-nothing"),
        pytest.param("open", "open", "open", id="open-creates"),
        pytest.param("severity", "open", "open", id="severity-without-alert-opens"),
    ],
)
def test_transitions_without_an_open_alert(kind: TransitionKind, expected_state: str | None, expected_notify: str | None) -> None:
    out = on_transition(None, tr(kind), T0)
    assert (out.record.state if out.record else None, out.notify) == (expected_state, expected_notify)


def test_condition_returning_while_latched_keeps_the_same_alert_silently() -> None:
    cleared = on_transition(opened(), tr("clear", at=10), at(10)).record
    assert cleared is not None
    out = on_transition(cleared, tr("open", value=1.7, at=20), at(20))
    assert out.record is not None
    assert (out.record.id, out.record.state, out.record.condition_active, out.notify) == (41, "open", True, None)
    assert [e.reason for e in out.events] == ["condition_returned"]


def test_condition_returning_at_a_higher_severity_is_announced_on_the_same_alert() -> None:
    cleared = on_transition(opened(), tr("clear", at=10), at(10)).record
    out = on_transition(cleared, tr("open", "severe", value=3.5, at=20), at(20))
    assert out.record is not None
    assert (out.record.id, out.record.severity, out.record.condition_active, out.notify) == (41, "severe", True, "severity")


def test_open_after_resolution_makes_a_new_alert() -> None:
    resolved = on_transition(opened("warning"), tr("clear", "warning", at=10), at(10)).record
    out = on_transition(resolved, tr("open", "warning", at=20), at(20))
    assert out.record is not None and out.record.id is None and out.notify == "open"


@pytest.mark.parametrize(
    ("start", "to", "notify", "reason"),
    [
        pytest.param("warning", "exceedance", "severity", "severity_raised", id="warning-to-exceedance"),
        pytest.param("exceedance", "severe", "severity", "severity_raised", id="exceedance-to-severe"),
        pytest.param("level1", "level2", "severity", "severity_raised", id="gas-level1-to-level2"),
        pytest.param("severe", "exceedance", None, "severity_lowered", id="severe-down-is-quiet"),
        pytest.param("level2", "level1", None, "severity_lowered", id="gas-down-is-quiet"),
    ],
)
def test_severity_changes(start: Severity, to: Severity, notify: str | None, reason: str) -> None:
    out = on_transition(opened(start), tr("severity", to, at=30), at(30))
    assert out.record is not None and out.record.severity == to
    assert (out.notify, [e.reason for e in out.events]) == (notify, [reason])


def test_warning_that_rose_to_exceedance_stays_latched_after_falling_back() -> None:
    record = on_transition(opened("warning"), tr("severity", "exceedance", at=5), at(5)).record
    record = on_transition(record, tr("severity", "warning", at=10), at(10)).record
    out = on_transition(record, tr("clear", "warning", at=20), at(20))
    assert out.record is not None and out.record.state == "open"


def test_severity_rise_after_acknowledgement_needs_a_new_acknowledgement() -> None:
    acked = acknowledge(opened(), actor="insp", disposition="confirmed", note=None, now=at(10)).record
    out = on_transition(acked, tr("severity", "severe", value=3.5, at=40), at(40))
    assert out.record is not None
    assert (out.record.state, out.record.unacknowledged_since, out.notify) == ("open", at(40), "severity")


def test_update_raises_peak_without_events() -> None:
    out = on_transition(opened(), tr("update", value=2.5, at=5), at(5))
    assert out.record is not None and out.events == () and out.notify is None
    assert (out.record.peak_value, out.record.last_value) == (2.5, 2.5)
    lower = on_transition(out.record, tr("update", value=2.0, at=6), at(6)).record
    assert lower is not None and (lower.peak_value, lower.last_value) == (2.5, 2.0)


@pytest.mark.parametrize(
    ("condition_active", "state", "reasons"),
    [
        pytest.param(True, "acknowledged", ["acknowledged"], id="condition-still-active"),
        pytest.param(False, "resolved", ["acknowledged", "acknowledged_after_clear"], id="latched-and-cleared"),
    ],
)
def test_acknowledge(condition_active: bool, state: str, reasons: list[str]) -> None:
    record = replace(opened(), condition_active=condition_active)
    out = acknowledge(record, actor="+8613998369006", disposition="false_alarm", note="calibration", now=at(90))
    assert out.record is not None
    assert (out.record.state, out.record.disposition, out.record.acknowledged_by) == (state, "false_alarm", "+8613998369006")
    assert [e.reason for e in out.events] == reasons


def test_acknowledged_alert_resolves_when_its_condition_clears() -> None:
    acked = acknowledge(opened(), actor="a", disposition="confirmed", note=None, now=at(10)).record
    out = on_transition(acked, tr("clear", at=20), at(20))
    assert out.record is not None and out.record.state == "resolved" and out.notify == "resolved"


def test_repeated_acknowledgement_changes_nothing() -> None:
    acked = acknowledge(opened(), actor="a", disposition="confirmed", note=None, now=at(10)).record
    assert acked is not None
    again = acknowledge(acked, actor="b", disposition="false_alarm", note=None, now=at(20))
    assert again.record == acked and again.events == ()


def test_acknowledging_a_closed_alert_is_refused() -> None:
    closed = close(opened("warning"), actor="a", reason="done", now=at(5)).record
    assert closed is not None
    with pytest.raises(LifecycleError):
        acknowledge(closed, actor="a", disposition="confirmed", note=None, now=at(6))


def test_unknown_disposition_is_refused() -> None:
    with pytest.raises(LifecycleError):
        acknowledge(opened(), actor="a", disposition="whatever", note=None, now=at(6))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("severity", "acked", "allowed"),
    [
        pytest.param("warning", False, True, id="warning-resolves-by-hand"),
        pytest.param("exceedance", False, False, id="latched-needs-ack-first"),
        pytest.param("exceedance", True, True, id="latched-after-ack"),
    ],
)
def test_manual_resolve(severity: Severity, acked: bool, allowed: bool) -> None:
    record = opened(severity)
    if acked:
        record = acknowledge(record, actor="a", disposition="confirmed", note=None, now=at(5)).record  # type: ignore[assignment]
    if not allowed:
        with pytest.raises(LifecycleError):
            resolve(record, actor="a", reason="fixed", now=at(9))
        return
    out = resolve(record, actor="a", reason="fixed", now=at(9))
    assert out.record is not None and out.record.state == "resolved" and out.record.resolved_at == at(9)


def test_close_after_resolution_records_both_steps() -> None:
    out = close(opened("warning"), actor="a", reason="reviewed", now=at(9))
    assert out.record is not None and out.record.state == "closed"
    assert [(e.from_state, e.to_state) for e in out.events] == [("open", "resolved"), ("resolved", "closed")]


@pytest.mark.parametrize(
    ("state", "current_level", "level", "expected_state", "expected_level"),
    [
        pytest.param("open", 0, 1, "escalated", 1, id="first-escalation"),
        pytest.param("escalated", 1, 2, "escalated", 2, id="further-escalation"),
        pytest.param("escalated", 2, 1, "escalated", 2, id="never-backwards"),
        pytest.param("acknowledged", 0, 1, "acknowledged", 0, id="acknowledged-does-not-escalate"),
    ],
)
def test_escalate(state: str, current_level: int, level: int, expected_state: str, expected_level: int) -> None:
    record = replace(opened(), state=state, escalation_level=current_level)  # type: ignore[arg-type]
    out = escalate(record, level=level, now=at(900))
    assert out.record is not None and (out.record.state, out.record.escalation_level) == (expected_state, expected_level)


@pytest.mark.parametrize("alert_id", [1, 2, 41, 999, 123_456, 29**5 - 1, 29**5, 10**9])
def test_alert_code_round_trips(alert_id: int) -> None:
    code = alert_code(alert_id)
    assert parse_alert_code(code) == alert_id
    assert parse_alert_code(" " + code.lower() + " ") == alert_id


def test_alert_codes_are_six_characters_for_the_first_twenty_million_alerts() -> None:
    assert {len(alert_code(i)) for i in (1, 5000, 20_000_000)} == {6}


def test_neighbouring_alerts_have_codes_that_differ_in_several_characters() -> None:
    a, b = alert_code(1000), alert_code(1001)
    assert sum(x != y for x, y in zip(a, b, strict=True)) >= 3


def test_every_single_character_typo_and_neighbour_swap_is_detected() -> None:
    code = alert_code(4242)
    alphabet = "23456789ABCDEFGHJKMNPQRSTWXYZ"
    typos = [code[:i] + c + code[i + 1:] for i in range(len(code)) for c in alphabet if c != code[i]]
    swaps = [code[:i] + code[i + 1] + code[i] + code[i + 2:] for i in range(len(code) - 1) if code[i] != code[i + 1]]
    assert all(parse_alert_code(t) is None for t in typos + swaps)


@pytest.mark.parametrize("text", ["", "12345", "ABCDE0", "ABCDEI", "ABCD"])
def test_malformed_codes_are_rejected(text: str) -> None:
    assert parse_alert_code(text) is None


@pytest.mark.parametrize(
    ("severity", "detail", "latched"),
    [
        pytest.param("exceedance", {}, True, id="an-exceedance-of-a-mean-latches"),
        pytest.param("level1", {}, True, id="a-gas-alarm-latches"),
        pytest.param("warning", {"prewarning_of": "day"}, False, id="a-pre-warning-does-not"),
        # Even if a pre-warning ever arrived worded as an exceedance, it is not a legal judgement.
        pytest.param("exceedance", {"prewarning_of": "day"}, False, id="nothing-marked-pre-warning-latches"),
    ],
)
def test_only_legal_judgements_latch(severity: Severity, detail: dict[str, object], latched: bool) -> None:
    t = replace(tr("open", severity), detail=detail)
    record = on_transition(None, t, T0).record
    assert record is not None and record.latched is latched
    assert record.detail == detail
