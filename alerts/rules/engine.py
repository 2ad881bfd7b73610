"""The alert engine: a pure state machine over reading batches, vectorised with numpy.

`evaluate(batch, now)` and `tick(now)` return transitions; nothing here does I/O or reads a clock.
Each alert key (device, pollutant, rule) is inactive -> pending(since) -> firing once the condition
held `hold_seconds` over `hold_samples` readings (`open`); while firing, severity moves (`severity`),
the peak rises (`update`, at most one per key per batch), and it clears once past the clear
threshold for `clear_hold_seconds` (`clear`). Only rows that breach something, or whose key is not
inactive, go through Python; the rest is array arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.errors import EngineStateError
from alerts.model import WHOLE_DEVICE, AlertKey, Transition
from alerts.rules.averages import KIND_GAS, KIND_NONE, KIND_WATER, AverageBook, ClosedPeriod, decode_array, encode_array
from alerts.rules.limits import LANE_DAY, LANE_HOUR, LANE_INSTANT, LimitTable, SeriesLayout
from alerts.rules.policy import Policy
from alerts.rules.recent import RecentReadings
from alerts.rules.registry import EngineRegistry
from envmon.catalogue import load_catalogue
from envmon.columns import ReadingColumns

# Rules whose condition is kept per series, with an "is this key not inactive" mask each.
SERIES_RULES = ("instant", "gas", "zero_flow", "constant", "negative", "implausible", "hour_avg", "day_avg")
# Rules kept per device (key pollutant WHOLE_DEVICE) from the flags of all its series: the letters that
# raise each, tracked per series so the alert lists every pollutant concerned.
DEVICE_FLAG_RULES = ("flag", "manual")
_R = {name: i for i, name in enumerate(SERIES_RULES)}
CATEGORY = {"instant": "pollution", "hour_avg": "pollution", "day_avg": "pollution", "gas": "safety"}
_DISCHARGE = ("", "warning", "exceedance", "severe")
SEVERITY_OF_TIER = {"instant": _DISCHARGE, "hour_avg": _DISCHARGE, "day_avg": _DISCHARGE,
                    "gas": ("", "level1", "level2", "level2")}
_LIMIT_RULES = frozenset({"instant", "hour_avg", "day_avg", "gas"})
N, S, T = ord("N"), ord("S"), ord("T")
FLOW_CODES = {"w00000": "water_flow_l_s", "a00000": "gas_flow_m3_s"}
CONCENTRATION_UNITS = frozenset({"mg/L", "mg/m3"})
SNAPSHOT_VERSION = 1
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _dt(time_s: float) -> datetime:
    return datetime.fromtimestamp(time_s, UTC)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


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


class Engine:
    """Alert conditions of every key, advanced by batches and timer ticks."""

    def __init__(self, registry: EngineRegistry, policy: Policy, state: dict[str, Any] | None = None) -> None:
        self._policy = policy
        self._keys: dict[AlertKey, KeyState] = {}
        self._opens: dict[AlertKey, list[float]] = {}
        self._started_s: float | None = None
        self._blackout_from_s: float | None = None  # see seed_last_seen
        self._out: list[Transition] = []
        self._peaked: set[AlertKey] = set()
        # When each key last cleared: a late reading never replays a key from before its clear.
        self._cleared_at: dict[AlertKey, float] = {}
        self.late_judged = 0  # late readings judged in time order (Engine._late_instants)
        self.late_unjudged = 0  # late readings older than the recent readings kept: not judged
        # Counts changes of hold progress (a key starting, counting a sample, firing or going): whoever
        # persists the engine saves a snapshot when it moved, so a restart never resets a running hold.
        self.revision = 0
        self._build(registry)
        if state is not None:
            self._load(state)

    @classmethod
    def restore(cls, registry: EngineRegistry, policy: Policy, snap: dict[str, Any]) -> Engine:
        """An engine that continues from a snapshot (pending timers and firing conditions included)."""
        return cls(registry, policy, snap)

    # ----- layout -------------------------------------------------------------------------------

    def _build(self, registry: EngineRegistry) -> None:
        catalogue = load_catalogue()
        self._registry = registry
        self._layout = SeriesLayout(tuple(sorted(registry.devices)), tuple(p.code for p in catalogue.pollutants))
        self._limits = LimitTable(registry.limits, self._layout,
                                  rounded=self._policy.judging.comparison == "rounded")
        n_dev, n_codes = len(self._layout.device_ids), len(self._layout.codes)
        self._slot_of = {d: i for i, d in enumerate(self._layout.device_ids)}
        self._col_of = {c: i for i, c in enumerate(self._layout.codes)}
        self._code_cache: dict[tuple[str, ...], npt.NDArray[np.int64]] = {}
        units = [p.canonical_unit for p in catalogue.pollutants]
        self._is_conc = np.array([u in CONCENTRATION_UNITS for u in units])
        self._is_flow = np.array([c in FLOW_CODES for c in self._layout.codes])
        self._water_flow_col = self._col_of.get("w00000", -1)
        # Devices whose outfall flow weighs their wastewater means (HJ 356-2019).
        self._weighs = np.array([self._policy.averages.flow_weighted and "w00000" in registry.devices[d].pollutants
                                 for d in self._layout.device_ids], dtype=bool)
        self._weighing = bool(self._weighs.any())
        self._active = np.zeros((len(SERIES_RULES), n_dev * n_codes), dtype=bool)
        self._last_time = np.full(n_dev * n_codes, -np.inf)
        self._last_value = np.full(n_dev * n_codes, np.nan)
        self._run = np.zeros(n_dev * n_codes, dtype=np.int64)
        self._last_seen = np.full(n_dev, -np.inf)
        # Devices whose last arrival is known from storage (`seed_last_seen`): their silence counts from
        # it, even from before this engine started; the others' from the start at the earliest.
        self._seen_stored = np.zeros(n_dev, dtype=bool)
        self._silent_active = np.zeros(n_dev, dtype=bool)
        self._device_active = {rule: np.zeros(n_dev, dtype=bool) for rule in DEVICE_FLAG_RULES}
        # The flag letter each series is in for each device flag rule (0: fine), and per device how many.
        self._flag_state = np.zeros(n_dev * n_codes, dtype=np.uint8)
        self._manual_state = np.zeros(n_dev * n_codes, dtype=np.uint8)
        self._flagged = {rule: 0 for rule in DEVICE_FLAG_RULES}  # series with a nonzero state, per rule
        self._range_lo, self._range_hi = self._ranges(registry, n_dev * n_codes)
        self._has_ranges = bool(registry.ranges)
        self._flow = np.full(n_dev, np.nan)
        self._flow_threshold = np.array([self._flow_threshold_of(d) for d in self._layout.device_ids])
        self._silence_s = np.array([self._silence_of(d) for d in self._layout.device_ids], dtype=np.float64)
        self._build_averages(catalogue.pollutants)
        self._build_recent()
        for key in self._keys:
            self._mark(key, True)

    def _build_recent(self) -> None:
        """The recent readings of series with an instantaneous limit (late readings are judged with them)."""
        lt = self._limits
        has = (lt.seg_limit[lt.first[LANE_INSTANT]] >= 0) | (lt.count[LANE_INSTANT] > 1)
        self._recent_series = np.nonzero(has)[0]
        self._recent_row = np.full(self._layout.n_series, -1, dtype=np.int64)
        self._recent_row[self._recent_series] = np.arange(len(self._recent_series))
        self._recent = RecentReadings(len(self._recent_series))

    def _ranges(self, registry: EngineRegistry, n_series: int) -> tuple[FloatArray, FloatArray]:
        """Measuring range per series (NaN where the registry gives none)."""
        lo, hi = np.full(n_series, np.nan), np.full(n_series, np.nan)
        for (device_id, code), (lower, upper) in registry.ranges.items():
            series = self._layout.series(device_id, code)
            if series >= 0:
                lo[series] = np.nan if lower is None else lower
                hi[series] = np.nan if upper is None else upper
        return lo, hi

    def _flow_threshold_of(self, device_id: int) -> float:
        kind = self._registry.devices[device_id].kind
        zf = self._policy.zero_flow
        return {"water_analyser": zf.water_flow_l_s, "cems": zf.gas_flow_m3_s}.get(kind, np.inf)

    def _silence_of(self, device_id: int) -> float:
        sp = self._policy.silent
        return max(sp.intervals * self._registry.devices[device_id].reporting_interval_seconds, sp.min_seconds)

    def _build_averages(self, pollutants: Any) -> None:
        lt = self._limits
        has = (lt.seg_limit[lt.first[LANE_HOUR]] >= 0) | (lt.count[LANE_HOUR] > 1)
        has |= (lt.seg_limit[lt.first[LANE_DAY]] >= 0) | (lt.count[LANE_DAY] > 1)
        self._tracked = np.nonzero(has)[0]
        self._avg_index = np.full(self._layout.n_series, -1, dtype=np.int64)
        self._avg_index[self._tracked] = np.arange(len(self._tracked))
        n_codes = len(self._layout.codes)
        kind_of = np.array([{"water": KIND_WATER, "gas": KIND_GAS}.get(p.kind, KIND_NONE) for p in pollutants])
        kinds = kind_of[self._tracked % n_codes].astype(np.int8)
        per_minute = np.array([max(1, 60 // self._registry.devices[d].reporting_interval_seconds)
                               for d in self._layout.device_ids], dtype=np.int64)
        required = np.minimum(self._policy.averages.flue_gas_minute_min_samples, per_minute[self._tracked // n_codes])
        judging = self._policy.judging
        self._book = AverageBook(kinds, required, self._policy.averages,
                                 over_range_counts=judging.over_range_in_averages == "range_upper",
                                 early_days=judging.early_daily_exceedance)

    def _series_of(self, key: AlertKey) -> int:
        slot, col = self._slot_of.get(key.device_id, -1), self._col_of.get(key.pollutant, -1)
        return slot * len(self._layout.codes) + col if slot >= 0 and col >= 0 else -1

    def _mark(self, key: AlertKey, active: bool) -> None:
        if key.rule == "silent" or key.rule in DEVICE_FLAG_RULES:
            slot = self._slot_of.get(key.device_id, -1)
            target = self._silent_active if key.rule == "silent" else self._device_active.get(key.rule)
            if slot >= 0 and target is not None:
                target[slot] = active
            return
        series = self._series_of(key)
        if key.rule in _R and series >= 0:
            self._active[_R[key.rule], series] = active

    # ----- the state machine --------------------------------------------------------------------

    def _observe(self, key: AlertKey, obs: Observation, sign: int = 1) -> None:
        st = self._keys.get(key)
        if st is not None and obs.time_s <= st.last_time:
            return  # a reading seen twice, or older than what this key already saw
        if st is None:
            if obs.tier == 0:
                return
            st = KeyState("pending", obs.time_s, 0, obs.tier, obs.value, obs.time_s, sign=sign)
            self._keys[key] = st
            self._mark(key, True)
            self.revision += 1
        st.last_time = obs.time_s
        if st.status == "pending":
            self._observe_pending(key, st, obs)
        else:
            self._observe_firing(key, st, obs)

    def _observe_pending(self, key: AlertKey, st: KeyState, obs: Observation) -> None:
        if obs.tier == 0:
            self._forget(key)
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
            self._emit("severity", key, st, obs.time_s)
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

    def _maybe_step_down(self, key: AlertKey, st: KeyState, held: int, time_s: float) -> None:
        if st.down_since is None or st.down_tier != held:
            st.down_since, st.down_tier = time_s, held
        if time_s - st.down_since >= self._policy.rule(key.rule).clear_hold_seconds:
            st.tier, st.down_since = held, None
            self._emit("severity", key, st, time_s)

    def _maybe_clear(self, key: AlertKey, st: KeyState, time_s: float, value: float | None) -> None:
        assert st.clear_since is not None
        if time_s - st.clear_since >= self._clear_hold(key, st):
            st.value = value
            self._emit("clear", key, st, time_s)
            self._forget(key)
            self._cleared_at[key] = time_s

    def _clear_hold(self, key: AlertKey, st: KeyState) -> float:
        """The clear hold, stretched to the flap window when the key opened as flapping."""
        rp = self._policy.rule(key.rule)
        if st.detail.get("flapping"):
            return max(rp.clear_hold_seconds, rp.flap_window_seconds)
        return rp.clear_hold_seconds

    def _fire(self, key: AlertKey, st: KeyState, time_s: float) -> None:
        rp = self._policy.rule(key.rule)
        opens = [t for t in self._opens.get(key, ()) if t >= time_s - rp.flap_window_seconds]
        self._opens[key] = [*opens, time_s]
        st.status = "firing"
        self.revision += 1
        if len(self._opens[key]) >= rp.flap_opens:
            st.detail["flapping"] = True
        self._emit("open", key, st, time_s)

    def _forget(self, key: AlertKey) -> None:
        self._keys.pop(key, None)
        self._mark(key, False)
        self.revision += 1

    @staticmethod
    def _severity(key: AlertKey, st: KeyState) -> str:
        """The severity of a key's tier; an instantaneous value against an hourly/daily limit is only ever
        a pre-warning (the legal judgement is the mean's, HJ 212 Appendix D / the standard's basis)."""
        tiers = SEVERITY_OF_TIER.get(key.rule)
        if tiers is None:
            return "fault"
        if key.rule == "instant" and st.detail.get("prewarning_of"):
            return "warning"
        return tiers[st.tier]

    def _emit(self, kind: str, key: AlertKey, st: KeyState, time_s: float) -> None:
        severity = self._severity(key, st)
        if kind == "severity" and severity == st.reported_severity:
            kind = "update"  # a tier change within one severity (e.g. a pre-warning passing the limit)
        if kind != "clear":
            st.reported_peak = st.peak
            st.reported_severity = severity
            self._peaked.discard(key)
        self._out.append(Transition(
            kind=kind,  # type: ignore[arg-type]
            key=key, category=CATEGORY.get(key.rule, "device"),  # type: ignore[arg-type]
            severity=severity,  # type: ignore[arg-type]
            time=_dt(time_s), value=st.value, limit_value=st.limit_value, limit_id=st.limit_id,
            first_breach_at=_dt(st.since), peak_value=st.peak,
            peak_at=_dt(st.peak_at) if st.peak_at is not None else None, detail={**st.detail, "tier": st.tier},
        ))

    def _flush(self) -> list[Transition]:
        for key in sorted(self._peaked, key=AlertKey.as_text):
            st = self._keys.get(key)
            if st is not None and st.status == "firing" and st.peak != st.reported_peak:
                self._emit("update", key, st, st.peak_at if st.peak_at is not None else st.last_time)
        self._peaked.clear()
        out, self._out = self._out, []
        out.sort(key=lambda t: t.time)
        return out

    # ----- batches ------------------------------------------------------------------------------

    def evaluate(self, batch: ReadingColumns, now: datetime) -> list[Transition]:
        """Advance every condition with a batch of readings; returns the transitions, in time order."""
        now_s = now.timestamp()
        self._start(now_s)
        if len(batch) == 0:
            return self._flush()
        cols = self._columns(batch.codes)[batch.pollutant]
        slots = self._layout.slots_of(batch.device_id)
        known = (cols >= 0) & (slots >= 0)
        series = (slots * len(self._layout.codes) + cols)[known]
        time_s = batch.time_us[known] / 1e6
        order = np.lexsort((time_s, series))  # every step below wants (series, time) order
        series, time_s = series[order], time_s[order]
        value = batch.value[known][order]
        flag, basis = batch.flag[known][order], batch.basis[known][order]
        # A device is heard when ingest received its reading, not when the engine gets to it (a catch-up,
        # or batches that waited in the broker while the engine was away).
        seen_s = np.minimum(batch.received_us[known] / 1e6, now_s)
        self._note_alive(slots[known], now_s, seen_s)
        self._accumulate(series, time_s, value, flag, basis)
        # Minute values (HJ 212 CN 2051) feed the instantaneous rules too, so a logger that uploads
        # only minute data is still watched; hourly and daily uploads are the device's own averages.
        instant = basis <= 1
        self._instants(series[instant], time_s[instant], value[instant], flag[instant])
        return self._flush()

    def _columns(self, codes: tuple[str, ...]) -> npt.NDArray[np.int64]:
        found = self._code_cache.get(codes)
        if found is None:
            found = np.array([self._col_of.get(c, -1) for c in codes] + [-1], dtype=np.int64)
            self._code_cache[codes] = found
        return found

    def _note_alive(self, slots: npt.NDArray[np.int64], now_s: float, seen_s: FloatArray) -> None:
        # A silent alert clears only for a device heard recently enough (`seen_s` may be minutes old).
        np.maximum.at(self._last_seen, slots, seen_s)
        slots = slots[now_s - self._last_seen[slots] <= self._silence_s[slots]]
        for slot in np.unique(slots[self._silent_active[slots]]).tolist():
            key = AlertKey(self._layout.device_ids[slot], WHOLE_DEVICE, "silent")
            self._observe(key, Observation(now_s, 0, 0, None))

    def _accumulate(self, series: npt.NDArray[np.int64], time_s: npt.NDArray[np.float64],
                    value: npt.NDArray[np.float64], flag: npt.NDArray[np.uint8], basis: npt.NDArray[np.int8]) -> None:
        tracked = self._avg_index[series]
        use = (tracked >= 0) & (basis <= 1)
        if use.any():
            value_all = value
            valid = flag[use] == N
            value = value[use]
            over = flag[use] == T  # enters the means as at least full scale
            if self._policy.judging.over_range_in_averages == "range_upper" and over.any():
                valid |= over
                value = np.where(over, np.fmax(value, self._range_hi[series[use]]), value)
            flow = self._flow_at(series, value_all, flag, use) if self._weighing else None
            for period in self._book.add(tracked[use], time_s[use], value, flag[use], basis[use] == 1, valid, flow):
                self._period(period)

    def _flow_at(self, series: npt.NDArray[np.int64], value: FloatArray, flag: npt.NDArray[np.uint8],
                 use: npt.NDArray[np.bool_]) -> FloatArray:
        """The outfall flow beside each reading: the device's latest normal w00000 of this batch, else the last
        one seen before; NaN where the device's means are not flow-weighted. (One batch holds about one message
        per device; a batch spanning several messages of a device weighs them all with its latest flow.)"""
        n_codes = len(self._layout.codes)
        slots = series // n_codes
        latest = self._flow.copy()
        rows = np.flatnonzero((series % n_codes == self._water_flow_col) & (flag == N))
        latest[slots[rows]] = value[rows]  # rows are in time order within a series: the latest is written last
        slots = slots[use]
        flow: FloatArray = np.where(self._weighs[slots], latest[slots], np.nan)
        return flow

    def _instants(self, series: npt.NDArray[np.int64], time_s: npt.NDArray[np.float64],
                  value: npt.NDArray[np.float64], flag: npt.NDArray[np.uint8]) -> None:
        dup = np.zeros(len(series), dtype=bool)
        dup[1:] = (series[1:] == series[:-1]) & (time_s[1:] == time_s[:-1])
        fresh = ~dup & (time_s > self._last_time[series])
        late = ~dup & ~fresh
        late_rows = (series[late], time_s[late], value[late], flag[late]) if late.any() else None
        series, time_s, value, flag = series[fresh], time_s[fresh], value[fresh], flag[fresh]
        if len(series):
            self._fresh_instants(series, time_s, value, flag)
        if late_rows is not None:  # after the fresh ones: those are the newer neighbours a late reading meets
            self._late_instants(*late_rows)

    def _fresh_instants(self, series: npt.NDArray[np.int64], time_s: npt.NDArray[np.float64],
                        value: npt.NDArray[np.float64], flag: npt.NDArray[np.uint8]) -> None:
        """Readings newer than everything their series had: the fast path."""
        last = np.ones(len(series), dtype=bool)
        last[:-1] = series[1:] != series[:-1]
        normal = flag == N
        over = flag == T
        runs = self._runs(series, value, normal, last)
        self._last_time[series[last]] = time_s[last]
        self._note_flow(series, value, normal, last)
        cols = series % len(self._layout.codes)
        # Over the measuring range (HJ 212 T): the true value is at least full scale.
        any_over = bool(over.any())
        judged = np.where(over, np.fmax(value, self._range_hi[series]), value) if any_over else value
        counted = normal | over if any_over else normal
        self._remember(series, time_s, judged, counted, over)
        self._pollution(series, time_s, judged, counted, over)
        self._device_flags(series, time_s, flag, np.flatnonzero(~normal))
        self._device_rules(series, time_s, value, normal, cols, runs)

    def _remember(self, series: npt.NDArray[np.int64], time_s: FloatArray, judged: FloatArray,
                  counted: npt.NDArray[np.bool_], over: npt.NDArray[np.bool_]) -> None:
        """Keep the judged readings of series with an instantaneous limit (rows in (series, time) order)."""
        rows = self._recent_row[series]
        keep = counted & (rows >= 0)
        if keep.any():
            self._recent.append(rows[keep], time_s[keep], judged[keep], over[keep])

    def _late_instants(self, series: npt.NDArray[np.int64], time_s: FloatArray, value: FloatArray,
                       flag: npt.NDArray[np.uint8]) -> None:
        """Readings older than the newest of their series: judged in time order with the recent readings.

        Only the instantaneous and gas limits (the rules an SMS starts from) are judged again; the device
        rules (zero flow, constant value, flags) take late readings as before: not at all.
        """
        over = flag == T
        counted = (flag == N) | over
        rows = self._recent_row[series]
        pick = counted & (rows >= 0)
        if not pick.any():
            return
        series, time_s, rows, over = series[pick], time_s[pick], rows[pick], over[pick]
        judged = np.where(over, np.fmax(value[pick], self._range_hi[series]), value[pick])
        new = ~self._recent.holds(rows, time_s)  # a catch-up gives back readings already judged
        if not new.any():
            return
        series, time_s, rows, over, judged = series[new], time_s[new], rows[new], over[new], judged[new]
        for s in np.unique(series).tolist():
            mine = series == s
            self._rejudge(int(s), int(rows[mine][0]), time_s[mine], judged[mine], over[mine])

    def _rejudge(self, series: int, row: int, time_s: FloatArray, value: FloatArray, over: BoolArray) -> None:
        """Merge late readings into a series' recent ones and replay its limit keys from the run they join."""
        old_t, old_v, old_o = self._recent.entries(row)
        if self._recent.is_full(row) and len(old_t):
            known = time_s >= old_t[0]
            self.late_unjudged += int((~known).sum())
            time_s, value, over = time_s[known], value[known], over[known]
            if len(time_s) == 0:
                return
        self.late_judged += len(time_s)
        times = np.concatenate([old_t, time_s])
        order = np.argsort(times, kind="stable")
        times, values = times[order], np.concatenate([old_v, value])[order]
        overs = np.concatenate([old_o, over])[order]
        self._recent.replace(row, times, values, overs)
        index = self._limits.lookup(LANE_INSTANT, np.full(len(times), series, dtype=np.int64), times)
        tier = self._limits.tiers(index, values)
        first = int(np.searchsorted(times, time_s.min()))
        start = first
        while start > 0 and tier[start - 1] > 0:  # the breach run the late reading joins, from its start
            start -= 1
        device_id, code = self._layout.key_of(series)
        for rule in sorted({"gas" if self._limits.is_gas[i] else "instant" for i in index[start:].tolist() if i >= 0}):
            key = AlertKey(device_id, code, rule)
            same = [j for j in range(start, len(times))
                    if index[j] >= 0 and ("gas" if self._limits.is_gas[index[j]] else "instant") == rule]
            st = self._keys.get(key)
            if st is not None and st.status == "firing":
                self._late_peak(key, st, [(float(times[j]), float(values[j])) for j in same if tier[j] > 0
                                          and times[j] in time_s])
                continue
            cleared = self._cleared_at.get(key, -np.inf)
            same = [j for j in same if times[j] > cleared]
            if not any(times[j] in time_s for j in same):
                continue  # the late readings fall before the key's last clear: that alert is over
            if st is not None:
                self._forget(key)  # pending: replayed below from the run's start
            for j in same:
                detail: dict[str, Any] = {"over_range": bool(overs[j])}
                if overs[j] and math.isfinite(self._range_hi[series]):
                    detail["range_upper"] = float(self._range_hi[series])
                self._limit_observation(rule, series, float(times[j]), float(values[j]), int(index[j]),
                                        int(tier[j]), detail)

    def _late_peak(self, key: AlertKey, st: KeyState, breaches: list[tuple[float, float]]) -> None:
        """A firing key meets late breaching readings: only its peak can change."""
        for time_s, value in breaches:
            if st.sign and (st.peak is None or (value - st.peak) * st.sign > 0):
                st.peak, st.peak_at = value, time_s
                self._peaked.add(key)

    def _runs(self, series: npt.NDArray[np.int64], value: npt.NDArray[np.float64], normal: npt.NDArray[np.bool_],
              last: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """How many consecutive normal readings of each series carried exactly this value."""
        n = len(series)
        same = np.zeros(n, dtype=bool)
        same[1:] = (series[1:] == series[:-1]) & (value[1:] == value[:-1]) & normal[1:] & normal[:-1]
        first = np.ones(n, dtype=bool)
        first[1:] = series[1:] != series[:-1]
        carry = np.where(first & normal & (value == self._last_value[series]), self._run[series], 0)
        index = np.arange(n)
        start = np.maximum.accumulate(np.where(same, 0, index))
        runs: npt.NDArray[np.int64] = (index - start + 1 + carry[start]) * normal
        self._last_value[series[last]] = value[last]
        self._run[series[last]] = runs[last]
        return runs

    def _note_flow(self, series: npt.NDArray[np.int64], value: npt.NDArray[np.float64],
                   normal: npt.NDArray[np.bool_], last: npt.NDArray[np.bool_]) -> None:
        n_codes = len(self._layout.codes)
        flow = self._is_flow[series % n_codes] & last & normal
        self._flow[series[flow] // n_codes] = value[flow]

    def _pollution(self, series: npt.NDArray[np.int64], time_s: npt.NDArray[np.float64],
                   value: npt.NDArray[np.float64], judged: npt.NDArray[np.bool_], over: npt.NDArray[np.bool_]) -> None:
        index = self._limits.lookup(LANE_INSTANT, series, time_s)
        tier = self._limits.tiers(index, value)
        active = self._active[_R["instant"], series] | self._active[_R["gas"], series]
        picked = np.flatnonzero(judged & ((tier > 0) | active))
        if len(picked) == 0:
            return
        columns = (series[picked], time_s[picked], value[picked], index[picked], tier[picked], over[picked],
                   self._range_hi[series[picked]])
        for s, t, v, i, k, is_over, full_scale in zip(*(c.tolist() for c in columns), strict=True):
            rule = "gas" if self._limits.is_gas[i] else "instant"
            detail: dict[str, Any] = {"over_range": is_over}
            if is_over and math.isfinite(full_scale):
                detail["range_upper"] = full_scale
            self._limit_observation(rule, s, t, v, i, k, detail)

    def _limit_observation(self, rule: str, series: int, time_s: float, value: float, index: int, tier: int,
                           detail: dict[str, Any]) -> None:
        device_id, code = self._layout.key_of(series)
        key = AlertKey(device_id, code, rule)
        st = self._keys.get(key)
        ratio = self._policy.rule(rule).clear_ratio
        lt = self._limits
        held = lt.held_tier(index, value, st.tier, ratio, tier) if st is not None and index >= 0 else 0
        limit = lt.limits[index] if index >= 0 else None
        below = limit is not None and limit.lower is not None and (limit.upper is None or value < limit.lower)
        detail["side"] = "lower" if below else "upper"
        if limit is not None:
            detail.update(lt.words[index])  # the warning line, and which mean's limit an instant pre-warns of
            if rule != "instant":
                detail.pop("prewarning_of", None)
        # The value as judged (exact decimal), so no float artefact reaches a record or a message.
        obs = Observation(time_s, tier, held, lt.judged_value(index, value), limit.limit_id if limit else None,
                          lt.limit_value(index, value, max(tier, held)), detail)
        self._observe(key, obs, -1 if below else 1)

    def _device_flags(self, series: npt.NDArray[np.int64], time_s: FloatArray, flag: npt.NDArray[np.uint8],
                      abnormal: npt.NDArray[np.intp]) -> None:
        """One alert per device for each DEVICE_FLAG_RULES rule: some series of the device is in a raising flag
        (flag: anything but N and S; manual: S)."""
        n_codes = len(self._layout.codes)
        # The usual batch is all N with no device in a flag: only the abnormal rows need a look.
        rows = [abnormal]
        if len(abnormal):  # the later rows of a series flagged in this batch may end its flag
            run_ends = np.searchsorted(series, series[abnormal], side="right")  # rows are in (series, time) order
            rows += [np.arange(a, e) for a, e in zip(abnormal.tolist(), run_ends.tolist(), strict=True)]
        if self._flagged["flag"] or self._flagged["manual"]:
            rows.append(np.flatnonzero(self._flag_state[series] | self._manual_state[series]))
        active = self._device_active["flag"] | self._device_active["manual"]
        if active.any():
            rows.append(np.flatnonzero(active[series // n_codes]))
        picked = np.unique(np.concatenate(rows)) if len(rows) > 1 else rows[0]
        if len(picked) == 0:
            return
        slots = series[picked] // n_codes
        order = np.lexsort((time_s[picked], slots))
        picked, slots = picked[order], slots[order]
        ends = np.ones(len(picked), dtype=bool)  # one observation per device and reading time
        ends[:-1] = (slots[1:] != slots[:-1]) | (time_s[picked[1:]] != time_s[picked[:-1]])
        changed = {rule: False for rule in DEVICE_FLAG_RULES}
        # Only a row that is flagged, or of a series that was (before or earlier in this batch), changes a state.
        flagged = flag[picked] != N
        touches = (flagged | (self._flag_state[series[picked]] != 0) | (self._manual_state[series[picked]] != 0)
                   | np.isin(series[picked], series[picked[flagged]]))
        for i, slot, end, touch in zip(picked.tolist(), slots.tolist(), ends.tolist(), touches.tolist(), strict=True):
            if touch:
                letter = int(flag[i])
                changed["flag"] |= self._set_flag_state("flag", int(series[i]), 0 if letter in (N, S) else letter)
                changed["manual"] |= self._set_flag_state("manual", int(series[i]), letter if letter == S else 0)
            if end:
                for rule in DEVICE_FLAG_RULES:
                    self._observe_device_flags(rule, slot, float(time_s[i]), changed[rule])
                    changed[rule] = False

    def _set_flag_state(self, rule: str, series: int, letter: int) -> bool:
        """Set a series' letter for a rule; True if it changed."""
        state = self._flag_state if rule == "flag" else self._manual_state
        old = int(state[series])
        if old == letter:
            return False
        self._flagged[rule] += int(letter != 0) - int(old != 0)
        state[series] = letter
        return True

    def _observe_device_flags(self, rule: str, slot: int, time_s: float, changed: bool) -> None:
        state = self._flag_state if rule == "flag" else self._manual_state
        key = AlertKey(self._layout.device_ids[slot], WHOLE_DEVICE, rule)
        st = self._keys.get(key)
        if not changed and (st is None or self._is_settled(key, st, time_s)):
            return  # nothing new for this device: an observation would change nothing
        n_codes = len(self._layout.codes)
        letters = state[slot * n_codes:(slot + 1) * n_codes]
        nonzero = np.flatnonzero(letters).tolist() if self._flagged[rule] else []
        flags = {self._layout.codes[c]: chr(letters[c]) for c in nonzero}
        tier = int(bool(flags))
        self._observe(key, Observation(time_s, tier, tier, None, detail={"flags": flags} if tier else None), 0)

    def _is_settled(self, key: AlertKey, st: KeyState, time_s: float) -> bool:
        """A raised device-flag key whose unchanged condition cannot move it now (no firing, no clearing)."""
        if st.tier == 0 or st.clear_since is not None:
            return False
        if st.status == "firing":
            return True
        rp = self._policy.rule(key.rule)
        return st.samples >= rp.hold_samples and time_s - st.since < rp.hold_seconds

    def _device_rules(self, series: npt.NDArray[np.int64], time_s: npt.NDArray[np.float64],
                      value: npt.NDArray[np.float64], normal: npt.NDArray[np.bool_],
                      cols: npt.NDArray[np.int64], runs: npt.NDArray[np.int64]) -> None:
        conc = self._is_conc[cols] & normal
        slots = series // len(self._layout.codes)
        zero = conc & (value == 0) & (self._flow[slots] > self._flow_threshold[slots])
        negative = (conc | (self._is_flow[cols] & normal)) & (value < -self._policy.negative.tolerance)
        constant = conc & (runs >= self._policy.constant.samples)
        if self._has_ranges:
            ranged = normal & (np.isfinite(self._range_lo[series]) | np.isfinite(self._range_hi[series]))
            # NaN bounds compare false, so a missing bound never fails the check.
            implausible = ranged & ((value > self._range_hi[series]) | (value < self._range_lo[series]))
        else:
            ranged = implausible = np.zeros(len(series), dtype=bool)
        evidence = {"zero_flow": conc, "negative": conc | (self._is_flow[cols] & normal), "constant": conc,
                    "implausible": ranged}
        for rule, cond in (("zero_flow", zero), ("negative", negative), ("constant", constant),
                           ("implausible", implausible)):
            pick = cond | (self._active[_R[rule], series] & evidence[rule])
            for i in np.nonzero(pick)[0].tolist():
                self._device_observation(rule, int(series[i]), float(time_s[i]), float(value[i]), bool(cond[i]),
                                         int(runs[i]), float(self._flow[slots[i]]))

    def _device_observation(self, rule: str, series: int, time_s: float, value: float, cond: bool, run: int,
                            flow: float) -> None:
        device_id, code = self._layout.key_of(series)
        detail: dict[str, Any] = {"samples": run} if rule == "constant" else {}
        if rule == "zero_flow":
            detail = {"flow": flow}
        if rule == "implausible":
            detail = {"range_lower": _finite(self._range_lo[series]), "range_upper": _finite(self._range_hi[series])}
        tier = int(cond)
        sign = {"negative": -1, "implausible": 1}.get(rule, 0)
        self._observe(AlertKey(device_id, code, rule), Observation(time_s, tier, tier, value, detail=detail), sign)

    # ----- averages -----------------------------------------------------------------------------

    def _period(self, period: ClosedPeriod) -> None:
        rule, lane = ("hour_avg", LANE_HOUR) if period.period == "hour" else ("day_avg", LANE_DAY)
        series = self._tracked[period.tracked]
        index = self._limits.lookup(lane, series, np.full(len(series), period.start_s))
        tier = self._limits.tiers(index, np.nan_to_num(period.average, nan=0.0)) * period.valid
        early = period.period == "day_so_far"
        # A running day speaks only when its lowest possible mean already exceeds: it never clears anything.
        pick = period.valid & ((tier >= 2) if early else ((tier > 0) | self._active[_R[rule], series]))
        for i in np.nonzero(pick)[0].tolist():
            detail: dict[str, Any] = {"period_start": _dt(period.start_s).isoformat(),
                                      "valid_count": int(period.valid_count[i]), "flag": period.flag[i],
                                      "early": early}
            detail["hours_left"] = round((period.start_s + 86400 - period.end_s) / 3600) if early else 0
            self._limit_observation(rule, int(series[i]), period.end_s, float(period.average[i]), int(index[i]),
                                    int(tier[i]), detail)

    # ----- timers -------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Transition]:
        """Timers: averages of closed hours and days, silent devices, holds and clears maturing, quiet gaps."""
        now_s = now.timestamp()
        self._start(now_s)
        for period in self._book.close_due(now_s):
            self._period(period)
        self._silent(now_s)
        for key, st in list(self._keys.items()):
            self._mature(key, st, now_s)
        return self._flush()

    def _start(self, now_s: float) -> None:
        """The first step after a (re)start: note when it was, and take the platform's blackout off the seeded
        silence clocks (see `seed_last_seen`)."""
        if self._started_s is not None:
            return
        self._started_s = now_s
        if self._blackout_from_s is not None:
            blackout_s = max(0.0, now_s - self._blackout_from_s)
            self._last_seen[self._seen_stored] = np.minimum(self._last_seen[self._seen_stored] + blackout_s, now_s)
            self._blackout_from_s = None

    def _silent(self, now_s: float) -> None:
        assert self._started_s is not None
        since = np.where(self._seen_stored, self._last_seen, np.maximum(self._last_seen, self._started_s))
        for slot in np.nonzero(now_s - since > self._silence_s)[0].tolist():
            key = AlertKey(self._layout.device_ids[slot], WHOLE_DEVICE, "silent")
            detail = {"last_seen": _dt(float(since[slot])).isoformat(), "window_seconds": float(self._silence_s[slot])}
            if key not in self._keys:
                self._observe(key, Observation(now_s, 1, 1, None, detail=detail), 0)

    def _mature(self, key: AlertKey, st: KeyState, now_s: float) -> None:
        rp = self._policy.rule(key.rule)
        quiet = now_s - st.last_time >= self._policy.seq_gap.quiet_seconds
        if key.rule == "seq_gap" and st.status == "firing" and quiet:
            self._observe(key, Observation(now_s, 0, 0, None))
        elif st.status == "pending" and now_s - st.since >= rp.hold_seconds and st.samples >= rp.hold_samples:
            self._fire(key, st, now_s)
        elif st.status == "firing" and st.clear_since is not None:
            self._maybe_clear(key, st, now_s, st.value)
        elif st.status == "firing" and st.down_since is not None:
            self._maybe_step_down(key, st, st.down_tier, now_s)

    def observe_gap(self, device_id: int, first_seq: int, last_seq: int, at: datetime) -> list[Transition]:
        """Messages first_seq..last_seq of a device never came back after every resend request."""
        key = AlertKey(device_id, WHOLE_DEVICE, "seq_gap")
        missing = last_seq - first_seq + 1
        st = self._keys.get(key)
        total = missing + (int(st.detail.get("missing", 0)) if st else 0)
        return self._gap(key, {"first_seq": first_seq, "last_seq": last_seq, "missing": total}, float(missing), at)

    def observe_history_gap(self, device_id: int, basis: str, begin: datetime, end: datetime, outcome: str,
                            at: datetime) -> list[Transition]:
        """An HJ 212 logger's `basis` data of begin..end never came back (`outcome`: abandoned, expired).

        Data lost for good, as an MQTT gap given up on: the same rule, with the time span in the detail.
        """
        key = AlertKey(device_id, WHOLE_DEVICE, "seq_gap")
        st = self._keys.get(key)
        windows = 1 + (int(st.detail.get("windows", 0)) if st else 0)
        detail = {"basis": basis, "begin_time": begin.isoformat(), "end_time": end.isoformat(), "outcome": outcome,
                  "windows": windows}
        return self._gap(key, detail, None, at)

    def _gap(self, key: AlertKey, detail: dict[str, Any], value: float | None, at: datetime) -> list[Transition]:
        st = self._keys.get(key)
        if st is not None and st.status == "firing":
            st.detail.update(detail)
            st.last_time = max(st.last_time, at.timestamp())
            self._emit("update", key, st, at.timestamp())
            return self._flush()
        self._observe(key, Observation(at.timestamp(), 1, 1, value, detail=detail), 0)
        return self._flush()

    # ----- state --------------------------------------------------------------------------------

    def seed_last_seen(self, seen_s: Mapping[int, float], *, alive_s: float | None = None) -> None:
        """Start silence clocks from when ingest last stored each device's data (seconds since the epoch).

        A restarted engine otherwise counts silence from its own start, and one crash-looping faster than
        the window never says "data interrupted". Ingest stored these while the engine was away, so an
        old time means the device, not the engine, was silent.

        `alive_s` is the latest time ingest is known to have been storing (device_state, its heartbeat).
        From then to this engine's first step the platform itself was blind: that blackout counts as no
        device's silence (`_start` moves the seeded clocks on by it), so a cold start after a long
        outage does not text every inspector of the district "data interrupted" at its first tick.
        """
        for device_id, at_s in seen_s.items():
            slot = self._slot_of.get(device_id, -1)
            if slot >= 0:
                self._last_seen[slot] = max(self._last_seen[slot], at_s)
                self._seen_stored[slot] = True
        if alive_s is not None:
            self._blackout_from_s = alive_s

    def set_registry(self, registry: EngineRegistry) -> None:
        """Use a reloaded registry; every key, timer and average carries over."""
        snap = self.snapshot()
        stored = {d: float(self._last_seen[i]) for d, i in self._slot_of.items() if self._seen_stored[i]}
        self._build(registry)
        self._load(snap, restart=False)
        self.seed_last_seen(stored)

    def snapshot(self) -> dict[str, Any]:
        """The whole state, JSON-serialisable; `Engine.restore` continues from it exactly."""
        n_codes = len(self._layout.codes)
        return {
            "version": SNAPSHOT_VERSION,
            "device_ids": list(self._layout.device_ids),
            "codes": list(self._layout.codes),
            "started_s": self._started_s,
            "keys": {k.as_text(): asdict(st) for k, st in self._keys.items()},
            "opens": {k.as_text(): v for k, v in self._opens.items()},
            "series": {name: encode_array(getattr(self, name))
                       for name in ("_last_time", "_last_value", "_run", "_flag_state", "_manual_state")},
            "devices": {name: encode_array(getattr(self, name)) for name in ("_last_seen", "_flow")},
            "tracked": [[self._layout.device_ids[s // n_codes], self._layout.codes[s % n_codes]]
                        for s in self._tracked.tolist()],
            "averages": self._book.state(),
            "recent": self._recent.state([[self._layout.device_ids[s // n_codes], self._layout.codes[s % n_codes]]
                                          for s in self._recent_series.tolist()]),
            "cleared": {k.as_text(): v for k, v in self._cleared_at.items()},
            "late": [self.late_judged, self.late_unjudged],
        }

    def _load(self, snap: dict[str, Any], *, restart: bool = True) -> None:
        if snap.get("version") != SNAPSHOT_VERSION:
            raise EngineStateError(f"unknown engine snapshot version {snap.get('version')!r}")
        # After a restart silence windows count from this start, unless `seed_last_seen` gives what
        # ingest stored meanwhile: a stopped engine cannot tell a silent device from its own absence,
        # and counting from the snapshot would raise a silent alert for every device of the district at
        # once (firing silent alerts are kept as they were).
        self._started_s = None if restart else snap["started_s"]
        self._keys = {AlertKey.from_text(k): KeyState(**v) for k, v in snap["keys"].items()}
        self._retire_series_flag_keys()
        self._opens = {AlertKey.from_text(k): list(v) for k, v in snap["opens"].items()}
        self._active[:] = False
        self._silent_active[:] = False
        for active in self._device_active.values():
            active[:] = False
        for key in self._keys:
            self._mark(key, True)
        rows = np.array([self._slot_of.get(d, -1) for d in snap["device_ids"]], dtype=np.int64)
        cols = np.array([self._col_of.get(c, -1) for c in snap["codes"]], dtype=np.int64)
        for name, enc in snap["devices"].items():
            old = decode_array(enc)
            getattr(self, name)[rows[rows >= 0]] = old[rows >= 0]
        n_codes = len(self._layout.codes)
        for name, enc in snap["series"].items():
            old = decode_array(enc).reshape(len(rows), len(cols))
            keep_r, keep_c = rows >= 0, cols >= 0
            target = getattr(self, name).reshape(-1, n_codes)
            target[np.ix_(rows[keep_r], cols[keep_c])] = old[np.ix_(keep_r, keep_c)]
        self._flagged = {"flag": int(np.count_nonzero(self._flag_state)),
                         "manual": int(np.count_nonzero(self._manual_state))}
        old_tracked = {(int(d), str(c)): i for i, (d, c) in enumerate(snap["tracked"])}
        keys = [self._layout.key_of(s) for s in self._tracked.tolist()]
        row_map = np.array([old_tracked.get(k, -1) for k in keys], dtype=np.int64)
        self._book.load(snap["averages"], row_map)
        if "recent" in snap:  # snapshots from before late readings were judged have none
            old_recent = {(int(d), str(c)): i for i, (d, c) in enumerate(snap["recent"]["keys"])}
            keys = [self._layout.key_of(s) for s in self._recent_series.tolist()]
            self._recent.load(snap["recent"], np.array([old_recent.get(k, -1) for k in keys], dtype=np.int64))
        self._cleared_at = {AlertKey.from_text(k): float(v) for k, v in snap.get("cleared", {}).items()}
        self.late_judged, self.late_unjudged = snap.get("late", [0, 0])

    def _retire_series_flag_keys(self) -> None:
        """Flag alerts kept per pollutant by earlier versions clear: the device's one flag alert replaces them."""
        for key in [k for k in self._keys if k.rule == "flag" and k.pollutant != WHOLE_DEVICE]:
            st = self._keys.pop(key)
            if st.status == "firing":
                st.detail["replaced_by_device_alert"] = True
                self._emit("clear", key, st, st.last_time)

    @property
    def late_dropped(self) -> int:
        """Readings that arrived after their hour had closed (not in any average)."""
        return self._book.late_dropped
