"""Deduplication: whether a recipient needs a message about an alert now, and why (the reason is stored).

Modelled on Alertmanager's `needsUpdate`: a pure function of what was last sent and the alert as it is now.
The last message counts per recipient and alert id. A new alert is always told: the first message about an
alert is never dropped (issue 15 §3: an exceedance that returned eight minutes after an acknowledged one was
resolved opened a new alert that got no SMS, because a message about the earlier alert of the same key
"damped" it). Flapping is damped where the condition is judged: the engine's hold, hysteresis and flap
detection (a key that opened `flap_opens` times within `flap_window_seconds` clears only after that long
calm, alerts/rules/keys.py), and latching, which keeps an exceedance the same alert until a person acknowledges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alerts.lifecycle import AlertRecord
from alerts.model import AlertKey
from envmon.domain import ENDED_STATES, SEVERITY_RANK, Severity

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
    detail: str | None = None  # why a 'suppressed' entry was not sent


def needs_notification(
    last_sent: SentNotification | None, alert: AlertRecord, repeat_interval_seconds: int, now: datetime
) -> NotifyReason:
    """Why this recipient, last sent `last_sent` about the alert's key, must be told now ("none": not now)."""
    if alert.state in ENDED_STATES:
        told = (
            last_sent is not None and last_sent.alert_id == alert.id and last_sent.reason != "resolved"
            and last_sent.status != "suppressed"  # nobody heard of it: no news that it is over
        )
        return "resolved" if told else "none"
    if alert.state == "acknowledged":
        return "none"
    if last_sent is None or last_sent.alert_id != alert.id:
        return "new"  # whatever was said about an earlier alert of the key, this one is news
    if last_sent.reason == "resolved":
        return "new"  # they were told it was over and it is open again
    repeat_due = (now - last_sent.time).total_seconds() >= repeat_interval_seconds
    if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[last_sent.severity]:
        return "severity"
    return "reminder" if repeat_due else "none"


def last_sent_by_alert(sent: list[SentNotification]) -> dict[tuple[int, int], SentNotification]:
    """The latest entry per (recipient, alert id)."""
    latest: dict[tuple[int, int], SentNotification] = {}
    for entry in sorted(sent, key=lambda s: s.time):
        latest[(entry.recipient_id, entry.alert_id)] = entry
    return latest
