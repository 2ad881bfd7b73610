"""Deduplication: whether a recipient needs a message about an alert now, and why (the reason is stored).

Modelled on Alertmanager's `needsUpdate`: a pure function of what was last sent and the alert as it is now.
The last message counts per recipient and alert *key* (device, pollutant, rule), not per alert id, so a
condition flapping around its limit (opened, resolved, opened again) cannot send more than one message per
repeat interval to anybody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alerts.lifecycle import AlertRecord
from alerts.model import SEVERITY_RANK, AlertKey, Severity

NotifyReason = Literal["none", "new", "escalation", "severity", "reminder", "resolved"]


@dataclass(frozen=True, slots=True)
class SentNotification:
    """What a recipient was sent (or is queued, or was suppressed) about one alert.

    A grouped SMS about several alerts is one entry per alert, all with the same time. `severity` is the
    severity the message announced; `status` is the notifications row's status.
    """

    recipient_id: int
    alert_id: int
    key: AlertKey
    site_code: str
    reason: NotifyReason
    severity: Severity
    time: datetime
    status: str = "pending"


def needs_notification(
    last_sent: SentNotification | None, alert: AlertRecord, repeat_interval_seconds: int, now: datetime
) -> NotifyReason:
    """Why this recipient, last sent `last_sent` about the alert's key, must be told now ("none": not now)."""
    if alert.state in ("resolved", "closed"):
        told = (
            last_sent is not None and last_sent.alert_id == alert.id and last_sent.reason != "resolved"
            and last_sent.status != "suppressed"  # nobody heard of it: no news that it is over
        )
        return "resolved" if told else "none"
    if alert.state == "acknowledged":
        return "none"
    if last_sent is None:
        return "new"
    repeat_due = (now - last_sent.time).total_seconds() >= repeat_interval_seconds
    if last_sent.alert_id != alert.id:  # an earlier alert of the same key: flap damping
        return "new" if repeat_due else "none"
    if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[last_sent.severity]:
        return "severity"
    return "reminder" if repeat_due else "none"


def last_sent_by_key(sent: list[SentNotification]) -> dict[tuple[int, AlertKey], SentNotification]:
    """The latest entry per (recipient, alert key)."""
    latest: dict[tuple[int, AlertKey], SentNotification] = {}
    for entry in sorted(sent, key=lambda s: s.time):
        latest[(entry.recipient_id, entry.key)] = entry
    return latest
