"""The hourly and daily means: readings of series with a mean limit go into the `AverageBook`, and every period
it closes (an hour, a day, or a running day that can no longer pass) is judged against that mean's limit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.rules.averages import KIND_GAS, KIND_NONE, KIND_WATER, AverageBook
from alerts.rules.frame import BoolArray, EngineFrame, FloatArray, IntArray, N, T, UInt8Array
from alerts.rules.keys import to_datetime
from alerts.rules.limits import LANE_DAY, LANE_HOUR
from alerts.rules.periods import ClosedPeriod
from alerts.rules.policy import Policy
from alerts.rules.pollution import PollutionJudge

Int8Array = npt.NDArray[np.int8]


class MeanJudge:
    """Running means per tracked series (those with an hourly or daily limit), judged when they close."""

    def __init__(self, frame: EngineFrame, policy: Policy, pollution: PollutionJudge) -> None:
        self._frame = frame
        self._policy = policy
        self._pollution = pollution
        self.tracked = np.nonzero(frame.limits.series_with(LANE_HOUR) | frame.limits.series_with(LANE_DAY))[0]
        self._avg_index = np.full(frame.layout.n_series, -1, dtype=np.int64)
        self._avg_index[self.tracked] = np.arange(len(self.tracked))
        self.book = self._new_book(frame, policy)

    def _new_book(self, frame: EngineFrame, policy: Policy) -> AverageBook:
        n_codes = frame.n_codes
        kind_of = np.array([{"water": KIND_WATER, "gas": KIND_GAS}.get(p.kind, KIND_NONE) for p in frame.pollutants])
        kinds = kind_of[self.tracked % n_codes].astype(np.int8)
        per_minute = np.array([max(1, 60 // frame.registry.devices[d].reporting_interval_seconds)
                               for d in frame.layout.device_ids], dtype=np.int64)
        required = np.minimum(policy.averages.flue_gas_minute_min_samples, per_minute[self.tracked // n_codes])
        judging = policy.judging
        return AverageBook(kinds, required, policy.averages,
                           over_range_counts=judging.over_range_in_averages == "range_upper",
                           early_days=judging.early_daily_exceedance)

    @property
    def late_dropped(self) -> int:
        """Readings that arrived after their hour had closed (not in any average)."""
        return self.book.late_dropped

    def add(self, series: IntArray, time_s: FloatArray, value: FloatArray, flag: UInt8Array, basis: Int8Array,
            device_flow: FloatArray) -> None:
        """Add a batch's minute and instantaneous readings; judge the periods that closed (rows in (series, time)
        order; `device_flow` each device's last normal outfall flow before this batch)."""
        tracked = self._avg_index[series]
        use = (tracked >= 0) & (basis <= 1)
        if not use.any():
            return
        value_all = value
        valid = flag[use] == N
        value = value[use]
        over = flag[use] == T  # enters the means as at least full scale
        if self._policy.judging.over_range_in_averages == "range_upper" and over.any():
            valid |= over
            value = np.where(over, np.fmax(value, self._frame.range_hi[series[use]]), value)
        flow = self._flow_at(series, value_all, flag, use, device_flow) if self._frame.weighing else None
        for period in self.book.add(tracked[use], time_s[use], value, flag[use], basis[use] == 1, valid, flow):
            self._judge(period)

    def _flow_at(self, series: IntArray, value: FloatArray, flag: UInt8Array, use: BoolArray,
                 device_flow: FloatArray) -> FloatArray:
        """The outfall flow beside each reading: the device's latest normal w00000 of this batch, else the last
        one seen before; NaN where the device's means are not flow-weighted. (One batch holds about one message
        per device; a batch spanning several messages of a device weighs them all with its latest flow.)"""
        n_codes = self._frame.n_codes
        slots = series // n_codes
        latest = device_flow.copy()
        rows = np.flatnonzero((series % n_codes == self._frame.water_flow_col) & (flag == N))
        latest[slots[rows]] = value[rows]  # rows are in time order within a series: the latest is written last
        slots = slots[use]
        flow: FloatArray = np.where(self._frame.weighs[slots], latest[slots], np.nan)
        return flow

    def close_due(self, now_s: float) -> None:
        """Close and judge the hours and days that ended by `now_s` (after their grace)."""
        for period in self.book.close_due(now_s):
            self._judge(period)

    def _judge(self, period: ClosedPeriod) -> None:
        rule, lane = ("hour_avg", LANE_HOUR) if period.period == "hour" else ("day_avg", LANE_DAY)
        series = self.tracked[period.tracked]
        limits = self._frame.limits
        index = limits.lookup(lane, series, np.full(len(series), period.start_s))
        tier = limits.tiers(index, np.nan_to_num(period.average, nan=0.0)) * period.valid
        early = period.period == "day_so_far"
        active = self._pollution.active_of(rule, series)
        # A running day speaks only when its lowest possible mean already exceeds: it never clears anything.
        pick = period.valid & ((tier >= 2) if early else ((tier > 0) | active))
        for i in np.nonzero(pick)[0].tolist():
            detail: dict[str, Any] = {"period_start": to_datetime(period.start_s).isoformat(),
                                      "valid_count": int(period.valid_count[i]), "flag": period.flag[i],
                                      "early": early}
            detail["hours_left"] = round((period.start_s + 86400 - period.end_s) / 3600) if early else 0
            self._pollution.observe_limit(rule, int(series[i]), period.end_s, float(period.average[i]), int(index[i]),
                                          int(tier[i]), detail)

    def tracked_keys(self) -> list[tuple[int, str]]:
        """(device, pollutant) of each tracked series, in book row order."""
        return [self._frame.layout.key_of(s) for s in self.tracked.tolist()]

    def load(self, state: dict[str, Any], tracked: list[list[Any]]) -> None:
        """Continue the means of a snapshot whose book rows were the series `tracked` (device, pollutant)."""
        old_tracked = {(int(d), str(c)): i for i, (d, c) in enumerate(tracked)}
        row_map = np.array([old_tracked.get(k, -1) for k in self.tracked_keys()], dtype=np.int64)
        self.book.load(state, row_map)
