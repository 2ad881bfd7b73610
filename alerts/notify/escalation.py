"""The notification planner: given open alerts, their chains, what was sent and `now`, the messages due now.

Per recipient and alert: step 0 is told when the alert opens, step k after its `delay_seconds` (counted from
`unacknowledged_since`) while nobody acknowledges (escalation) or at once when a recipient of an earlier
step failed permanently; everyone reached is reminded every `repeat_interval_seconds` until someone
acknowledges; a severity rise tells everyone reached again; a resolution notice is optional. Suppressed
alerts (maintenance, silences) are planned with status 'suppressed': recorded, not sent.

Grouping: messages due now to one recipient about one site with the same reason go as one SMS. A "new"
message goes at once unless the recipient had a message about that site within `group_window_seconds`;
then it waits for the end of that window and leaves with everything else that opened meanwhile: the first
alert of an incident is never delayed, the rest come as one follow-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from alerts.lifecycle import AlertRecord
from alerts.notify.dedup import NotifyReason, SentNotification, last_sent_by_alert, needs_notification
from alerts.notify.routing import EscalationChain, EscalationStep, Recipient
from envmon.domain import ENDED_STATES, UNACKNOWLEDGED_STATES

# A permanent failure (invalid or opted-out number) or a message given up: the next step is told at once.
FAILED_STATUSES = frozenset({"failed", "undelivered"})


@dataclass(frozen=True, slots=True)
class NotifyPolicy:
    """Planner settings that are policy, not chain data."""

    group_window_seconds: float = 30.0
    resolution_notices: bool = False


@dataclass(frozen=True, slots=True)
class RoutedAlert:
    """An alert (stored: id set) with the site it concerns, its matching chains, and why it is suppressed."""

    alert: AlertRecord
    site_code: str
    chains: tuple[EscalationChain, ...]
    suppressed_by: str | None = None

    @property
    def alert_id(self) -> int:
        """The stored alert's id."""
        if self.alert.id is None:
            raise ValueError("plan only stored alerts (id set)")
        return self.alert.id


@dataclass(frozen=True, slots=True)
class PlannedNotification:
    """One SMS to write to the outbox now (status 'pending'), or to record as 'suppressed'."""

    recipient: Recipient
    alert_ids: tuple[int, ...]
    site_code: str
    reason: NotifyReason
    status: Literal["pending", "suppressed"]
    suppressed_by: str | None
    step_position: int


@dataclass(frozen=True, slots=True)
class Plan:
    """What is due now, which alerts reached a further escalation step, and when to plan again.

    `next_due_at` assumes the planned notifications are written; None: nothing is pending in time.
    """

    notifications: tuple[PlannedNotification, ...]
    escalations: tuple[tuple[int, int], ...]  # (alert id, step position reached)
    next_due_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Due:
    routed: RoutedAlert
    recipient: Recipient
    position: int
    reason: NotifyReason


@dataclass
class _Work:
    """The planner's running state for one call."""

    latest: dict[tuple[int, int], SentNotification]  # by (recipient id, alert id)
    failed: dict[int, list[SentNotification]]  # failed entries by alert id (they move escalation on)
    site_times: dict[tuple[int, str], list[datetime]]  # by (recipient id, site): when messages went
    now: datetime
    policy: NotifyPolicy
    due: list[_Due]
    wake: list[datetime]


def plan_notifications(
    alerts: Sequence[RoutedAlert], sent: Sequence[SentNotification], now: datetime, policy: NotifyPolicy
) -> Plan:
    """Plan the messages due now for these alerts (active ones, and resolved ones for resolution notices)."""
    work = _Work(last_sent_by_alert(list(sent)), _failed_by_alert(sent), _times_by_site(sent), now, policy, [], [])
    for routed in alerts:
        for chain in routed.chains:
            _plan_chain(work, routed, chain)
    notifications = _group(work)
    return Plan(notifications, _escalations(alerts, work.failed, now), min(work.wake, default=None))


def _failed_by_alert(sent: Sequence[SentNotification]) -> dict[int, list[SentNotification]]:
    failed: dict[int, list[SentNotification]] = {}
    for entry in sent:
        if entry.status in FAILED_STATUSES:
            failed.setdefault(entry.alert_id, []).append(entry)
    return failed


def _times_by_site(sent: Sequence[SentNotification]) -> dict[tuple[int, str], list[datetime]]:
    times: dict[tuple[int, str], list[datetime]] = {}
    for entry in sent:
        if entry.status != "suppressed":
            times.setdefault((entry.recipient_id, entry.site_code), []).append(entry.time)
    return times


def _plan_chain(work: _Work, routed: RoutedAlert, chain: EscalationChain) -> None:
    alert = routed.alert
    if alert.state not in UNACKNOWLEDGED_STATES:
        if alert.state in ENDED_STATES and work.policy.resolution_notices:
            _plan_resolution(work, routed, chain)
        return
    for step in chain.steps:
        step_at = step_due_at(alert, chain, step, work.failed.get(routed.alert_id, []))
        for recipient in step.recipients:
            if recipient.active:
                _plan_recipient(work, routed, chain, step, recipient, step_at)


