"""Platform faults: when envmon itself is blind, as a pure function of heartbeats, district silence and `now`.

Causes: an expected service (ingest, the alert engine) has no fresh heartbeat from an active instance
(`service_down`) or reports itself unhealthy (`service_unhealthy`); most devices of a district fell silent
at once (`district_silent`: at least `district_min_silent_devices` and `district_silent_fraction` of the
devices that reported in the last day), which is a network or platform fault, not many device faults.
One fault episode at a time: it opens with the first cause (one SMS to the on-call administrators), takes
in further causes quietly, and resolves once no cause was seen for `recovery_hold_seconds` (one more SMS).
While it is open, device alerts that silence raises (silent, seq_gap) in the affected districts (all of
them when ingest is down) are recorded as suppressed with reason platform_fault instead of texting every
inspector about every device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from alerts.notify.escalation import RoutedAlert
from alerts.notify.heard import PLATFORM_FAULT
from envmon.heartbeat import FAILING

# Device alerts that a platform or network fault raises by itself: held back while a fault is open.
FAULT_SUPPRESSED_RULES: frozenset[str] = frozenset({"silent", "seq_gap"})
CauseKind = Literal["service_down", "service_unhealthy", "district_silent"]
Decision = Literal["none", "open", "update", "calm", "recover"]


@dataclass(frozen=True, slots=True)
class WatchdogPolicy:
    """What counts as a platform fault, and how long calm must last before recovery is announced."""

    services: tuple[str, ...] = ("ingest", "alerts")
    stale_seconds: float = 30.0
    district_silent_fraction: float = 0.5
    district_min_silent_devices: int = 3
    recovery_hold_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Beat:
    """One `service_heartbeats` row."""

    service: str
    instance: str
    role: str
    ok: bool
    beat_at: datetime
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DistrictSilence:
    """How many of a district's recently reporting devices are silent now."""

    district: str
    silent: int
    total: int


@dataclass(frozen=True, slots=True)
class Cause:
    """One reason the platform is blind; `subject` is the service or the district."""

    kind: CauseKind
    subject: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Episode:
    """A platform fault (id None until stored); `districts` whose device alerts are held back."""

    id: int | None
    opened_at: datetime
    causes: tuple[Cause, ...]
    districts: frozenset[str] = frozenset()
    all_districts: bool = False
    calm_since: datetime | None = None
    resolved_at: datetime | None = None

    def holds_back(self, district: str) -> bool:
        """True if device alerts of this district are recorded, not sent, while the fault lasts."""
        return self.resolved_at is None and (self.all_districts or district in self.districts)


def _service_of(name: str, expected: str) -> bool:
    return name == expected or name.startswith(expected + ":")  # "alerts:<district>" is a sharded engine


def service_causes(beats: Iterable[Beat], policy: WatchdogPolicy, now: datetime) -> list[Cause]:
    """A cause for each expected service (each shard of it) with no fresh, healthy, active instance."""
    beats = list(beats)
    causes: list[Cause] = []
    for expected in policy.services:
        names = sorted({b.service for b in beats if _service_of(b.service, expected)}) or [expected]
        for name in names:
            cause = _service_cause(name, [b for b in beats if b.service == name], policy, now)
            if cause is not None:
                causes.append(cause)
    return causes


def _service_cause(name: str, beats: list[Beat], policy: WatchdogPolicy, now: datetime) -> Cause | None:
    fresh = [b for b in beats if now - b.beat_at <= timedelta(seconds=policy.stale_seconds)]
    active = [b for b in fresh if b.role != "standby"]
    if any(b.ok for b in active):
        return None
    if active:
        failing = sorted({str(f) for b in active for f in _failing(b)})
        return Cause("service_unhealthy", name, ", ".join(failing))
    if fresh:
        return Cause("service_down", name, "no active instance")
    if not beats:
        return Cause("service_down", name, "no heartbeat")
    last = max(b.beat_at for b in beats)
    return Cause("service_down", name, f"last heartbeat {int((now - last).total_seconds())} s ago")


def _failing(beat: Beat) -> list[object]:
    failing = beat.detail.get(FAILING)
    return list(failing) if isinstance(failing, list) else ["unhealthy"]


def district_causes(silences: Iterable[DistrictSilence], policy: WatchdogPolicy) -> list[Cause]:
    """A cause for each district where most devices fell silent at once."""
    return [
        Cause("district_silent", s.district, f"{s.silent}/{s.total}")
        for s in silences
        if s.total > 0 and s.silent >= policy.district_min_silent_devices
        and s.silent / s.total >= policy.district_silent_fraction
    ]


def decide(
    episode: Episode | None, causes: Sequence[Cause], now: datetime, policy: WatchdogPolicy
) -> tuple[Decision, Episode | None]:
    """What to do with the open fault (None: none is open) given the causes seen now."""
    if episode is None:
        return ("open", _scoped(Episode(None, now, tuple(causes)), causes)) if causes else ("none", None)
    if causes:
        updated = replace(_scoped(episode, causes), causes=tuple(causes), calm_since=None)
        return ("none", episode) if updated == episode else ("update", updated)
    if episode.calm_since is None:
        return "calm", replace(episode, calm_since=now)
    if now - episode.calm_since >= timedelta(seconds=policy.recovery_hold_seconds):
        return "recover", replace(episode, resolved_at=now)
    return "none", episode


def _scoped(episode: Episode, causes: Sequence[Cause]) -> Episode:
    """Widen what the fault holds back (never narrow it while the fault lasts: devices come back one by one)."""
    districts = episode.districts | {c.subject for c in causes if c.kind == "district_silent"}
    # Ingest down: every device looks silent. An unhealthy engine alone raises no silence (it counts silence
    # windows from its own start), so it pages the administrators without holding anything back.
    everywhere = episode.all_districts or any(
        c.kind != "district_silent" and _service_of(c.subject, "ingest") for c in causes)
    return replace(episode, districts=frozenset(districts), all_districts=everywhere)


def hold_back(routed: RoutedAlert, district: str, fault: Episode | None) -> RoutedAlert:
    """The routed alert, recorded not sent (reason platform_fault) if it is a device silence alert of a district
    the open fault holds back; an existing suppression (maintenance, silence) keeps its own reason."""
    if fault is None or routed.suppressed_by is not None or routed.alert.key.rule not in FAULT_SUPPRESSED_RULES:
        return routed
    return replace(routed, suppressed_by=PLATFORM_FAULT) if fault.holds_back(district) else routed
