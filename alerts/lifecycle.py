"""The alert lifecycle: engine transitions and people's actions in, the new alert record and its events out.

States: open -> escalated -> acknowledged -> resolved -> closed. Latching severities (envmon.domain.LATCHING_SEVERITIES)
keep an alert open after its condition clears until a person acknowledges it; an acknowledged alert whose
condition has cleared is resolved. Every function is pure: it takes the record and `now`, and returns an
`Outcome` (the new record, the `alert_events` rows to write, and what to announce) for the store to persist.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from alerts.errors import AlertsError
from alerts.model import AlertKey, Transition
from envmon.domain import (
    ACTIVE_STATES,
    LATCHING_SEVERITIES,
    SEVERITY_RANK,
    UNACKNOWLEDGED_STATES,
    AlertState,
    Category,
    Severity,
)

Disposition = Literal["confirmed", "false_alarm", "device_fault", "enforcement_case"]
DISPOSITIONS: tuple[Disposition, ...] = ("confirmed", "false_alarm", "device_fault", "enforcement_case")
NotifyKind = Literal["open", "severity", "resolved"]
ENGINE_ACTOR = "engine"


class LifecycleError(AlertsError):
    """An action that the alert's state does not allow (e.g. closing an unacknowledged exceedance)."""


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert as the `alerts` row holds it (plus the lifecycle fields the store keeps in engine_state).

    `id` and `code` are None until the store inserts the row; the store sets `code = alert_code(id)`.
    `latched` is true once the alert reached a latching severity; `unacknowledged_since` is when the current
    wait for a person began (the opening, or a severity rise after an acknowledgement): escalation delays
    count from it.
    """

    id: int | None
    code: str | None
    key: AlertKey
    category: Category
    severity: Severity
    state: AlertState
    opened_at: datetime
    first_breach_at: datetime
    unacknowledged_since: datetime
    condition_active: bool = True
    latched: bool = False
    escalation_level: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    disposition: Disposition | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    peak_value: float | None = None
    peak_at: datetime | None = None
    last_value: float | None = None
    limit_value: float | None = None
    limit_id: int | None = None
    # The engine's latest detail (over_range, prewarning_of, flags per pollutant, early): words need it.
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        """True while the alert holds its (device, pollutant, rule) slot."""
        return self.state in ACTIVE_STATES


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One `alert_events` row: a state change or a notable change within a state."""

    time: datetime
    from_state: AlertState | None
    to_state: AlertState
    actor: str
    reason: str
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a lifecycle step: the record to store (None: nothing exists), events, what to announce."""

    record: AlertRecord | None
    events: tuple[AlertEvent, ...] = ()
    notify: NotifyKind | None = None


def on_transition(record: AlertRecord | None, t: Transition, now: datetime) -> Outcome:
    """Apply one engine transition to the alert of its key (None or an inactive record: no alert is open)."""
    if record is None or not record.is_active:
        return _open(t, now) if t.kind in ("open", "severity") else Outcome(record)
    if t.kind == "open" and t.severity != record.severity:  # it came back at another level
        return _severity_changed(record, t, now)
    if t.kind == "open":
        return _condition_returned(record, t)
    if t.kind == "severity":
        return _severity_changed(record, t, now)
    if t.kind == "clear":
        return _condition_cleared(record, t, now)
    return Outcome(_with_values(record, t))


def _open(t: Transition, now: datetime) -> Outcome:
    record = AlertRecord(
        id=None, code=None, key=t.key, category=t.category, severity=t.severity, state="open",
        opened_at=now, first_breach_at=t.first_breach_at, unacknowledged_since=now,
        latched=is_latching(t), limit_value=t.limit_value, limit_id=t.limit_id,
    )
    detail: dict[str, object] = {"severity": t.severity, "value": t.value, "limit": t.limit_value}
    event = AlertEvent(now, None, "open", ENGINE_ACTOR, "opened", detail)
    return Outcome(_with_values(record, t), (event,), "open")


def is_latching(t: Transition) -> bool:
    """Only a legal judgement latches: an exceedance of a limit on the basis it is set for, or a gas alarm.

    A pre-warning (an instantaneous value against an hourly/daily limit) never does, whatever its value.
    """
    return t.severity in LATCHING_SEVERITIES and not t.detail.get("prewarning_of")


def _with_values(record: AlertRecord, t: Transition) -> AlertRecord:
    """The record with the transition's latest value, detail and limit, and a higher peak, if any."""
    peak_value, peak_at = record.peak_value, record.peak_at
    if t.peak_value is not None and (peak_value is None or t.peak_value > peak_value):
        peak_value, peak_at = t.peak_value, t.peak_at
    last_value = t.value if t.value is not None else record.last_value
    limit_value = t.limit_value if t.limit_value is not None else record.limit_value
    detail = {**record.detail, **t.detail} if t.detail else record.detail
    return replace(record, peak_value=peak_value, peak_at=peak_at, last_value=last_value, limit_value=limit_value,
                   detail=detail)


