"""Which limit applies to a series at a time, and which tier a value reaches, as array look-ups.

A series is one (device, pollutant). Each has three lanes: 0 the instantaneous check (gas alarms,
and discharge limits of any basis as a pre-warning), 1 the hourly average, 2 the daily average.
Device scope beats site scope beats default; among equals the later `valid_from` wins. Each lane
of each series becomes a timeline of segments, so a batch needs one vectorised look-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
import numpy.typing as npt

from alerts.model import LimitSpec

LANES = 3
LANE_INSTANT, LANE_HOUR, LANE_DAY = 0, 1, 2
_LANE_OF_BASIS = {"hour": LANE_HOUR, "day": LANE_DAY}
SCOPE_RANK = {"default": 0, "site": 1, "device": 2}
# For the instantaneous check, an instant limit is the most specific, then hourly, then daily.
_BASIS_RANK = {"day": 0, "hour": 1, "instant": 2}
TIERS = 3
NO_TIME = -np.inf
# Digits kept beyond the limit's own decimals when a value is compared as a whole (全数值比较法): far
# finer than any analyser resolves, coarse enough that binary float noise (1e-17) never counts.
GUARD_DIGITS = 6
INT_MAX, INT_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min
SCALED_MAX = 9.0e18  # scaled values are clipped inside int64

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# A limit that may apply to a series: (rank, valid_from_s, valid_to_s, index).
Candidate = tuple[tuple[int, int, float], float, float, int]


def lanes_of(limit: LimitSpec) -> tuple[int, ...]:
    """The lanes a limit serves: its basis lane and the instantaneous pre-warning."""
    if limit.basis == "instant":
        return (LANE_INSTANT,)
    return (LANE_INSTANT, _LANE_OF_BASIS[limit.basis])


def rank_of(limit: LimitSpec) -> tuple[int, int, float]:
    """Precedence among limits competing for one lane of one series."""
    return (SCOPE_RANK[limit.scope], _BASIS_RANK[limit.basis], limit.valid_from.timestamp())


def resolve_timeline(candidates: Sequence[Candidate]) -> list[tuple[float, int]]:
    """Segments (start_s, winner) from (rank, valid_from_s, valid_to_s, index) candidates; -1 = none."""
    bounds = sorted({NO_TIME, *(c[1] for c in candidates), *(c[2] for c in candidates if c[2] < np.inf)})
    segments: list[tuple[float, int]] = []
    for start in bounds:
        covering = [c for c in candidates if c[1] <= start < c[2]]
        winner = max(covering)[3] if covering else -1
        if not segments or segments[-1][1] != winner:
            segments.append((start, winner))
    return segments


def stated_decimals(limit: LimitSpec) -> int:
    """Decimals of the limit as written: the spec's own `decimals`, else those of its value as given."""
    if limit.decimals is not None:
        return limit.decimals
    shown = [v for v in (limit.upper, limit.lower, limit.level2_upper, limit.level2_lower) if v is not None]
    return max((_decimals_of(v) for v in shown), default=0)


def _decimals_of(value: float) -> int:
    exponent = Decimal(repr(value)).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _exact(value: float | None) -> Decimal | None:
    """A number as written (1.0, 0.05), not as the binary float approximates it."""
    return None if value is None else Decimal(repr(value))


# Per tier: (exact threshold, side, inclusive). Discharge limits are exceeded strictly above the limit
# ("超过"); the severe tier and gas set points are reached AT the value ("以上" includes the number,
# Criminal Law art. 99; GB/T 50493 alarms sound at the set point).
Threshold = tuple[Decimal, bool]
# Upper and lower thresholds of one limit, per tier.
TierThresholds = tuple[list[Threshold | None], list[Threshold | None]]


def exact_thresholds(limit: LimitSpec) -> TierThresholds:
    """Upper and lower thresholds per tier (tier 1..3 at positions 0..2): (value, inclusive) or None."""
    hi: list[Threshold | None] = [None] * TIERS
    lo: list[Threshold | None] = [None] * TIERS
    upper, lower = _exact(limit.upper), _exact(limit.lower)
    if limit.scheme == "gas_alarm":
        l2u, l2l = _exact(limit.level2_upper), _exact(limit.level2_lower)
        hi[0], hi[1] = (upper, True) if upper is not None else None, (l2u, True) if l2u is not None else None
        lo[0], lo[1] = (lower, True) if lower is not None else None, (l2l, True) if l2l is not None else None
        return hi, lo
    # Ratios make no sense on a range such as pH 6-9: ranges have the exceedance tier only.
    ratios = limit.direction != "range"
    warn = _exact(limit.warning_ratio) if ratios else None
    severe = _exact(limit.severe_multiple) if ratios else None
    if upper is not None:
        hi[1] = (upper, False)
        hi[0] = (upper * warn, False) if warn else None
        hi[2] = (upper * severe, True) if severe else None
    if lower is not None:
        lo[1] = (lower, False)
        lo[0] = (lower / warn, False) if warn else None
        lo[2] = (lower / severe, True) if severe else None
    return hi, lo


