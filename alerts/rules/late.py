"""Readings older than the newest of their series, judged in time order with the recent readings.

A resend, an HJ 212 history answer or a message the broker held arrives after newer readings. Only the
instantaneous and gas limits (the rules an SMS starts from) are judged again: the late readings are merged into
the series' recent ones (alerts/rules/recent.py) and its limit keys replayed from the breach run they join. The
device rules (zero flow, constant value, flags) take late readings as before: not at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.model import AlertKey
from alerts.rules.frame import BoolArray, EngineFrame, FloatArray, IntArray, N, T, UInt8Array
from alerts.rules.keys import KeyBook
from alerts.rules.limits import LANE_INSTANT
from alerts.rules.pollution import PollutionJudge
from alerts.rules.recent import RecentReadings


class LateJudge:
    """The recent readings of series with an instantaneous limit, and the late readings judged with them."""

    def __init__(self, frame: EngineFrame, keys: KeyBook, pollution: PollutionJudge) -> None:
        self._frame = frame
        self._keys = keys
        self._pollution = pollution
        self._series = np.nonzero(frame.limits.series_with(LANE_INSTANT))[0]
        self._row = np.full(frame.layout.n_series, -1, dtype=np.int64)
        self._row[self._series] = np.arange(len(self._series))
        self.recent = RecentReadings(len(self._series))
        self.judged = 0  # late readings judged in time order
        self.unjudged = 0  # late readings older than the recent readings kept: not judged

    def remember(self, series: IntArray, time_s: FloatArray, judged: FloatArray, counted: BoolArray,
                 over: BoolArray) -> None:
        """Keep the judged readings of series with an instantaneous limit (rows in (series, time) order)."""
        rows = self._row[series]
        keep = counted & (rows >= 0)
        if keep.any():
            self.recent.append(rows[keep], time_s[keep], judged[keep], over[keep])

    def judge(self, series: IntArray, time_s: FloatArray, value: FloatArray, flag: UInt8Array) -> None:
        """Late readings (rows in (series, time) order), judged against their instantaneous and gas limits."""
        over = flag == T
        counted = (flag == N) | over
        rows = self._row[series]
        pick = counted & (rows >= 0)
        if not pick.any():
            return
        series, time_s, rows, over = series[pick], time_s[pick], rows[pick], over[pick]
        judged = np.where(over, np.fmax(value[pick], self._frame.range_hi[series]), value[pick])
        new = ~self.recent.holds(rows, time_s)  # a catch-up gives back readings already judged
        if not new.any():
            return
        series, time_s, rows, over, judged = series[new], time_s[new], rows[new], over[new], judged[new]
        for s in np.unique(series).tolist():
            mine = series == s
            self._rejudge(int(s), int(rows[mine][0]), time_s[mine], judged[mine], over[mine])

    def _rejudge(self, series: int, row: int, time_s: FloatArray, value: FloatArray, over: BoolArray) -> None:
        """Merge late readings into a series' recent ones and replay its limit keys from the run they join."""
        merged = self._merge(row, time_s, value, over)
        if merged is None:
            return
        times, values, overs, time_s = merged
        limits = self._frame.limits
        index = limits.lookup(LANE_INSTANT, np.full(len(times), series, dtype=np.int64), times)
        tier = limits.tiers(index, values)
        start = int(np.searchsorted(times, time_s.min()))
        while start > 0 and tier[start - 1] > 0:  # the breach run the late reading joins, from its start
            start -= 1
        for rule in sorted({self._rule_of(i) for i in index[start:].tolist() if i >= 0}):
            same = [j for j in range(start, len(times)) if index[j] >= 0 and self._rule_of(int(index[j])) == rule]
            self._replay(rule, series, same, (times, values, overs, index, tier), time_s)

    def _merge(self, row: int, time_s: FloatArray, value: FloatArray,
               over: BoolArray) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray] | None:
        """The row's readings with the late ones merged in time order, and the late times kept (None: none)."""
        old_t, old_v, old_o = self.recent.entries(row)
        if self.recent.is_full(row) and len(old_t):
            known = time_s >= old_t[0]
            self.unjudged += int((~known).sum())
            time_s, value, over = time_s[known], value[known], over[known]
            if len(time_s) == 0:
                return None
        self.judged += len(time_s)
        times = np.concatenate([old_t, time_s])
        order = np.argsort(times, kind="stable")
        times, values = times[order], np.concatenate([old_v, value])[order]
        overs = np.concatenate([old_o, over])[order]
        self.recent.replace(row, times, values, overs)
        return times, values, overs, time_s

    def _rule_of(self, index: int) -> str:
        return "gas" if self._frame.limits.is_gas[index] else "instant"

    def _replay(self, rule: str, series: int, same: list[int],
                merged: tuple[FloatArray, FloatArray, BoolArray, IntArray, npt.NDArray[np.int8]],
                late_s: FloatArray) -> None:
        """Replay one limit key over rows `same` of the merged readings (a firing key: only its peak)."""
        times, values, _, _, tier = merged
        device_id, code = self._frame.layout.key_of(series)
        key = AlertKey(device_id, code, rule)
        st = self._keys.states.get(key)
        if st is not None and st.status == "firing":
            self._keys.raise_peak(key, st, [(float(times[j]), float(values[j])) for j in same if tier[j] > 0
                                            and times[j] in late_s])
            return
        cleared = self._keys.cleared_at.get(key, -np.inf)
        same = [j for j in same if times[j] > cleared]
        if not any(times[j] in late_s for j in same):
            return  # the late readings fall before the key's last clear: that alert is over
        if st is not None:
            self._keys.forget(key)  # pending: replayed below from the run's start
        self._observe_rows(rule, series, same, merged)

    def _observe_rows(self, rule: str, series: int, same: list[int],
                      merged: tuple[FloatArray, FloatArray, BoolArray, IntArray, npt.NDArray[np.int8]]) -> None:
        """Observe the series' `rule` limit at each of the rows `same` of the merged readings, in time order."""
        times, values, overs, index, tier = merged
        range_hi = float(self._frame.range_hi[series])
        for j in same:
            detail: dict[str, Any] = {"over_range": bool(overs[j])}
            if overs[j] and math.isfinite(range_hi):
                detail["range_upper"] = range_hi
            self._pollution.observe_limit(rule, series, float(times[j]), float(values[j]), int(index[j]),
                                          int(tier[j]), detail)

    def keys_of_rows(self) -> list[list[Any]]:
        """[device, pollutant] of each recent row, for the snapshot."""
        return [list(self._frame.layout.key_of(s)) for s in self._series.tolist()]

    def load(self, state: dict[str, Any]) -> None:
        """Continue the recent readings of a snapshot (rows matched by device and pollutant)."""
        old = {(int(d), str(c)): i for i, (d, c) in enumerate(state["keys"])}
        keys = [self._frame.layout.key_of(s) for s in self._series.tolist()]
        self.recent.load(state, np.array([old.get(k, -1) for k in keys], dtype=np.int64))
