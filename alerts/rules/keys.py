"""The life of one alert key, as a pure state machine: observations and `now` in, transitions out.

A key (device, pollutant, rule) is inactive -> pending(since) -> firing once the condition held `hold_seconds`
over `hold_samples` observations (`open`); while firing, severity moves (`severity`, a step down only after
`clear_hold_seconds`), the peak rises (`update`, at most one per key per flush), and it clears once past the
clear threshold for `clear_hold_seconds` (`clear`). The rules (pollution, device, silence, late readings) only
make `Observation`s; this book alone moves keys and writes transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerts.model import WHOLE_DEVICE, AlertKey, Transition
from alerts.rules.frame import ActiveMasks
from alerts.rules.policy import Policy

CATEGORY = {"instant": "pollution", "hour_avg": "pollution", "day_avg": "pollution", "gas": "safety"}
_DISCHARGE = ("", "warning", "exceedance", "severe")
SEVERITY_OF_TIER = {"instant": _DISCHARGE, "hour_avg": _DISCHARGE, "day_avg": _DISCHARGE,
                    "gas": ("", "level1", "level2", "level2")}


def to_datetime(time_s: float) -> datetime:
    """An epoch time in seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(time_s, UTC)


@dataclass
class KeyState:
    """One key that is not inactive."""

    status: str  # "pending" or "firing"
    since: float  # first breach (epoch s)
    samples: int
    tier: int
    value: float | None
    last_time: float
    limit_id: int | None = None
    limit_value: float | None = None
    peak: float | None = None
    peak_at: float | None = None
    sign: int = 1  # +1: higher is worse, -1: lower is worse, 0: no peak
    reported_peak: float | None = None
    clear_since: float | None = None
    down_since: float | None = None
    down_tier: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    reported_severity: str = ""


@dataclass(frozen=True, slots=True)
class Observation:
    """One piece of evidence for a key: the raw tier (0 = condition false) and the tier it holds."""

    time_s: float
    tier: int
    held: int  # the tier a firing key keeps with hysteresis
    value: float | None
    limit_id: int | None = None
    limit_value: float | None = None
    detail: dict[str, Any] | None = None


def severity_of(key: AlertKey, st: KeyState) -> str:
    """The severity of a key's tier; an instantaneous value against an hourly/daily limit is only ever
    a pre-warning (the legal judgement is the mean's, HJ 212 Appendix D / the standard's basis)."""
    tiers = SEVERITY_OF_TIER.get(key.rule)
    if tiers is None:
        return "fault"
    if key.rule == "instant" and st.detail.get("prewarning_of"):
        return "warning"
    return tiers[st.tier]


