"""Every alert is heard: which open pollution and safety alerts reached nobody and carry no reason why.

The invariant (issue 15 §3, design.md "Guarantees"): an open pollution or safety alert has a notification
queued or sent to someone, or a recorded suppression reason (a silence, a maintenance window, a platform
fault, no recipient configured ...). An alert a person acknowledged has been heard. A young alert gets
`grace_seconds` first: the planner may hold a "new" message for the site's grouping window, and a chain's
first step may wait. The same rule is the SQL in alerts/store.py `silent_alert_ids`; the service exports
the count (metric `envmon_alerts_silent`, /healthz check `silent_alerts`), replay and tests check it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.lifecycle import AlertRecord
from alerts.notify.escalation import RoutedAlert
from envmon.domain import UNACKNOWLEDGED_STATES

# Notification statuses that mean "queued or sent to someone" (failed and undelivered reached nobody).
HEARD_STATUSES: frozenset[str] = frozenset({"pending", "sending", "sent", "delivered"})
# Alerts people must hear of; device alerts (silent, stuck ...) are maintenance work and may wait.
HEARD_CATEGORIES: frozenset[str] = frozenset({"pollution", "safety"})
# The suppression reason recorded for an alert that no chain routes to an active recipient.
NO_RECIPIENT = "no_recipient"
# The reason recorded for device alerts held back while the watchdog reports a platform fault.
PLATFORM_FAULT = "platform_fault"


@dataclass(frozen=True, slots=True)
class NoticeFact:
    """One notification row as far as the invariant cares: which alert, its status, why it was suppressed."""

    alert_id: int
    status: str
    reason: str | None = None  # the recorded suppression reason of a 'suppressed' row


def is_heard_by(notices: Iterable[NoticeFact]) -> bool:
    """True if one of an alert's notifications is queued or sent, or records why it was not sent."""
    return any(n.status in HEARD_STATUSES or (n.status == "suppressed" and bool(n.reason)) for n in notices)


def must_be_heard(alert: AlertRecord, now: datetime, grace_seconds: float) -> bool:
    """True for an unacknowledged pollution or safety alert older than the grace period."""
    return (
        alert.category in HEARD_CATEGORIES and alert.state in UNACKNOWLEDGED_STATES
        and now - alert.opened_at >= timedelta(seconds=grace_seconds)
    )


def silent_alerts(
    alerts: Iterable[AlertRecord], notices: Iterable[NoticeFact], now: datetime, grace_seconds: float
) -> list[AlertRecord]:
    """The alerts that break the invariant: must be heard, and no notice says they were (or why not)."""
    by_alert: dict[int, list[NoticeFact]] = {}
    for notice in notices:
        by_alert.setdefault(notice.alert_id, []).append(notice)
    return [
        a for a in alerts
        if must_be_heard(a, now, grace_seconds) and not is_heard_by(by_alert.get(a.id or -1, []))
    ]


def suppression_reason(notices: Sequence[NoticeFact]) -> str | None:
    """Why an alert was not sent to anybody (the latest recorded reason), None when someone was told."""
    if any(n.status in HEARD_STATUSES for n in notices):
        return None
    reasons = [n.reason for n in notices if n.status == "suppressed" and n.reason]
    return reasons[-1] if reasons else None


def unrouted(routed: Iterable[RoutedAlert]) -> list[RoutedAlert]:
    """Alerts that no chain routes to an active recipient: nobody can be told, so the reason is recorded."""
    return [
        r for r in routed
        if r.alert.category in HEARD_CATEGORIES
        and not any(p.active for chain in r.chains for step in chain.steps for p in step.recipients)
    ]