def _condition_returned(record: AlertRecord, t: Transition) -> Outcome:
    """The condition came back while the alert is still open: the same alert, no new message."""
    updated = replace(_with_values(record, t), condition_active=True)
    if record.condition_active:
        return Outcome(updated)
    event = AlertEvent(t.time, record.state, record.state, ENGINE_ACTOR, "condition_returned", {"value": t.value})
    return Outcome(updated, (event,))


def _severity_changed(record: AlertRecord, t: Transition, now: datetime) -> Outcome:
    """A severity change; a rise is announced, and a rise after acknowledgement needs a new one."""
    rising = SEVERITY_RANK[t.severity] > SEVERITY_RANK[record.severity]
    updated = replace(
        _with_values(record, t), severity=t.severity, condition_active=True,
        latched=record.latched or is_latching(t),
    )
    if rising and record.state == "acknowledged":
        updated = replace(updated, state="open", unacknowledged_since=now)
    reason = "severity_raised" if rising else "severity_lowered"
    detail: dict[str, object] = {"from": record.severity, "to": t.severity, "value": t.value}
    event = AlertEvent(now, record.state, updated.state, ENGINE_ACTOR, reason, detail)
    return Outcome(updated, (event,), "severity" if rising else None)


def _condition_cleared(record: AlertRecord, t: Transition, now: datetime) -> Outcome:
    """The condition cleared: resolve, unless the alert is latched and nobody has acknowledged it yet."""
    cleared = replace(_with_values(record, t), condition_active=False)
    if record.latched and record.state != "acknowledged":
        event = AlertEvent(now, record.state, record.state, ENGINE_ACTOR, "condition_cleared_latched")
        return Outcome(cleared, (event,))
    return _resolved(cleared, ENGINE_ACTOR, "condition_cleared", now)


def _resolved(record: AlertRecord, actor: str, reason: str, now: datetime) -> Outcome:
    event = AlertEvent(now, record.state, "resolved", actor, reason)
    return Outcome(replace(record, state="resolved", resolved_at=now), (event,), "resolved")


def acknowledge(
    record: AlertRecord, *, actor: str, disposition: Disposition, note: str | None, now: datetime
) -> Outcome:
    """A person acknowledges with a disposition; a latched alert whose condition cleared is resolved."""
    if disposition not in DISPOSITIONS:
        raise LifecycleError(f"unknown disposition {disposition!r}")
    if record.state == "acknowledged" or (record.state == "resolved" and record.disposition is not None):
        return Outcome(record)  # a repeated reply or click changes nothing
    if record.state == "closed":
        raise LifecycleError(f"alert {record.code} is closed")
    acked = replace(record, acknowledged_at=now, acknowledged_by=actor, disposition=disposition)
    detail: dict[str, object] = {"disposition": disposition, "note": note}
    if record.state == "resolved":  # a disposition given afterwards, e.g. marking a warning a false alarm
        return Outcome(acked, (AlertEvent(now, "resolved", "resolved", actor, "disposition", detail),))
    event = AlertEvent(now, record.state, "acknowledged", actor, "acknowledged", detail)
    acked = replace(acked, state="acknowledged")
    if record.condition_active:
        return Outcome(acked, (event,))
    done = _resolved(acked, actor, "acknowledged_after_clear", now)
    return Outcome(done.record, (event, *done.events), done.notify)