class KeyBook:
    """Every key that is not inactive, moved by observations and timers; collects the transitions."""

    def __init__(self, policy: Policy, masks: ActiveMasks) -> None:
        self._policy = policy
        self.masks = masks
        self.states: dict[AlertKey, KeyState] = {}
        self.opens: dict[AlertKey, list[float]] = {}
        # When each key last cleared: a late reading never replays a key from before its clear.
        self.cleared_at: dict[AlertKey, float] = {}
        # Counts changes of hold progress (a key starting, counting a sample, firing or going): whoever
        # persists the engine saves a snapshot when it moved, so a restart never resets a running hold.
        self.revision = 0
        self._out: list[Transition] = []
        self._peaked: set[AlertKey] = set()

    def use_masks(self, masks: ActiveMasks) -> None:
        """Mark the keys in the masks of a rebuilt frame."""
        self.masks = masks
        for key in self.states:
            masks.mark(key, True)

    def load(self, states: dict[AlertKey, KeyState], opens: dict[AlertKey, list[float]],
             cleared_at: dict[AlertKey, float]) -> None:
        """Continue from restored keys (flag keys of earlier versions are retired first)."""
        self.states = states
        self._retire_series_flag_keys()
        self.opens = opens
        self.masks.reset()
        for key in self.states:
            self.masks.mark(key, True)
        self.cleared_at = cleared_at

    def _retire_series_flag_keys(self) -> None:
        """Flag alerts kept per pollutant by earlier versions clear: the device's one flag alert replaces them."""
        for key in [k for k in self.states if k.rule == "flag" and k.pollutant != WHOLE_DEVICE]:
            st = self.states.pop(key)
            if st.status == "firing":
                st.detail["replaced_by_device_alert"] = True
                self.emit("clear", key, st, st.last_time)

    # ----- observations -------------------------------------------------------------------------

    def observe(self, key: AlertKey, obs: Observation, sign: int = 1) -> None:
        """Move a key with one observation (older than what the key saw: ignored)."""
        st = self.states.get(key)
        if st is not None and obs.time_s <= st.last_time:
            return  # a reading seen twice, or older than what this key already saw
        if st is None:
            if obs.tier == 0:
                return
            st = KeyState("pending", obs.time_s, 0, obs.tier, obs.value, obs.time_s, sign=sign)
            self.states[key] = st
            self.masks.mark(key, True)
            self.revision += 1
        st.last_time = obs.time_s
        if st.status == "pending":
            self._observe_pending(key, st, obs)
        else:
            self._observe_firing(key, st, obs)

    def _observe_pending(self, key: AlertKey, st: KeyState, obs: Observation) -> None:
        if obs.tier == 0:
            self.forget(key)
            return
        st.samples += 1
        self.revision += 1
        self._take(key, st, obs, obs.tier)
        rp = self._policy.rule(key.rule)
        if obs.time_s - st.since >= rp.hold_seconds and st.samples >= rp.hold_samples:
            self._fire(key, st, obs.time_s)

    def _observe_firing(self, key: AlertKey, st: KeyState, obs: Observation) -> None:
        if obs.held == 0:
            st.clear_since = obs.time_s if st.clear_since is None else st.clear_since
            st.down_since = None
            self._maybe_clear(key, st, obs.time_s, obs.value)
            return
        st.clear_since = None
        if obs.held > st.tier:
            st.down_since = None
            self._take(key, st, obs, obs.held)
            self.emit("severity", key, st, obs.time_s)
            return
        self._take(key, st, obs, st.tier)
        if obs.held < st.tier:
            self._maybe_step_down(key, st, obs.held, obs.time_s)
        else:
            st.down_since = None

    def _take(self, key: AlertKey, st: KeyState, obs: Observation, tier: int) -> None:
        """Record a breaching observation: value, limit, detail and the peak."""
        st.tier, st.value = tier, obs.value
        if obs.limit_id is not None or obs.limit_value is not None:
            st.limit_id, st.limit_value = obs.limit_id, obs.limit_value
        if obs.detail:
            st.detail.update(obs.detail)
        if obs.value is not None and st.sign and (st.peak is None or (obs.value - st.peak) * st.sign > 0):
            st.peak, st.peak_at = obs.value, obs.time_s
            self._peaked.add(key)

    def raise_peak(self, key: AlertKey, st: KeyState, breaches: list[tuple[float, float]]) -> None:
        """A firing key meets late breaching readings (time, value): only its peak can change."""
        for time_s, value in breaches:
            if st.sign and (st.peak is None or (value - st.peak) * st.sign > 0):
                st.peak, st.peak_at = value, time_s
                self._peaked.add(key)

    # ----- timers -------------------------------------------------------------------------------

    def mature(self, now_s: float) -> None:
        """Holds, clears and step-downs whose time came without new data; quiet sequence gaps clear."""
        for key, st in list(self.states.items()):
            self._mature(key, st, now_s)

    def _mature(self, key: AlertKey, st: KeyState, now_s: float) -> None:
        rp = self._policy.rule(key.rule)
        quiet = now_s - st.last_time >= self._policy.seq_gap.quiet_seconds
        if key.rule == "seq_gap" and st.status == "firing" and quiet:
            self.observe(key, Observation(now_s, 0, 0, None))
        elif st.status == "pending" and now_s - st.since >= rp.hold_seconds and st.samples >= rp.hold_samples:
            self._fire(key, st, now_s)
        elif st.status == "firing" and st.clear_since is not None:
            self._maybe_clear(key, st, now_s, st.value)
        elif st.status == "firing" and st.down_since is not None:
            self._maybe_step_down(key, st, st.down_tier, now_s)

    def is_settled(self, key: AlertKey, st: KeyState, time_s: float) -> bool:
        """A raised key whose unchanged condition cannot move it now (no firing, no clearing)."""
        if st.tier == 0 or st.clear_since is not None:
            return False
        if st.status == "firing":
            return True
        rp = self._policy.rule(key.rule)
        return st.samples >= rp.hold_samples and time_s - st.since < rp.hold_seconds

    def _maybe_step_down(self, key: AlertKey, st: KeyState, held: int, time_s: float) -> None:
        if st.down_since is None or st.down_tier != held:
            st.down_since, st.down_tier = time_s, held
        if time_s - st.down_since >= self._policy.rule(key.rule).clear_hold_seconds:
            st.tier, st.down_since = held, None
            self.emit("severity", key, st, time_s)

    def _maybe_clear(self, key: AlertKey, st: KeyState, time_s: float, value: float | None) -> None:
        assert st.clear_since is not None
        if time_s - st.clear_since >= self._clear_hold(key, st):
            st.value = value
            self.emit("clear", key, st, time_s)
            self.forget(key)
            self.cleared_at[key] = time_s

    def _clear_hold(self, key: AlertKey, st: KeyState) -> float:
        """The clear hold, stretched to the flap window when the key opened as flapping."""
        rp = self._policy.rule(key.rule)
        if st.detail.get("flapping"):
            return max(rp.clear_hold_seconds, rp.flap_window_seconds)
        return rp.clear_hold_seconds

    def _fire(self, key: AlertKey, st: KeyState, time_s: float) -> None:
        rp = self._policy.rule(key.rule)
        opens = [t for t in self.opens.get(key, ()) if t >= time_s - rp.flap_window_seconds]
        self.opens[key] = [*opens, time_s]
        st.status = "firing"
        self.revision += 1
        if len(self.opens[key]) >= rp.flap_opens:
            st.detail["flapping"] = True
        self.emit("open", key, st, time_s)

    def forget(self, key: AlertKey) -> None:
        """The key goes inactive (no transition)."""
        self.states.pop(key, None)
        self.masks.mark(key, False)
        self.revision += 1

    # ----- transitions --------------------------------------------------------------------------

    def emit(self, kind: str, key: AlertKey, st: KeyState, time_s: float) -> None:
        """Add one transition of a key (`severity` within one severity becomes `update`)."""
        severity = severity_of(key, st)
        if kind == "severity" and severity == st.reported_severity:
            kind = "update"  # a tier change within one severity (e.g. a pre-warning passing the limit)
        if kind != "clear":
            st.reported_peak = st.peak
            st.reported_severity = severity
            self._peaked.discard(key)
        self._out.append(_transition(kind, key, st, severity, time_s))

    def flush(self) -> list[Transition]:
        """The transitions since the last flush, in time order, with one update per risen peak."""
        for key in sorted(self._peaked, key=AlertKey.as_text):
            st = self.states.get(key)
            if st is not None and st.status == "firing" and st.peak != st.reported_peak:
                self.emit("update", key, st, st.peak_at if st.peak_at is not None else st.last_time)
        self._peaked.clear()
        out, self._out = self._out, []
        out.sort(key=lambda t: t.time)
        return out


def _transition(kind: str, key: AlertKey, st: KeyState, severity: str, time_s: float) -> Transition:
    """The transition a key's state reports, as of `time_s`."""
    return Transition(
        kind=kind,  # type: ignore[arg-type]
        key=key, category=CATEGORY.get(key.rule, "device"),  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        time=to_datetime(time_s), value=st.value, limit_value=st.limit_value, limit_id=st.limit_id,
        first_breach_at=to_datetime(st.since), peak_value=st.peak,
        peak_at=to_datetime(st.peak_at) if st.peak_at is not None else None,
        detail={**st.detail, "tier": st.tier},
    )
