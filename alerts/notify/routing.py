"""Routing: which escalation chains an alert follows, who is on each step, and what suppresses sending.

Chains mirror `escalation_chains` / `escalation_steps`; a chain matches an alert when each of its lists
(districts, industries, sites, categories, severities) is empty or contains the alert's value.
Maintenance windows (`maintenance_windows`) and silences record notifications as 'suppressed' instead of
sending them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from envmon.catalogue import Locale


@dataclass(frozen=True, slots=True)
class Recipient:
    """One `recipients` row."""

    id: int
    code: str
    name: str
    phone: str
    locale: Locale = "zh-CN"
    active: bool = True


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """One step of a chain: who is notified, how long after the alert began to wait for a person."""

    position: int
    delay_seconds: int
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True, slots=True)
class EscalationChain:
    """One `escalation_chains` row with its steps in position order; empty match lists mean any."""

    id: int
    code: str
    repeat_interval_seconds: int
    steps: tuple[EscalationStep, ...]
    districts: frozenset[str] = frozenset()
    industries: frozenset[str] = frozenset()
    site_codes: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AlertScope:
    """What routing needs to know about an alert and its plant."""

    district: str
    industry: str
    site_code: str
    site_id: int | None
    device_id: int
    pollutant: str
    rule: str
    category: str
    severity: str


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """One `maintenance_windows` row: a whole site (device_id None) or one device, [starts_at, ends_at)."""

    site_id: int | None
    device_id: int | None
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Silence:
    """A person's silence: alerts matching every non-empty field are recorded, not sent, until ends_at."""

    ends_at: datetime
    reason: str
    site_codes: frozenset[str] = frozenset()
    device_ids: frozenset[int] = frozenset()
    pollutants: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    starts_at: datetime | None = None


def _allows(values: frozenset[str], value: str) -> bool:
    return not values or value in values


def chain_matches(chain: EscalationChain, scope: AlertScope) -> bool:
    """True if the chain takes alerts of this scope (every non-empty list contains the alert's value)."""
    return (
        _allows(chain.districts, scope.district)
        and _allows(chain.industries, scope.industry)
        and _allows(chain.site_codes, scope.site_code)
        and _allows(chain.categories, scope.category)
        and _allows(chain.severities, scope.severity)
    )


def match_chains(chains: Iterable[EscalationChain], scope: AlertScope) -> tuple[EscalationChain, ...]:
    """Every chain the alert follows, in the order given (all of them notify)."""
    return tuple(chain for chain in chains if chain_matches(chain, scope))


def step_recipients(chain: EscalationChain, position: int) -> tuple[Recipient, ...]:
    """The active recipients of one step (an inactive recipient is skipped, not escalated past)."""
    for step in chain.steps:
        if step.position == position:
            return tuple(r for r in step.recipients if r.active)
    return ()


def _window_applies(window: MaintenanceWindow, scope: AlertScope, now: datetime) -> bool:
    if not window.starts_at <= now < window.ends_at:
        return False
    if window.device_id is not None:
        return window.device_id == scope.device_id
    return window.site_id is not None and window.site_id == scope.site_id


def _silence_applies(silence: Silence, scope: AlertScope, now: datetime) -> bool:
    if now >= silence.ends_at or (silence.starts_at is not None and now < silence.starts_at):
        return False
    return (
        _allows(silence.site_codes, scope.site_code)
        and (not silence.device_ids or scope.device_id in silence.device_ids)
        and _allows(silence.pollutants, scope.pollutant)
        and _allows(silence.rules, scope.rule)
    )


def suppression_reason(
    scope: AlertScope, windows: Sequence[MaintenanceWindow], silences: Sequence[Silence], now: datetime
) -> str | None:
    """Why notifications of this alert are recorded but not sent now (None: send them)."""
    for window in windows:
        if _window_applies(window, scope, now):
            return f"maintenance: {window.reason}"
    for silence in silences:
        if _silence_applies(silence, scope, now):
            return f"silenced: {silence.reason}"
    return None
