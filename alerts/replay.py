"""`envmon replay`: the same engine, lifecycle and notification planner over a CSV, in simulated time.

No database and no broker: alerts, their ids and codes, and the notification history live in memory.
Every transition and every SMS that would be sent is one JSON object on a line, so users backtest new
limits on history. The clock is the data's: each batch is evaluated at its last reading's time, and
timers tick every `tick_seconds` of simulated time between batches (silent devices, closed hours,
escalations and reminders).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TextIO

from alerts.batch import ReplayInputError, batch_end, batch_from_csv
from alerts.lifecycle import AlertRecord, Disposition, acknowledge, alert_code, on_transition
from alerts.model import AlertKey, Transition
from alerts.notify.dedup import SentNotification
from alerts.notify.directory import RoutingData
from alerts.notify.escalation import NotifyPolicy, sent_entries
from alerts.notify.heard import NO_RECIPIENT, NoticeFact, silent_alerts
from alerts.notify.routing import EscalationChain, EscalationStep, Recipient
from alerts.planner import plan_step
from alerts.rules.engine import Engine
from alerts.rules.policy import Policy
from alerts.rules.registry import EngineRegistry, from_registry
from envmon.catalogue import load_catalogue
from envmon.registry.load import Registry

Line = dict[str, Any]


def chains_of(reg: Registry) -> tuple[EscalationChain, ...]:
    """The registry file's escalation chains, recipients numbered 1..n in file order."""
    people = {r.code: Recipient(i + 1, r.code, r.name, r.phone, r.locale) for i, r in enumerate(reg.file.recipients)}
    return tuple(
        EscalationChain(
            id=i + 1, code=c.code, repeat_interval_seconds=c.repeat_interval_seconds,
            steps=tuple(EscalationStep(p, s.delay_seconds, tuple(people[r] for r in s.recipients))
                        for p, s in enumerate(c.steps)),
            districts=frozenset(c.districts), industries=frozenset(c.industries), site_codes=frozenset(c.sites),
            categories=frozenset(c.categories), severities=frozenset(c.severities),
        )
        for i, c in enumerate(reg.file.escalation_chains)
    )


