"""The last readings of each series with an instantaneous limit, so a reading that arrives late is judged in
time order.

Readings of a series can arrive after newer ones: a resend filling a sequence gap, an HJ 212 history answer,
a message the broker held while newer ones went through. Judged in arrival order, the late one met a key that
had already moved on (a pending breach forgotten at the next normal reading), and an exceedance the data
shows in time order never opened: the replay of the stored readings opened it, the live engine did not.

`RecentReadings` keeps, per tracked series, the last `depth` judged readings (time, judged value, over-range)
in a ring. It answers whether a late reading was already seen (a catch-up feeds the engine readings it had),
and gives the engine the neighbours to judge a new late one with (alerts/rules/late.py). Pure numpy;
serialised into the engine's snapshot, because a restarted engine meets the most late readings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.rules.codec import decode_array, encode_array

# 16 readings: 80 s of a gas detector at 5 s, 8 min of an analyser at 30 s; a resend fills a gap within
# the 2 s grace and 30 s retries of docs/mqtt.md. Older late readings are counted (`LateJudge.unjudged`).
DEPTH = 16

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _group_starts(rows: IntArray) -> IntArray:
    change = np.ones(len(rows), dtype=bool)
    change[1:] = rows[1:] != rows[:-1]
    return np.flatnonzero(change)


class RecentReadings:
    """Per row (a tracked series), a ring of its last `depth` readings; empty slots hold NaN times."""

    def __init__(self, n: int, depth: int = DEPTH) -> None:
        self.depth = depth
        self.time = np.full((n, depth), np.nan)
        self.value = np.full((n, depth), np.nan)
        self.over = np.zeros((n, depth), dtype=bool)
        self.next = np.zeros(n, dtype=np.int64)

    def append(self, rows: IntArray, time_s: FloatArray, value: FloatArray, over: BoolArray) -> None:
        """Add readings newer than each row's entries; `rows` grouped, each group in time order."""
        if len(rows) == 0:
            return
        starts = _group_starts(rows)
        counts = np.diff(np.append(starts, len(rows)))
        rank = np.arange(len(rows)) - np.repeat(starts, counts)
        size = np.repeat(counts, counts)
        keep = rank >= size - self.depth  # more than `depth` of a row in one batch: its newest only
        pos = (self.next[rows] + rank) % self.depth
        self.time[rows[keep], pos[keep]] = time_s[keep]
        self.value[rows[keep], pos[keep]] = value[keep]
        self.over[rows[keep], pos[keep]] = over[keep]
        group_rows = rows[starts]
        self.next[group_rows] = (self.next[group_rows] + counts) % self.depth

    def holds(self, rows: IntArray, time_s: FloatArray) -> BoolArray:
        """Whether each row already has a reading at that time."""
        held: BoolArray = (self.time[rows] == time_s[:, None]).any(axis=1)
        return held

    def entries(self, row: int) -> tuple[FloatArray, FloatArray, BoolArray]:
        """A row's readings in time order."""
        times = self.time[row]
        order = np.argsort(times)  # NaN (empty) sorts last
        order = order[~np.isnan(times[order])]
        return times[order], self.value[row][order], self.over[row][order]

    def is_full(self, row: int) -> bool:
        """True when the row has `depth` readings (older ones were dropped)."""
        return not bool(np.isnan(self.time[row]).any())

    def replace(self, row: int, time_s: FloatArray, value: FloatArray, over: BoolArray) -> None:
        """Set a row to these readings (time order); only the newest `depth` are kept."""
        time_s, value, over = time_s[-self.depth:], value[-self.depth:], over[-self.depth:]
        m = len(time_s)
        self.time[row] = np.nan
        self.value[row] = np.nan
        self.over[row] = False
        self.time[row, :m], self.value[row, :m], self.over[row, :m] = time_s, value, over
        self.next[row] = m % self.depth

    def state(self, keys: list[list[Any]]) -> dict[str, Any]:
        """JSON-serialisable, with the (device, pollutant) of each row."""
        return {"keys": keys, "time": encode_array(self.time), "value": encode_array(self.value),
                "over": encode_array(self.over), "next": encode_array(self.next)}

    def load(self, state: dict[str, Any], row_map: IntArray) -> None:
        """Continue from `state`; row_map[i] is the old row of row i, or -1 if it is new."""
        old = row_map >= 0
        if not old.any():
            return
        time_s, value = decode_array(state["time"]), decode_array(state["value"])
        over, nxt = decode_array(state["over"]), decode_array(state["next"])
        if time_s.shape[1] != self.depth:  # another depth: keep what fits, newest first
            for new_row, old_row in zip(np.flatnonzero(old).tolist(), row_map[old].tolist(), strict=True):
                order = np.argsort(time_s[old_row])
                order = order[~np.isnan(time_s[old_row][order])]
                self.replace(new_row, time_s[old_row][order], value[old_row][order], over[old_row][order])
            return
        self.time[old], self.value[old] = time_s[row_map[old]], value[row_map[old]]
        self.over[old], self.next[old] = over[row_map[old]], nxt[row_map[old]]