def _scaled_hi(t: Threshold | None, exponent: int) -> int:
    """The integer X such that a scaled value V breaches the upper threshold exactly when V > X."""
    if t is None:
        return INT_MAX
    scaled = t[0].scaleb(exponent)
    return int(scaled.to_integral_value(ROUND_CEILING)) - 1 if t[1] else int(scaled.to_integral_value(ROUND_FLOOR))


def _scaled_lo(t: Threshold | None, exponent: int) -> int:
    """The integer X such that a scaled value V breaches the lower threshold exactly when V < X."""
    if t is None:
        return INT_MIN
    scaled = t[0].scaleb(exponent)
    return int(scaled.to_integral_value(ROUND_FLOOR)) + 1 if t[1] else int(scaled.to_integral_value(ROUND_CEILING))


def _float_of(t: Threshold | None, upper: bool) -> float:
    return float(t[0]) if t is not None else (np.inf if upper else -np.inf)


def scale_values(value: FloatArray, exponent: IntArray, decimals: IntArray, rounded: bool) -> IntArray:
    """Values as integers in units of 10**-exponent: the reading as written (no float artefact), or
    with `rounded` first rounded to the limit's decimals, half to even (GB/T 8170-2008 3.2)."""
    factor = np.power(10.0, exponent)
    scaled = np.rint(np.clip(value * factor, -SCALED_MAX, SCALED_MAX)).astype(np.int64)
    if not rounded:
        return scaled
    step = np.power(10, exponent - decimals).astype(np.int64)
    quotient, rest = np.divmod(scaled, step)
    half = step // 2
    up = (rest > half) | ((rest == half) & (quotient % 2 == 1))
    rounded_scaled: IntArray = (quotient + up) * step
    return rounded_scaled


@dataclass(frozen=True)
class SeriesLayout:
    """Dense indexes: device id -> slot, pollutant code -> column; series = slot * n_codes + column."""

    device_ids: tuple[int, ...]
    codes: tuple[str, ...]

    def __post_init__(self) -> None:
        slots = np.full(max(self.device_ids, default=0) + 2, -1, dtype=np.int64)
        slots[list(self.device_ids)] = np.arange(len(self.device_ids))
        object.__setattr__(self, "_slots", slots)
        object.__setattr__(self, "_columns", {c: i for i, c in enumerate(self.codes)})

    @property
    def n_series(self) -> int:
        return len(self.device_ids) * len(self.codes)

    def slots_of(self, device_ids: npt.NDArray[np.integer]) -> IntArray:
        """Device slots of device ids; -1 for unknown ids."""
        slots: IntArray = self._slots  # type: ignore[attr-defined]
        ids = np.asarray(device_ids, dtype=np.int64)
        inside = (ids >= 0) & (ids < slots.shape[0])
        return np.where(inside, slots[np.clip(ids, 0, slots.shape[0] - 1)], -1)

    def column(self, code: str) -> int:
        """The column of a pollutant code, or -1."""
        return int(self._columns.get(code, -1))  # type: ignore[attr-defined]

    def series(self, device_id: int, code: str) -> int:
        """The series index of one device and pollutant, or -1."""
        slot = int(self.slots_of(np.array([device_id]))[0])
        col = self.column(code)
        return slot * len(self.codes) + col if slot >= 0 and col >= 0 else -1

    def key_of(self, series: int) -> tuple[int, str]:
        """(device id, code) of a series index."""
        slot, col = divmod(series, len(self.codes))
        return self.device_ids[slot], self.codes[col]


