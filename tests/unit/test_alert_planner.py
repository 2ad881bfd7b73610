"""The step planner (alerts/planner.py): routing, platform-fault hold-back, escalation and messages, as pure values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.lifecycle import AlertRecord
from alerts.model import AlertKey, DeviceSpec, Severity
from alerts.notify.dedup import NotifyReason, SentNotification
from alerts.notify.directory import RoutingData
from alerts.notify.escalation import NotifyPolicy
from alerts.notify.routing import EscalationChain, EscalationStep, Recipient
from alerts.planner import StepPlan, plan_step, select_active, sent_lookback
from alerts.platform import Episode

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")
POLICY = NotifyPolicy(group_window_seconds=30)
A = Recipient(1, "insp-a", "A", "+8613900000001")
B = Recipient(2, "insp-b", "B", "+8613900000002")
LEAD = Recipient(3, "lead", "L", "+8613900000003", locale="en")
CHAIN = EscalationChain(1, "discharge", 1800, (EscalationStep(0, 0, (A, B)), EscalationStep(1, 900, (LEAD,))))
GAS = EscalationChain(2, "gas", 300, (EscalationStep(0, 0, (A,)),), categories=frozenset({"safety"}))
FAULT = Episode(id=1, opened_at=T0, causes=(), all_districts=True)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def device(device_id: int, site: str = "S1") -> DeviceSpec:
    return DeviceSpec(device_id, f"MN{device_id:04d}", site, "一号厂", "Plant One", "fengxian", "electroplating",
                      "water_analyser", "总排口", "Main outfall", ("w20116",), 60)


DEVICES = {7: device(7), 8: device(8), 9: device(9, site="S2")}


def alert(alert_id: int | None = 1, device_id: int = 7, rule: str = "instant", severity: Severity = "exceedance",
          **kw: object) -> AlertRecord:
    base = AlertRecord(
        id=alert_id, code=None if alert_id is None else f"A{alert_id:04d}", key=AlertKey(device_id, "w20116", rule), category="pollution",
        severity=severity, state="open", opened_at=T0, first_breach_at=T0, unacknowledged_since=T0,
        latched=severity != "warning",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def sent(recipient: Recipient, seconds: float, alert_id: int = 1, reason: NotifyReason = "new") -> SentNotification:
    return SentNotification(recipient.id, alert_id, AlertKey(7, "w20116", "instant"), "S1", reason, "exceedance",
                            at(seconds), "sent")


def plan(alerts: list[AlertRecord], history: list[SentNotification], now: float, *,
         chains: tuple[EscalationChain, ...] = (CHAIN,), fault: Episode | None = None) -> StepPlan:
    routing = RoutingData(chains, {}, (), ())
    return plan_step({a.id: a for a in alerts if a.id is not None}, DEVICES, routing, history, at(now),
                     policy=POLICY, zone=ZONE, fault=fault,
                     link=lambda alert_id, when, locale: f"https://r.example/{alert_id}/{locale}")


@pytest.mark.parametrize(
    ("alerts", "history", "now", "chains", "fault", "told", "escalated", "unheard"),
    [
        pytest.param([alert()], [], 0, (CHAIN,), None,
                     {("insp-a", "pending", "new"), ("insp-b", "pending", "new")}, (), (), id="new-alert-tells-step-0"),
        pytest.param([alert()], [], 0, (), None, set(), (), (1,), id="no-chain-nobody-told-recorded-unheard"),
        pytest.param([alert()], [], 0, (GAS,), None, set(), (), (1,), id="chain-of-other-category-is-no-route"),
        pytest.param([alert(rule="silent")], [], 0, (CHAIN,), FAULT,
                     {("insp-a", "suppressed", "new"), ("insp-b", "suppressed", "new")}, (), (),
                     id="platform-fault-holds-back-device-silence"),
        pytest.param([alert()], [], 0, (CHAIN,), FAULT,
                     {("insp-a", "pending", "new"), ("insp-b", "pending", "new")}, (), (),
                     id="platform-fault-spares-an-exceedance"),
        pytest.param([alert()], [sent(A, 0), sent(B, 0)], 10, (CHAIN,), None, set(), (), (),
                     id="already-told-nothing-due"),
        pytest.param([alert()], [sent(A, 0), sent(B, 0)], 900, (CHAIN,), None,
                     {("lead", "pending", "escalation")}, ((1, 1),), (), id="unacknowledged-escalates-to-step-1"),
        pytest.param([alert(state="acknowledged", unacknowledged_since=None)], [sent(A, 0), sent(B, 0)], 900,
                     (CHAIN,), None, set(), (), (), id="acknowledged-does-not-escalate"),
    ],
)
def test_plan_step(
    alerts: list[AlertRecord], history: list[SentNotification], now: float, chains: tuple[EscalationChain, ...],
    fault: Episode | None, told: set[tuple[str, str, str]], escalated: tuple[tuple[int, int], ...],
    unheard: tuple[int, ...],
) -> None:
    result = plan(alerts, history, now, chains=chains, fault=fault)
    assert {(m.planned.recipient.code, m.planned.status, m.planned.reason) for m in result.messages} == told
    assert tuple((i, o.record.escalation_level if o.record else None) for i, o in result.escalations) == escalated
    assert result.unheard == unheard


def test_escalated_alert_is_what_the_message_and_row_describe() -> None:
    result = plan([alert()], [sent(A, 0), sent(B, 0)], 900)
    record = result.alerts[1]
    assert (record.state, record.escalation_level) == ("escalated", 1)
    [row] = result.outbox_rows()
    assert (row.recipient_id, row.escalation_step, row.alert_ids) == (LEAD.id, 1, (1,))
    # The lead reads English, and the link opens the report in the lead's language.
    assert "https://r.example/1/en" in row.body


def test_grouped_message_carries_the_worst_severity() -> None:
    result = plan([alert(1, 7, severity="warning"), alert(2, 8, severity="severe")], [], 0)
    rows = result.outbox_rows()
    assert {r.recipient_id for r in rows} == {A.id, B.id}
    assert all(r.alert_ids == (1, 2) and r.severity == "severe" for r in rows)


def test_plan_changes_nothing_it_was_given() -> None:
    active = {1: alert()}
    routing = RoutingData((CHAIN,), {}, (), ())
    plan_step(active, DEVICES, routing, [sent(A, 0), sent(B, 0)], at(900), policy=POLICY, zone=ZONE)
    assert active[1] == alert()


@pytest.mark.parametrize(
    ("alerts", "sites", "ids"),
    [
        pytest.param([alert(1, 7), alert(2, 9)], None, {1, 2}, id="all-plants"),
        pytest.param([alert(1, 7), alert(2, 9)], {"S2"}, {2}, id="one-plant"),
        pytest.param([alert(1, 7), alert(2, 99)], None, {1}, id="device-of-another-engine"),
        pytest.param([alert(None, 7)], None, set(), id="not-stored-yet"),
    ],
)
def test_select_active(alerts: list[AlertRecord], sites: set[str] | None, ids: set[int]) -> None:
    assert set(select_active(alerts, DEVICES, sites)) == ids


@pytest.mark.parametrize(
    ("chains", "seconds"),
    [
        pytest.param((), 0, id="no-chains"),
        pytest.param((CHAIN, GAS), 1800, id="longest-repeat-interval"),
    ],
)
def test_sent_lookback(chains: tuple[EscalationChain, ...], seconds: int) -> None:
    assert sent_lookback(RoutingData(chains, {}, (), ())) == timedelta(seconds=seconds)