def _plan_recipient(
    work: _Work, routed: RoutedAlert, chain: EscalationChain, step: EscalationStep, recipient: Recipient,
    step_at: datetime,
) -> None:
    last = work.latest.get((recipient.id, routed.alert_id))
    told = last is not None
    if step_at > work.now:
        if not told:
            work.wake.append(step_at)
        return
    reason = needs_notification(last, routed.alert, chain.repeat_interval_seconds, work.now)
    if last is not None and last.status == "suppressed" and routed.suppressed_by is None:
        reason = "new"  # the maintenance window or silence is over and the alert is still open: tell them now
    if reason == "none":
        if last is not None:
            work.wake.append(last.time + timedelta(seconds=chain.repeat_interval_seconds))
        return
    if reason == "new" and step.position > 0:
        reason = "escalation"
    work.due.append(_Due(routed, recipient, step.position, reason))
    # Assuming the message is written now, the next reminder to this recipient falls due one interval on.
    work.wake.append(work.now + timedelta(seconds=chain.repeat_interval_seconds))


def _plan_resolution(work: _Work, routed: RoutedAlert, chain: EscalationChain) -> None:
    for step in chain.steps:
        for recipient in step.recipients:
            last = work.latest.get((recipient.id, routed.alert_id))
            if needs_notification(last, routed.alert, chain.repeat_interval_seconds, work.now) == "resolved":
                work.due.append(_Due(routed, recipient, step.position, "resolved"))


def step_due_at(
    alert: AlertRecord, chain: EscalationChain, step: EscalationStep, sent: Sequence[SentNotification]
) -> datetime:
    """When a step is reached: its delay after the wait began, or at once after a permanent failure before it."""
    due = alert.unacknowledged_since + timedelta(seconds=step.delay_seconds)
    previous = [s for s in chain.steps if s.position < step.position]
    # Only the step just before: a failure moves the alert one step on, not to the end of the chain.
    earlier = {r.id for r in max(previous, key=lambda s: s.position).recipients} if previous else set()
    failures = [
        s.time for s in sent
        if s.alert_id == alert.id and s.status in FAILED_STATUSES and s.recipient_id in earlier
    ]
    return min([due, *failures])


def _escalations(
    alerts: Sequence[RoutedAlert], failed: dict[int, list[SentNotification]], now: datetime
) -> tuple[tuple[int, int], ...]:
    reached: list[tuple[int, int]] = []
    for routed in alerts:
        alert = routed.alert
        if alert.state not in UNACKNOWLEDGED_STATES:
            continue
        levels = [
            step.position for chain in routed.chains for step in chain.steps
            if step_due_at(alert, chain, step, failed.get(routed.alert_id, [])) <= now
        ]
        if levels and max(levels) > alert.escalation_level:
            reached.append((routed.alert_id, max(levels)))
    return tuple(reached)


def _group(work: _Work) -> tuple[PlannedNotification, ...]:
    """One SMS per recipient, site, reason and status; new ones wait if the recipient just heard of the site."""
    groups: dict[tuple[int, str, str, str | None], list[_Due]] = {}
    for due in _unique(work.due):
        key = (due.recipient.id, due.routed.site_code, due.reason, due.routed.suppressed_by)
        groups.setdefault(key, []).append(due)
    planned: list[PlannedNotification] = []
    for members in groups.values():
        held_until = _held_until(work, members[0])
        if held_until is not None:
            work.wake.append(held_until)
        else:
            planned.append(_planned(members))
    return tuple(planned)


def _unique(dues: list[_Due]) -> list[_Due]:
    """One entry per recipient and alert (several chains or steps may name the same person): the earliest step."""
    best: dict[tuple[int, int], _Due] = {}
    for due in dues:
        key = (due.recipient.id, due.routed.alert_id)
        if key not in best or due.position < best[key].position:
            best[key] = due
    return sorted(best.values(), key=lambda d: (d.routed.alert.opened_at, d.routed.alert_id))


def _held_until(work: _Work, due: _Due) -> datetime | None:
    """For a new message: the end of the grouping window opened by a recent message about the same site."""
    if due.reason != "new" or due.routed.suppressed_by is not None:
        return None
    window = timedelta(seconds=work.policy.group_window_seconds)
    times = work.site_times.get((due.recipient.id, due.routed.site_code), [])
    recent = [t for t in times if work.now - window < t <= work.now]
    return max(recent) + window if recent else None


def _planned(members: list[_Due]) -> PlannedNotification:
    first = members[0]
    return PlannedNotification(
        recipient=first.recipient,
        alert_ids=tuple(m.routed.alert_id for m in members),
        site_code=first.routed.site_code,
        reason=first.reason,
        status="suppressed" if first.routed.suppressed_by else "pending",
        suppressed_by=first.routed.suppressed_by,
        step_position=min(m.position for m in members),
    )


def sent_entries(
    planned: PlannedNotification, alerts: dict[int, AlertRecord], time: datetime
) -> list[SentNotification]:
    """The history entries a planned notification adds once written (one per alert it covers)."""
    return [
        SentNotification(
            recipient_id=planned.recipient.id, alert_id=alert_id, key=alerts[alert_id].key,
            site_code=planned.site_code, reason=planned.reason, severity=alerts[alert_id].severity,
            time=time, status=planned.status, detail=planned.suppressed_by,
        )
        for alert_id in planned.alert_ids
    ]