class LimitTable:
    """Every limit as threshold arrays, and per lane and series the timeline of the one that applies.

    Decisions compare scaled integers (`hi_int`/`lo_int`, units of 10**-exponent per limit), so a
    value exactly at a limit never exceeds it by a float artefact; the float `hi`/`lo` only pre-select
    candidate rows (with a margin) and drive hysteresis.
    """

    def __init__(self, limits: Sequence[LimitSpec], layout: SeriesLayout, *, rounded: bool = False) -> None:
        self.limits = tuple(limits)
        self.rounded = rounded
        exact = [exact_thresholds(lim) for lim in self.limits]
        self.is_gas = np.array([lim.scheme == "gas_alarm" for lim in self.limits] + [False])
        self._set_thresholds(exact)
        self._set_words(exact)
        self._build_timelines(layout)
        self._set_margins()

    def _set_thresholds(self, exact: list[TierThresholds]) -> None:
        """Each limit's tiers as scaled integers (the decisions) and floats (pre-selection, hysteresis)."""
        self.decimals = np.array([stated_decimals(lim) for lim in self.limits] + [0], dtype=np.int64)
        self.exponent = self.decimals + GUARD_DIGITS
        self._exponent_of, self._decimals_of = self.exponent.tolist(), self.decimals.tolist()
        # One extra row at the end, so index -1 (no limit) classifies as no tier.
        pairs = list(zip(exact, self.exponent[:-1].tolist(), strict=True))
        self.hi_int = np.array([[_scaled_hi(t, e) for t in hi] for (hi, _), e in pairs] + [[INT_MAX] * TIERS],
                               dtype=np.int64)
        self.lo_int = np.array([[_scaled_lo(t, e) for t in lo] for (_, lo), e in pairs] + [[INT_MIN] * TIERS],
                               dtype=np.int64)
        self.hi: FloatArray = np.array([[_float_of(t, True) for t in hi] for hi, _ in exact] + [[np.inf] * TIERS],
                                       dtype=np.float64).reshape(-1, TIERS)
        self.lo: FloatArray = np.array([[_float_of(t, False) for t in lo] for _, lo in exact] + [[-np.inf] * TIERS],
                                       dtype=np.float64).reshape(-1, TIERS)

    def _set_words(self, exact: list[TierThresholds]) -> None:
        """What the words need of each limit, beside the value: its warning line, the mean it is set on."""
        # The warning line of upper discharge limits, exact as written times the ratio.
        self.warning_line = [float(hi[0][0]) if hi[0] is not None and not gas else None
                             for (hi, _), gas in zip(exact, self.is_gas[:-1].tolist(), strict=True)]
        self.words: list[dict[str, object]] = [
            {**({"warning_line": w} if w is not None else {}),
             **({"prewarning_of": lim.basis} if lim.basis != "instant" else {}),
             **({"limit_from": "permit"} if lim.from_permit else {})}
            for lim, w in zip(self.limits, self.warning_line, strict=True)]

    def _build_timelines(self, layout: SeriesLayout) -> None:
        """Per lane and series, the segments of time in which one limit applies (segment 0: no limit)."""
        self.first = np.zeros((LANES, layout.n_series), dtype=np.int64)
        self.count = np.zeros((LANES, layout.n_series), dtype=np.int64)
        starts: list[float] = [NO_TIME]
        winners: list[int] = [-1]  # segment 0: the shared "no limit" timeline
        for (lane, series), candidates in sorted(self._candidates(layout).items()):
            segments = resolve_timeline(candidates)
            self.first[lane, series], self.count[lane, series] = len(starts), len(segments)
            starts += [s for s, _ in segments]
            winners += [w for _, w in segments]
        self.count[self.count == 0] = 1
        self.seg_start: FloatArray = np.array(starts, dtype=np.float64)
        self.seg_limit: IntArray = np.array(winners, dtype=np.int64)
        self.max_count = int(self.count.max(initial=1))
        # Between two consecutive segment starts (of any series) no winner changes: cache per window.
        self._bounds = np.unique(self.seg_start[np.isfinite(self.seg_start)])
        self._windows: dict[tuple[int, int], IntArray] = {}

    def _candidates(self, layout: SeriesLayout) -> dict[tuple[int, int], list[Candidate]]:
        """Per (lane, series) every limit that may apply: its rank, validity and index."""
        grouped: dict[tuple[int, int], list[Candidate]] = {}
        for index, lim in enumerate(self.limits):
            series = layout.series(lim.device_id, lim.pollutant)
            if series < 0:
                continue
            end = lim.valid_to.timestamp() if lim.valid_to else np.inf
            for lane in lanes_of(lim):
                grouped.setdefault((lane, series), []).append((rank_of(lim), lim.valid_from.timestamp(), end, index))
        return grouped

    def _set_margins(self) -> None:
        """A relative margin: rows a float comparison might misjudge go to the exact comparison too."""
        min_hi, max_lo = self.hi.min(axis=1), self.lo.max(axis=1)
        with np.errstate(invalid="ignore"):  # inf thresholds stay inf
            self.min_hi: FloatArray = np.where(np.isfinite(min_hi), min_hi - np.abs(min_hi) * 1e-9 - 1e-12, min_hi)
            self.max_lo: FloatArray = np.where(np.isfinite(max_lo), max_lo + np.abs(max_lo) * 1e-9 + 1e-12, max_lo)

    def series_with(self, lane: int) -> npt.NDArray[np.bool_]:
        """Whether each series has a limit in a lane at some time."""
        has: npt.NDArray[np.bool_] = (self.seg_limit[self.first[lane]] >= 0) | (self.count[lane] > 1)
        return has

    def lookup(self, lane: int, series: IntArray, time_s: FloatArray) -> IntArray:
        """The index of the limit that applies to each (series, time) in a lane; -1 for none."""
        if len(time_s) == 0:
            return np.zeros(0, dtype=np.int64)
        window = int(np.searchsorted(self._bounds, time_s.min(), side="right"))
        if window == int(np.searchsorted(self._bounds, time_s.max(), side="right")):
            found = self._windows.get((lane, window))
            if found is None:
                every = np.arange(self.first.shape[1])
                found = self._segments(lane, every, np.full(len(every), float(time_s.min())))
                self._windows[(lane, window)] = found
            winners: IntArray = found[series]
            return winners
        return self._segments(lane, series, time_s)

    def _segments(self, lane: int, series: IntArray, time_s: FloatArray) -> IntArray:
        first, count = self.first[lane, series], self.count[lane, series]
        segment = first.copy()
        for k in range(1, self.max_count):
            later = (k < count) & (time_s >= self.seg_start[np.minimum(first + k, len(self.seg_start) - 1)])
            segment += later
        limits: IntArray = self.seg_limit[segment]
        return limits

    def tiers(self, index: IntArray, value: FloatArray) -> npt.NDArray[np.int8]:
        """The highest tier (0 none, 1..3) each value reaches against its limit, decided exactly."""
        tiers = np.zeros(len(index), dtype=np.int8)
        rows = np.flatnonzero((value > self.min_hi[index]) | (value < self.max_lo[index]))
        if len(rows):
            at = index[rows]
            v = scale_values(value[rows], self.exponent[at], self.decimals[at], self.rounded)[:, None]
            breached = (v > self.hi_int[at]) | (v < self.lo_int[at])
            tiers[rows] = (breached * np.arange(1, TIERS + 1, dtype=np.int8)).max(axis=1)
        return tiers

    def judged_value(self, index: int, value: float) -> float:
        """The value as it was judged: as written to the limit's decimals plus guard digits, or rounded."""
        if index < 0 or not math.isfinite(value) or abs(value) > 1e9:
            return value
        exponent, decimals = int(self._exponent_of[index]), int(self._decimals_of[index])
        scaled: int = round(value * 10.0**exponent)  # Python rounds half to even, as np.rint does
        if self.rounded:
            step = 10 ** (exponent - decimals)
            quotient, rest = divmod(scaled, step)
            scaled = (quotient + (rest * 2 > step or (rest * 2 == step and quotient % 2 == 1))) * step
        judged: float = scaled / 10**exponent  # the nearest float to the decimal: 0.3, not 0.30000000000000004
        return judged

    def held_tier(self, index: int, value: float, current: int, clear_ratio: float, tier: int) -> int:
        """The tier a firing condition keeps: its exact `tier`, or a tier up to `current` until the value is
        past clear_ratio x that threshold (hysteresis, not a legal decision, so floats do)."""
        for held in range(current, tier, -1):
            hi, lo = self.hi[index, held - 1] * clear_ratio, self.lo[index, held - 1] / clear_ratio
            if value > hi or value < lo:
                return held
        return tier

    def limit_value(self, index: int, value: float, tier: int) -> float | None:
        """The threshold a value is measured against: the limit for discharge, the level's set point for gas."""
        if index < 0:
            return None
        lim = self.limits[index]
        above = lim.upper is not None and (lim.lower is None or value >= (lim.upper + lim.lower) / 2)
        if lim.scheme == "gas_alarm" and tier >= 2:
            return lim.level2_upper if above else lim.level2_lower
        return lim.upper if above else lim.lower
