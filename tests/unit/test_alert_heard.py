"""Every alert is heard: the invariant over alerts and their notifications (alerts/notify/heard.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.lifecycle import AlertRecord
from alerts.model import AlertKey
from alerts.notify.escalation import RoutedAlert
from alerts.notify.heard import NoticeFact, silent_alerts, suppression_reason, unrouted
from alerts.notify.routing import EscalationChain, EscalationStep, Recipient

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
GRACE = 60.0


def alert(**kw: object) -> AlertRecord:
    base = AlertRecord(
        id=1, code="X", key=AlertKey(7, "w20117", "instant"), category="pollution", severity="exceedance",
        state="open", opened_at=T0, first_breach_at=T0, unacknowledged_since=T0, latched=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "notices", "seconds", "silent"),
    [
        pytest.param(alert(), [], 120, True, id="open-nothing-sent"),
        pytest.param(alert(), [], 30, False, id="young-alert-in-grace"),
        pytest.param(alert(), [NoticeFact(1, "sent")], 120, False, id="sent"),
        pytest.param(alert(), [NoticeFact(1, "pending")], 120, False, id="queued"),
        pytest.param(alert(), [NoticeFact(1, "delivered")], 120, False, id="delivered"),
        pytest.param(alert(), [NoticeFact(1, "failed")], 120, True, id="only-failed"),
        pytest.param(alert(), [NoticeFact(1, "undelivered")], 120, True, id="only-undelivered"),
        pytest.param(alert(), [NoticeFact(1, "suppressed", "maintenance: 校准")], 120, False, id="suppressed-with-reason"),
        pytest.param(alert(), [NoticeFact(1, "suppressed", None)], 120, True, id="suppressed-without-reason"),
        pytest.param(alert(), [NoticeFact(2, "sent")], 120, True, id="another-alert-was-sent"),
        pytest.param(alert(state="escalated"), [], 120, True, id="escalated-nothing-sent"),
        pytest.param(alert(state="acknowledged"), [], 120, False, id="acknowledged-someone-heard"),
        pytest.param(alert(state="resolved"), [], 120, False, id="resolved-not-open"),
        pytest.param(alert(category="safety", severity="level2"), [], 120, True, id="gas-alarm"),
        pytest.param(alert(category="device", severity="fault"), [], 120, False, id="device-alert-not-counted"),
    ],
)
def test_silent_alerts(record: AlertRecord, notices: list[NoticeFact], seconds: float, silent: bool) -> None:
    found = silent_alerts([record], notices, T0 + timedelta(seconds=seconds), GRACE)
    assert found == ([record] if silent else [])


@pytest.mark.parametrize(
    ("notices", "reason"),
    [
        pytest.param([], None, id="nothing"),
        pytest.param([NoticeFact(1, "suppressed", "silenced: 检修")], "silenced: 检修", id="silence"),
        pytest.param([NoticeFact(1, "suppressed", "platform_fault"), NoticeFact(1, "sent")], None, id="later-sent"),
        pytest.param([NoticeFact(1, "suppressed", "a"), NoticeFact(1, "suppressed", "b")], "b", id="latest-reason"),
    ],
)
def test_suppression_reason(notices: list[NoticeFact], reason: str | None) -> None:
    assert suppression_reason(notices) == reason


A = Recipient(1, "a", "A", "+8613900000001")


@pytest.mark.parametrize(
    ("chains", "category", "unheard"),
    [
        pytest.param((), "pollution", True, id="no-chain"),
        pytest.param((EscalationChain(1, "c", 600, (EscalationStep(0, 0, (A,)),)),), "pollution", False, id="routed"),
        pytest.param((EscalationChain(1, "c", 600, (EscalationStep(0, 0, (replace(A, active=False),)),)),),
                     "safety", True, id="only-inactive-recipients"),
        pytest.param((), "device", False, id="device-alerts-not-counted"),
    ],
)
def test_unrouted(chains: tuple[EscalationChain, ...], category: str, unheard: bool) -> None:
    routed = RoutedAlert(alert(category=category), "S1", chains)
    assert unrouted([routed]) == ([routed] if unheard else [])
