"""The notification plan of one alert step, pure: active alerts, routing, what was sent and `now` in; a plan out.

Live (alerts/processor.py) and replay (alerts/replay.py) use the same plan, so a replay says what the live
platform should have sent. The caller reads its inputs and writes the plan (alert rows, outbox rows, the
unheard reasons) in its own transaction; nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.lifecycle import AlertRecord, Outcome, escalate
from alerts.model import DeviceSpec
from alerts.notify.dedup import SentNotification
from alerts.notify.directory import RoutingData
from alerts.notify.escalation import NotifyPolicy, PlannedNotification, plan_notifications
from alerts.notify.heard import unrouted
from alerts.notify.outbox import OutboxRow
from alerts.notify.render import render_group_sms
from alerts.platform import Episode, hold_back
from envmon.domain import SEVERITY_RANK

# (alert id, now, the recipient's locale) -> the report link to text them, in their language.
# A link per SMS opens the report of the message's first alert.
LinkMaker = Callable[[int, datetime, str], str | None]


def no_link(alert_id: int, now: datetime, locale: str) -> str | None:
    """No report link (replay, or no public address)."""
    return None


@dataclass(frozen=True)
class Message:
    """One planned SMS (or a recorded, suppressed one) with its text."""

    planned: PlannedNotification
    body: str


@dataclass(frozen=True)
class StepPlan:
    """What to write after a step: escalations to store, alerts nobody can be told of, and the messages."""

    escalations: tuple[tuple[int, Outcome], ...]  # (alert id, its escalation), in plan order
    alerts: Mapping[int, AlertRecord]  # the active alerts as they are after the escalations
    unheard: tuple[int, ...]  # alert ids no chain routes to an active recipient (reason NO_RECIPIENT)
    messages: tuple[Message, ...]

    def outbox_rows(self) -> list[OutboxRow]:
        """The outbox rows of the messages, each with the worst severity of the alerts it tells of."""
        return [_outbox_row(m, self.alerts) for m in self.messages]


def select_active(
    alerts: Iterable[AlertRecord], devices: Mapping[int, DeviceSpec], sites: set[str] | None
) -> dict[int, AlertRecord]:
    """The stored alerts of this engine's devices, of these plants (None: all), by id."""
    return {
        a.id: a for a in alerts
        if a.id is not None and a.key.device_id in devices
        and (sites is None or devices[a.key.device_id].site_code in sites)
    }


def sent_lookback(routing: RoutingData) -> timedelta:
    """How far back sent messages matter: the longest repeat interval of any chain."""
    return timedelta(seconds=max((c.repeat_interval_seconds for c in routing.chains), default=0))


def plan_step(
    active: Mapping[int, AlertRecord], devices: Mapping[int, DeviceSpec], routing: RoutingData,
    sent: Sequence[SentNotification], now: datetime, *, policy: NotifyPolicy, zone: ZoneInfo,
    fault: Episode | None = None, link: LinkMaker = no_link,
) -> StepPlan:
    """Route the active alerts (holding back what an open platform fault covers), plan what is due now,
    escalate, and render each message from the alerts as they are after the escalations."""
    routed = [hold_back(routing.route(a, devices[a.key.device_id], now), devices[a.key.device_id].district, fault)
              for a in active.values()]
    plan = plan_notifications(routed, sent, now, policy)
    current = dict(active)
    escalations = []
    for alert_id, level in plan.escalations:
        outcome = escalate(current[alert_id], level=level, now=now)
        escalations.append((alert_id, outcome))
        current[alert_id] = outcome.record or current[alert_id]
    messages = tuple(_message(p, current, devices, now, zone, link) for p in plan.notifications)
    unheard = tuple(r.alert_id for r in unrouted(routed))
    return StepPlan(tuple(escalations), current, unheard, messages)


def _message(
    planned: PlannedNotification, alerts: Mapping[int, AlertRecord], devices: Mapping[int, DeviceSpec],
    now: datetime, zone: ZoneInfo, link: LinkMaker,
) -> Message:
    told = [(alerts[i], devices[alerts[i].key.device_id]) for i in planned.alert_ids]
    locale = planned.recipient.locale
    body = render_group_sms(told, locale=locale, zone=zone, link=link(planned.alert_ids[0], now, locale),
                            reason=planned.reason)
    return Message(planned, body)


def _outbox_row(message: Message, alerts: Mapping[int, AlertRecord]) -> OutboxRow:
    planned = message.planned
    worst = max((alerts[i] for i in planned.alert_ids), key=lambda a: SEVERITY_RANK[a.severity])
    return OutboxRow(
        alert_ids=planned.alert_ids, recipient_id=planned.recipient.id, phone=planned.recipient.phone,
        body=message.body, reason=planned.reason, severity=worst.severity, status=planned.status,
        escalation_step=planned.step_position, detail=planned.suppressed_by,
    )