class Replay:
    """The in-memory twin of the alert service."""

    def __init__(self, reg: Registry, policy: Policy, *, zone: Any, notify: NotifyPolicy | None = None) -> None:
        self.registry: EngineRegistry = from_registry(reg)
        self.engine = Engine(self.registry, policy)
        site_of = {d.device_id: i for i, d in enumerate(self.registry.devices.values())}
        self.routing = RoutingData(chains_of(reg), site_of, (), ())
        self._zone = zone
        self._notify = notify or NotifyPolicy()
        self._alerts: dict[AlertKey, AlertRecord] = {}
        self._by_id: dict[int, AlertRecord] = {}
        self._sent: list[SentNotification] = []
        self._unheard: dict[int, str] = {}  # alert id -> why nobody can be told (no recipient)
        self._ids = itertools.count(1)
        self._units = {p.code: p.canonical_unit for p in load_catalogue().pollutants}

    def run(self, source: Iterable[str], *, tick_seconds: float = 1.0) -> Iterator[Line]:
        """Replay a CSV; yields the output lines in time order."""
        clock: datetime | None = None
        for batch in batch_from_csv(source, self.registry.device_ids_by_mn(), step_seconds=tick_seconds):
            now = batch_end(batch)
            if clock is not None:
                yield from self._ticks_until(clock, now, tick_seconds)
            yield from self._step(self.engine.evaluate(batch, now), now)
            clock = now

    def _ticks_until(self, clock: datetime, end: datetime, tick_seconds: float) -> Iterator[Line]:
        step = timedelta(seconds=tick_seconds)
        while clock + step < end:
            clock += step
            yield from self._step(self.engine.tick(clock), clock)

    def _step(self, transitions: list[Transition], now: datetime) -> Iterator[Line]:
        for t in transitions:
            yield from self._apply(t, now)
        yield from self._plan(now)

    def _apply(self, t: Transition, now: datetime) -> Iterator[Line]:
        current = self._alerts.get(t.key)
        outcome = on_transition(current, t, now)
        record = outcome.record
        if record is None or (record == current and not outcome.events):
            return
        if record.id is None:
            alert_id = next(self._ids)
            record = replace(record, id=alert_id, code=alert_code(alert_id))
        self._keep(record)
        yield self._transition_line(t, record)

    def _keep(self, record: AlertRecord) -> None:
        assert record.id is not None
        self._by_id[record.id] = record
        if record.is_active:
            self._alerts[record.key] = record
        else:
            self._alerts.pop(record.key, None)

    def _plan(self, now: datetime) -> Iterator[Line]:
        active = {a.id: a for a in self._alerts.values() if a.id is not None}
        if not active:
            return
        plan = plan_step(active, self.registry.devices, self.routing, self._sent, now, policy=self._notify,
                         zone=self._zone)
        for alert_id in plan.unheard:
            self._unheard.setdefault(alert_id, NO_RECIPIENT)
        for _, outcome in plan.escalations:
            assert outcome.record is not None
            self._keep(outcome.record)
        for message in plan.messages:
            planned = message.planned
            self._sent += sent_entries(planned, self._by_id, now)
            for alert in (self._by_id[i] for i in planned.alert_ids):
                yield self._notification_line(alert, planned.recipient, planned.reason, planned.status,
                                              message.body, now)

    def acknowledge(self, code: str, *, actor: str, disposition: Disposition, now: datetime) -> AlertRecord:
        """A person acknowledges an alert between two runs (what-if replays, tests of the lifecycle)."""
        record = next((r for r in self._by_id.values() if r.code == code), None)
        if record is None:
            raise ReplayInputError(f"no alert {code!r} in this replay")
        acked = acknowledge(record, actor=actor, disposition=disposition, note=None, now=now).record
        assert acked is not None
        self._keep(acked)
        return acked

    def silent_alerts(self, now: datetime, grace_seconds: float) -> list[AlertRecord]:
        """Open pollution and safety alerts nobody was told of, with no reason recorded (alerts/notify/heard.py)."""
        notices = [NoticeFact(s.alert_id, s.status, s.detail) for s in self._sent]
        notices += [NoticeFact(i, "suppressed", reason) for i, reason in self._unheard.items()]
        return silent_alerts(self._alerts.values(), notices, now, grace_seconds)

    def _base(self, record: AlertRecord, time: datetime) -> Line:
        device = self.registry.devices[record.key.device_id]
        return {
            "time": time.isoformat(), "device": device.mn, "site": device.site_code,
            "pollutant": record.key.pollutant, "rule": record.key.rule, "level": record.severity,
            "state": record.state, "alert": record.code, "limit": record.limit_value,
            "unit": self._units.get(record.key.pollutant),
        }

    def _transition_line(self, t: Transition, record: AlertRecord) -> Line:
        return {"kind": "transition", **self._base(record, t.time), "transition": t.kind, "value": t.value}

    def _notification_line(
        self, record: AlertRecord, recipient: Recipient, reason: str, status: str, body: str, now: datetime
    ) -> Line:
        return {
            "kind": "notification", **self._base(record, now), "value": record.last_value,
            "recipient": recipient.code, "phone": recipient.phone, "reason": reason, "status": status, "body": body,
        }


def write_lines(lines: Iterator[Line], out: TextIO) -> int:
    """Print each line as compact JSON; returns how many."""
    count = 0
    for line in lines:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        count += 1
    return count


def narrow_registry(reg: Registry, *, devices: Iterable[str] = (), sites: Iterable[str] = ()) -> Registry:
    """The registry with only the devices named (by MN) or at the plants named; everything when none are.

    A replay of one device then neither expects readings from the others nor reports them silent.
    """
    mns, codes = set(devices), set(sites)
    if not mns and not codes:
        return reg
    kept = [d for d in reg.file.devices if d.mn in mns or d.site in codes]
    missing = mns - {d.mn for d in kept} | codes - {s.code for s in reg.file.sites}
    if missing:
        raise ReplayInputError(f"not in the registry: {', '.join(sorted(missing))}")
    names = {d.mn for d in kept}
    limits = [lim for lim in reg.file.limits if lim.device is None or lim.device in names]
    return replace(reg, file=reg.file.model_copy(update={"devices": kept, "limits": limits}))


def lines_of_devices(source: Iterable[str], mns: set[str]) -> Iterator[str]:
    """The header and the CSV lines whose device column (the second) is one of `mns`."""
    lines = iter(source)
    header = next(lines, None)
    if header is None:
        return
    yield header
    for line in lines:
        # MN codes and ISO times hold no commas or quotes, so the second field is the text between the commas.
        fields = line.split(",", 2)
        if len(fields) > 1 and fields[1].strip() in mns:
            yield line
