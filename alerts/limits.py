"""Which limit applies to a series at a time, and which tier a value reaches, as array look-ups.

A series is one (device, pollutant). Each has three lanes: 0 the instantaneous check (gas alarms,
and discharge limits of any basis as a pre-warning), 1 the hourly average, 2 the daily average.
Device scope beats site scope beats default; among equals the later `valid_from` wins. Each lane
of each series becomes a timeline of segments, so a batch needs one vectorised look-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def lanes_of(limit: LimitSpec) -> tuple[int, ...]:
    """The lanes a limit serves: its basis lane and the instantaneous pre-warning."""
    if limit.basis == "instant":
        return (LANE_INSTANT,)
    return (LANE_INSTANT, _LANE_OF_BASIS[limit.basis])


def rank_of(limit: LimitSpec) -> tuple[int, int, float]:
    """Precedence among limits competing for one lane of one series."""
    return (SCOPE_RANK[limit.scope], _BASIS_RANK[limit.basis], limit.valid_from.timestamp())


def resolve_timeline(candidates: Sequence[tuple[tuple[int, int, float], float, float, int]]) -> list[tuple[float, int]]:
    """Segments (start_s, winner) from (rank, valid_from_s, valid_to_s, index) candidates; -1 = none."""
    bounds = sorted({NO_TIME, *(c[1] for c in candidates), *(c[2] for c in candidates if c[2] < np.inf)})
    segments: list[tuple[float, int]] = []
    for start in bounds:
        covering = [c for c in candidates if c[1] <= start < c[2]]
        winner = max(covering)[3] if covering else -1
        if not segments or segments[-1][1] != winner:
            segments.append((start, winner))
    return segments


def _thresholds(limit: LimitSpec) -> tuple[list[float], list[float]]:
    """Upper and lower thresholds per tier (tier 1..3 at positions 0..2), +-inf where absent."""
    hi, lo = [np.inf] * TIERS, [-np.inf] * TIERS
    if limit.scheme == "gas_alarm":
        # Gas alarms sound AT the set point: nudge down so that `>` means `>=`.
        if limit.upper is not None:
            hi[0] = float(np.nextafter(limit.upper, -np.inf))
        if limit.level2_upper is not None:
            hi[1] = float(np.nextafter(limit.level2_upper, -np.inf))
        if limit.lower is not None:
            lo[0] = float(np.nextafter(limit.lower, np.inf))
        if limit.level2_lower is not None:
            lo[1] = float(np.nextafter(limit.level2_lower, np.inf))
        return hi, lo
    # Ratios make no sense on a range such as pH 6-9: ranges have the exceedance tier only.
    ratios = limit.direction != "range"
    if limit.upper is not None:
        hi[1] = limit.upper
        hi[0] = limit.upper * limit.warning_ratio if ratios and limit.warning_ratio else np.inf
        hi[2] = limit.upper * limit.severe_multiple if ratios and limit.severe_multiple else np.inf
    if limit.lower is not None:
        lo[1] = limit.lower
        lo[0] = limit.lower / limit.warning_ratio if ratios and limit.warning_ratio else -np.inf
        lo[2] = limit.lower / limit.severe_multiple if ratios and limit.severe_multiple else -np.inf
    return hi, lo


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
    """Every limit as threshold arrays, and per lane and series the timeline of the one that applies."""

    def __init__(self, limits: Sequence[LimitSpec], layout: SeriesLayout) -> None:
        self.limits = tuple(limits)
        hi, lo = zip(*(_thresholds(lim) for lim in self.limits), strict=True) if self.limits else ((), ())
        # One extra row of +-inf at the end, so index -1 (no limit) classifies as no tier.
        self.hi: FloatArray = np.array([*hi, [np.inf] * TIERS], dtype=np.float64).reshape(-1, TIERS)
        self.lo: FloatArray = np.array([*lo, [-np.inf] * TIERS], dtype=np.float64).reshape(-1, TIERS)
        self.is_gas = np.array([lim.scheme == "gas_alarm" for lim in self.limits] + [False])
        self._build_timelines(layout)

    def _build_timelines(self, layout: SeriesLayout) -> None:
        grouped: dict[tuple[int, int], list[tuple[tuple[int, int, float], float, float, int]]] = {}
        for index, lim in enumerate(self.limits):
            series = layout.series(lim.device_id, lim.pollutant)
            if series < 0:
                continue
            end = lim.valid_to.timestamp() if lim.valid_to else np.inf
            for lane in lanes_of(lim):
                grouped.setdefault((lane, series), []).append((rank_of(lim), lim.valid_from.timestamp(), end, index))
        self.first = np.zeros((LANES, layout.n_series), dtype=np.int64)
        self.count = np.zeros((LANES, layout.n_series), dtype=np.int64)
        starts: list[float] = [NO_TIME]
        winners: list[int] = [-1]  # segment 0: the shared "no limit" timeline
        for (lane, series), candidates in sorted(grouped.items()):
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
        self.min_hi: FloatArray = self.hi.min(axis=1)
        self.max_lo: FloatArray = self.lo.max(axis=1)

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
        """The highest tier (0 none, 1..3) each value reaches against its limit."""
        tiers = np.zeros(len(index), dtype=np.int8)
        rows = np.flatnonzero((value > self.min_hi[index]) | (value < self.max_lo[index]))
        if len(rows):
            hi, lo, v = self.hi[index[rows]], self.lo[index[rows]], value[rows, None]
            breached = (v > hi) | (v < lo)
            tiers[rows] = (breached * np.arange(1, TIERS + 1, dtype=np.int8)).max(axis=1)
        return tiers

    def held_tier(self, index: int, value: float, current: int, clear_ratio: float) -> int:
        """The tier a firing condition keeps: tiers up to `current` hold until past clear_ratio x threshold."""
        for tier in range(TIERS, 0, -1):
            hi, lo = self.hi[index, tier - 1], self.lo[index, tier - 1]
            if tier <= current:
                hi, lo = hi * clear_ratio, lo / clear_ratio
            if value > hi or value < lo:
                return tier
        return 0

    def limit_value(self, index: int, value: float, tier: int) -> float | None:
        """The threshold a value is measured against: the limit for discharge, the level's set point for gas."""
        if index < 0:
            return None
        lim = self.limits[index]
        above = lim.upper is not None and (lim.lower is None or value >= (lim.upper + lim.lower) / 2)
        if lim.scheme == "gas_alarm" and tier >= 2:
            return lim.level2_upper if above else lim.level2_lower
        return lim.upper if above else lim.lower