def escalate(record: AlertRecord, *, level: int, now: datetime) -> Outcome:
    """The escalation planner reached step `level` of the chain while nobody acknowledged."""
    if record.state not in UNACKNOWLEDGED_STATES or level <= record.escalation_level:
        return Outcome(record)
    event = AlertEvent(now, record.state, "escalated", ENGINE_ACTOR, "escalated", {"level": level})
    return Outcome(replace(record, state="escalated", escalation_level=level), (event,))


def resolve(record: AlertRecord, *, actor: str, reason: str, now: datetime) -> Outcome:
    """A person resolves an alert by hand; a latched alert must be acknowledged (have a disposition) first."""
    if not record.is_active:
        return Outcome(record)
    if record.latched and record.disposition is None:
        raise LifecycleError(f"alert {record.code} is latched: acknowledge it with a disposition first")
    return _resolved(record, actor, reason, now)


def close(record: AlertRecord, *, actor: str, reason: str, now: datetime) -> Outcome:
    """Close a resolved alert (the file is done); closing an active alert resolves it first."""
    if record.state == "closed":
        return Outcome(record)
    resolved = resolve(record, actor=actor, reason=reason, now=now)
    assert resolved.record is not None
    event = AlertEvent(now, "resolved", "closed", actor, reason)
    return Outcome(replace(resolved.record, state="closed", closed_at=now), (*resolved.events, event), resolved.notify)


# Alert codes people type in an SMS reply: no 0/O, 1/I/L, U/V look-alikes; 29 symbols, a prime, so a
# position-weighted check character catches every single wrong character and every swap of neighbours.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
_BASE = len(CODE_ALPHABET)
_MIN_DATA_CHARS = 5  # 29**5 = 20.5 million alerts before codes grow by a character
# Spreads consecutive ids over the code space so neighbouring alerts do not differ in one character only.
_SCRAMBLE = 7_368_787


def _data_chars(alert_id: int) -> int:
    n = _MIN_DATA_CHARS
    while alert_id >= _BASE**n:
        n += 1
    return n


def _check_char(values: list[int]) -> str:
    return CODE_ALPHABET[sum((i + 1) * v for i, v in enumerate(values)) % _BASE]


def alert_code(alert_id: int) -> str:
    """The short code of an alert (6 characters up to 20 million alerts): data characters plus a check."""
    if alert_id < 0:
        raise LifecycleError("alert ids are not negative")
    n = _data_chars(alert_id)
    number = alert_id * _SCRAMBLE % _BASE**n
    values = [(number // _BASE**i) % _BASE for i in reversed(range(n))]
    return "".join(CODE_ALPHABET[v] for v in values) + _check_char(values)


def parse_alert_code(text: str) -> int | None:
    """The alert id of a code as people type it (any case, spaces ignored); None if it is not a valid code."""
    code = "".join(text.split()).upper()
    if len(code) < _MIN_DATA_CHARS + 1 or any(c not in CODE_ALPHABET for c in code):
        return None
    values = [CODE_ALPHABET.index(c) for c in code[:-1]]
    if _check_char(values) != code[-1]:
        return None
    n = len(values)
    number = sum(v * _BASE ** (n - 1 - i) for i, v in enumerate(values))
    alert_id = number * pow(_SCRAMBLE, -1, _BASE**n) % _BASE**n
    return alert_id if _data_chars(alert_id) == n else None
