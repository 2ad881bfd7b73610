"""Hourly and daily averages of valid values per HJ 212 Appendix D, accumulated from batches with numpy.

Only N-flagged values count. An hour is valid with enough valid values (wastewater) or valid
minutes (flue gas); a day from its valid hourly averages. Days are China Standard Time days.
Periods close on `close_due(now)` once they ended `grace_seconds` ago, so late data still counts;
a second-of-hour bitmap makes a reading seen twice count once.

Data that arrives after its hour closed (a device's stored samples after an outage, a resend, an HJ 212
history answer) amends the hour while it is still in its slot (until two hours after it ended): the hour
closes again for the series it changed (`close_due` re-judges it), its contribution to the day is replaced,
and a day that had closed closes again for those series. Older data is counted in `late_dropped`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.rules.codec import decode_array, encode_array
from alerts.rules.periods import (
    CST_OFFSET_S,
    DAY_S,
    FLAG_BITS,
    HOUR_S,
    BoolArray,
    ClosedPeriod,
    FloatArray,
    IntArray,
    cst_day,
    rollup_letters,
)
from alerts.rules.policy import AveragesPolicy

HOUR_SLOTS = 3  # the hour being filled, the one in its grace period, one for clock skew
DAY_SLOTS = 2
KIND_NONE, KIND_WATER, KIND_GAS = 0, 1, 2
_NORMAL_BITS = FLAG_BITS[ord("N")]
_OVER_RANGE_BIT = FLAG_BITS[ord("T")]
_SEEN_BYTES = HOUR_S // 8


def _group_starts(keys: IntArray) -> IntArray:
    """Where each run of equal keys starts (keys arrive grouped)."""
    change = np.empty(len(keys), dtype=bool)
    change[0] = True
    change[1:] = keys[1:] != keys[:-1]
    return np.flatnonzero(change)


class AverageBook:
    """Running sums per tracked series and open hour/day, closed into averages when periods end."""

    # The per-series arrays of an hour slot (cleared when the slot takes a new hour) and of a day slot.
    HOUR_ARRAYS = ("h_sum", "h_count", "h_total", "h_flags", "h_minutes", "h_seen", "h_wsum", "h_wq", "h_wcount",
                   "h_dirty", "h_fed", "h_fed_avg", "h_fed_valid", "h_fed_flow")
    DAY_ARRAYS = ("d_sum", "d_hours", "d_total", "d_flags", "d_wsum", "d_wq", "d_wcount")
    ARRAYS = HOUR_ARRAYS + DAY_ARRAYS
    # Which hour and day each slot holds (-1: none yet) and whether it closed; in the snapshot as lists.
    SLOT_ARRAYS = (("slot_hour", np.int64), ("hour_closed", bool), ("slot_day", np.int64), ("day_closed", bool))

    def __init__(self, kinds: npt.NDArray[np.int8], minute_required: npt.NDArray[np.int64],
                 policy: AveragesPolicy, *, over_range_counts: bool = True, early_days: bool = True) -> None:
        self.kinds, self.minute_required, self.policy = kinds, minute_required, policy
        # T values counted (at least full scale) do not make their hour abnormal for validity.
        self.tolerated_bits = np.uint8(_NORMAL_BITS | (_OVER_RANGE_BIT if over_range_counts else 0))
        self.early_days = early_days
        self._allocate_hours(len(kinds))
        self._allocate_days(len(kinds))
        self.slot_hour = np.full(HOUR_SLOTS, -1, dtype=np.int64)
        self.hour_closed = np.zeros(HOUR_SLOTS, dtype=bool)
        self.slot_day = np.full(DAY_SLOTS, -1, dtype=np.int64)
        self.day_closed = np.zeros(DAY_SLOTS, dtype=bool)
        self.late_dropped = 0

    def _allocate_hours(self, n: int) -> None:
        """The HOUR_ARRAYS, empty, for n series."""
        shape = (n, HOUR_SLOTS)
        self.h_sum = np.zeros(shape)
        self.h_count = np.zeros(shape, dtype=np.int64)
        self.h_total = np.zeros(shape, dtype=np.int64)
        self.h_flags = np.zeros(shape, dtype=np.uint8)
        self.h_minutes = np.zeros((*shape, 60), dtype=np.int32)
        self.h_seen = np.zeros((*shape, _SEEN_BYTES), dtype=np.uint8)
        # Flow weighting of wastewater means (HJ 356-2019): sums of c*q and q, and how many values had a flow.
        self.h_wsum, self.h_wq = np.zeros(shape), np.zeros(shape)
        self.h_wcount = np.zeros(shape, dtype=np.int64)
        # Amending closed hours: which series an hour's late data changed (closed again at the next
        # close_due), and what each closed hour gave its day (replaced when it closes again).
        self.h_dirty = np.zeros(shape, dtype=bool)
        self.h_fed = np.zeros(shape, dtype=bool)
        self.h_fed_avg = np.zeros(shape)
        self.h_fed_valid = np.zeros(shape, dtype=bool)
        self.h_fed_flow = np.full(shape, np.nan)

    def _allocate_days(self, n: int) -> None:
        """The DAY_ARRAYS, empty, for n series."""
        shape = (n, DAY_SLOTS)
        self.d_sum = np.zeros(shape)
        self.d_wsum, self.d_wq = np.zeros(shape), np.zeros(shape)
        self.d_wcount = np.zeros(shape, dtype=np.int64)
        self.d_hours = np.zeros(shape, dtype=np.int64)
        self.d_total = np.zeros(shape, dtype=np.int64)
        self.d_flags = np.zeros(shape, dtype=np.uint8)

    def add(self, tracked: IntArray, time_s: FloatArray, value: FloatArray, flag: npt.NDArray[np.uint8],
            minute_basis: BoolArray, valid: BoolArray | None = None,
            flow: FloatArray | None = None) -> list[ClosedPeriod]:
        """Count readings (sorted by tracked series, then time); returns periods closed early for a newer one.

        `valid` says which values enter the means (default: the N-flagged ones); `flow` is the outfall's
        flow at each reading (NaN: none), the weight of wastewater means."""
        valid = flag == ord("N") if valid is None else valid
        flow = np.full(len(value), np.nan) if flow is None else flow
        hours = (time_s // HOUR_S).astype(np.int64)
        first, last = int(hours.min()), int(hours.max())
        if first == last:
            return [*self._open_hour(first),
                    *self._add_hour(tracked, time_s, (value, flow), flag, minute_basis, hours, valid)]
        closed: list[ClosedPeriod] = []
        for hour in np.unique(hours).tolist():  # in time order, so a batch spanning hours loses nothing
            mask = hours == hour
            closed += self._open_hour(hour)
            closed += self._add_hour(tracked[mask], time_s[mask], (value[mask], flow[mask]), flag[mask],
                                     minute_basis[mask], hours[mask], valid[mask])
        return closed

    def _add_hour(self, tracked: IntArray, time_s: FloatArray, packed: tuple[FloatArray, FloatArray],
                  flag: npt.NDArray[np.uint8],
                  minute_basis: BoolArray, hours: IntArray, valid: BoolArray) -> list[ClosedPeriod]:
        slot = hours % HOUR_SLOTS
        keep = self.slot_hour[slot] == hours  # a closed hour still in its slot is amended
        self.late_dropped += len(keep) - int(keep.sum())
        second = (time_s - hours * HOUR_S).astype(np.int64)
        if not keep.all():
            packed = (packed[0][keep], packed[1][keep])
            tracked, second, flag, slot = tracked[keep], second[keep], flag[keep], slot[keep]
            minute_basis, valid = minute_basis[keep], valid[keep]
        counted = self._count(tracked * HOUR_SLOTS + slot, second, packed, flag,
                              minute_basis, self.minute_required[tracked], valid)
        amended = counted & self.hour_closed[slot]
        if amended.any():
            self.h_dirty[tracked[amended], slot[amended]] = True
        return []

    def _count(self, cell: IntArray, second: IntArray, packed: tuple[FloatArray, FloatArray],
               flag: npt.NDArray[np.uint8], minute_basis: BoolArray, required: IntArray, valid: BoolArray) -> BoolArray:
        """Add to the cells (series x hour slot); rows arrive grouped by cell, in time order. Returns which
        rows counted (not seen before)."""
        unseen, byte_cell, bit = self._unseen(cell, second)
        value, flow = packed
        if not unseen.all():
            value, flow, cell, second, flag = value[unseen], flow[unseen], cell[unseen], second[unseen], flag[unseen]
            byte_cell, bit, minute_basis, required, valid = (byte_cell[unseen], bit[unseen], minute_basis[unseen],
                                                             required[unseen], valid[unseen])
        if len(cell) == 0:
            return unseen
        starts = _group_starts(byte_cell)
        self.h_seen.reshape(-1)[byte_cell[starts]] |= np.bitwise_or.reduceat(bit, starts)
        self._count_values(cell, value, flow, flag, valid)
        # A minute-basis value is a whole valid minute by itself.
        weight = np.where(valid, np.where(minute_basis, required, 1), 0)
        minute_cell = cell * 60 + second // 60
        starts = _group_starts(minute_cell)
        self.h_minutes.reshape(-1)[minute_cell[starts]] += np.add.reduceat(weight, starts).astype(np.int32)
        return unseen

    def _unseen(self, cell: IntArray, second: IntArray) -> tuple[BoolArray, IntArray, npt.NDArray[np.uint8]]:
        """Which rows the cells have not counted yet (a reading seen twice counts once), with each row's byte of
        the second-of-hour bitmap and its bit there."""
        dup = np.zeros(len(cell), dtype=bool)
        dup[1:] = (cell[1:] == cell[:-1]) & (second[1:] == second[:-1])
        byte, bit = second >> 3, (1 << (second & 7)).astype(np.uint8)
        byte_cell = cell * _SEEN_BYTES + byte
        unseen: BoolArray = ~dup & ((self.h_seen.reshape(-1)[byte_cell] & bit) == 0)
        return unseen, byte_cell, bit

    def _count_values(self, cell: IntArray, value: FloatArray, flow: FloatArray, flag: npt.NDArray[np.uint8],
                      valid: BoolArray) -> None:
        """Add the rows' totals, flags and valid sums to their cells."""
        starts = _group_starts(cell)
        cells = cell[starts]
        self.h_total.reshape(-1)[cells] += np.diff(np.append(starts, len(cell)))
        self.h_flags.reshape(-1)[cells] |= np.bitwise_or.reduceat(FLAG_BITS[flag], starts)
        self.h_sum.reshape(-1)[cells] += np.add.reduceat(np.where(valid, value, 0.0), starts)
        self.h_count.reshape(-1)[cells] += np.add.reduceat(valid.astype(np.int64), starts)
        weighed = valid & np.isfinite(flow)
        if weighed.any():
            self._count_weighted(cells, starts, weighed, value, flow)

    def _count_weighted(self, cells: IntArray, starts: IntArray, weighed: BoolArray, value: FloatArray,
                        flow: FloatArray) -> None:
        """Add c*q, q and the count of values with a flow to the cells (flow-weighted wastewater means)."""
        self.h_wsum.reshape(-1)[cells] += np.add.reduceat(np.where(weighed, value * flow, 0.0), starts)
        self.h_wq.reshape(-1)[cells] += np.add.reduceat(np.where(weighed, flow, 0.0), starts)
        self.h_wcount.reshape(-1)[cells] += np.add.reduceat(weighed.astype(np.int64), starts)

    def _open_hour(self, hour: int) -> list[ClosedPeriod]:
        slot = hour % HOUR_SLOTS
        current = int(self.slot_hour[slot])
        if current >= hour:
            return []
        closed = [] if current < 0 or self.hour_closed[slot] else self._close_hour(slot)
        self._reset_hour(slot)
        self.slot_hour[slot], self.hour_closed[slot] = hour, False
        return closed

    def _reset_hour(self, slot: int) -> None:
        for name in self.HOUR_ARRAYS:
            getattr(self, name)[:, slot] = 0
        self.h_fed_flow[:, slot] = np.nan  # no flow is known, unlike no sum

    def close_due(self, now_s: float) -> list[ClosedPeriod]:
        """Close every hour, then every CST day, that ended at least `grace_seconds` before now."""
        closed: list[ClosedPeriod] = []
        grace = self.policy.grace_seconds
        for slot in np.argsort(self.slot_hour).tolist():
            hour = int(self.slot_hour[slot])
            if hour >= 0 and not self.hour_closed[slot] and now_s >= (hour + 1) * HOUR_S + grace:
                closed += self._close_hour(slot)
            elif hour >= 0 and self.hour_closed[slot] and self.h_dirty[:, slot].any():
                closed += self._close_hour(slot, np.flatnonzero(self.h_dirty[:, slot]))
        for slot in np.argsort(self.slot_day).tolist():
            day = int(self.slot_day[slot])
            if day >= 0 and not self.day_closed[slot] and now_s >= (day + 1) * DAY_S - CST_OFFSET_S + grace:
                closed.append(self._close_day(slot))
        return closed

    def _close_hour(self, slot: int, amended: IntArray | None = None) -> list[ClosedPeriod]:
        """Close an hour for every series with data in it, or close it again for the `amended` ones."""
        hour = int(self.slot_hour[slot])
        self.hour_closed[slot] = True
        tracked = np.nonzero(self.h_total[:, slot] > 0)[0] if amended is None else amended
        self.h_dirty[tracked, slot] = False
        count = self.h_count[tracked, slot]
        water = self.kinds[tracked] == KIND_WATER
        minutes = (self.h_minutes[tracked, slot, :] >= self.minute_required[tracked, None]).sum(axis=1)
        p = self.policy
        valid = np.where(water, count >= p.wastewater_hour_min_valid_values,
                         minutes >= p.flue_gas_hour_min_valid_minutes)
        with np.errstate(invalid="ignore", divide="ignore"):
            average = np.where(count > 0, self.h_sum[tracked, slot] / count, np.nan)
            # Flow-weighted where every valid value had a positive flow beside it (HJ 356-2019).
            weighted = water & (self.h_wcount[tracked, slot] == count) & (self.h_wq[tracked, slot] > 0)
            average = np.where(weighted, self.h_wsum[tracked, slot] / self.h_wq[tracked, slot], average)
            flow = np.where(weighted, self.h_wq[tracked, slot] / np.maximum(count, 1), np.nan)
        normal_gas = count >= p.flue_gas_normal_ratio * self.h_total[tracked, slot]
        flag = np.where(water, rollup_letters(self.h_flags[tracked, slot]), np.where(normal_gas, "N", "D"))
        if p.wastewater_abnormal_hour_invalid:  # HJ 212 roll-up: an abnormal value makes the hour abnormal
            valid &= ~water | ((self.h_flags[tracked, slot] & ~self.tolerated_bits) == 0)
        period = ClosedPeriod("hour", hour * HOUR_S, (hour + 1) * HOUR_S, tracked, average, valid,
                              np.where(water, count, minutes), tuple(flag.tolist()), flow)
        before, again = self._feed_day(period, slot)
        return [*before, period, *again, *self._running_day(period)]

    def _feed_day(self, hour: ClosedPeriod, hour_slot: int) -> tuple[list[ClosedPeriod], list[ClosedPeriod]]:
        """Add a closed hour's averages to its day, replacing what the hour gave before if it closed again.

        Returns the day closed first (an older day pushed out of its slot) and the day closed again (an hour
        amended after its day had closed: the day is judged again for the hour's series)."""
        day = cst_day(hour.start_s)
        slot = day % DAY_SLOTS
        if self.slot_day[slot] > day:
            return [], []  # its day has left the book
        before = self._open_day(day, slot, hour_slot) if self.slot_day[slot] != day else []
        self._unfeed(hour.tracked, hour_slot, slot)
        self._feed(hour, hour_slot, slot)
        again = [self._close_day(slot, hour.tracked)] if self.day_closed[slot] else []
        return before, again

    def _open_day(self, day: int, slot: int, hour_slot: int) -> list[ClosedPeriod]:
        """Give a day slot to `day`; returns the older day that held it when it closed only now."""
        before = [self._close_day(slot)] if self.slot_day[slot] >= 0 and not self.day_closed[slot] else []
        for name in self.DAY_ARRAYS:
            getattr(self, name)[:, slot] = 0
        self.slot_day[slot], self.day_closed[slot] = day, False
        self.h_fed[:, hour_slot] = False  # anything it gave went to the day that left
        return before

    def _feed(self, hour: ClosedPeriod, hour_slot: int, slot: int) -> None:
        """Add a closed hour to its day's sums, and remember what it gave (to take it back if it closes again)."""
        ok = hour.valid
        self.d_sum[hour.tracked[ok], slot] += hour.average[ok]
        self.d_hours[hour.tracked[ok], slot] += 1
        flow = self._feed_flow(hour, slot)
        self.d_total[hour.tracked, slot] += 1
        letters = np.array(hour.flag, dtype="<U1")
        self.d_flags[hour.tracked, slot] |= FLAG_BITS[letters.view(np.uint32).astype(np.uint8)]
        self.h_fed[hour.tracked, hour_slot] = True
        self.h_fed_avg[hour.tracked, hour_slot] = np.where(ok, hour.average, 0.0)
        self.h_fed_valid[hour.tracked, hour_slot] = ok
        self.h_fed_flow[hour.tracked, hour_slot] = flow

    def _feed_flow(self, hour: ClosedPeriod, slot: int) -> FloatArray:
        """The day weighs each valid hour by its mean flow; returns the flow each series fed (NaN: none)."""
        if hour.flow is None:
            return np.full(len(hour.tracked), np.nan)
        weighed = hour.valid & np.isfinite(hour.flow)
        self.d_wsum[hour.tracked[weighed], slot] += hour.average[weighed] * hour.flow[weighed]
        self.d_wq[hour.tracked[weighed], slot] += hour.flow[weighed]
        self.d_wcount[hour.tracked[weighed], slot] += 1
        return np.where(weighed, hour.flow, np.nan)

    def _unfeed(self, tracked: IntArray, hour_slot: int, day_slot: int) -> None:
        """Take back what an hour closing again gave its day the last time (its flags stay: late data only adds)."""
        fed = tracked[self.h_fed[tracked, hour_slot]]
        if len(fed) == 0:
            return
        was = fed[self.h_fed_valid[fed, hour_slot]]
        self.d_sum[was, day_slot] -= self.h_fed_avg[was, hour_slot]
        self.d_hours[was, day_slot] -= 1
        weighed = was[np.isfinite(self.h_fed_flow[was, hour_slot])]
        self.d_wsum[weighed, day_slot] -= self.h_fed_avg[weighed, hour_slot] * self.h_fed_flow[weighed, hour_slot]
        self.d_wq[weighed, day_slot] -= self.h_fed_flow[weighed, hour_slot]
        self.d_wcount[weighed, day_slot] -= 1
        self.d_total[fed, day_slot] -= 1
        self.h_fed[fed, hour_slot] = False

    def _running_day(self, hour: ClosedPeriod) -> list[ClosedPeriod]:
        """The lowest daily mean still possible for wastewater series of the open day: as if every hour left
        were valid at zero. When even that exceeds a limit, the day's exceedance is certain already."""
        day = cst_day(hour.start_s)
        slot = day % DAY_SLOTS
        day_end = (day + 1) * DAY_S - CST_OFFSET_S
        hours_left = int(round((day_end - hour.end_s) / HOUR_S))
        if not self.early_days or hours_left <= 0 or self.slot_day[slot] != day or self.day_closed[slot]:
            return []
        # Only an arithmetic mean has a floor: a flow-weighted one can fall to anything the flows allow.
        water = hour.tracked[self.kinds[hour.tracked] == KIND_WATER]
        tracked = water[self.d_wcount[water, slot] == 0]
        hours = self.d_hours[tracked, slot]
        tracked, hours = tracked[hours > 0], hours[hours > 0]
        if len(tracked) == 0:
            return []
        lowest = self.d_sum[tracked, slot] / (hours + hours_left)
        valid = hours >= self.policy.wastewater_day_min_valid_hours
        start = day * DAY_S - CST_OFFSET_S
        return [ClosedPeriod("day_so_far", start, hour.end_s, tracked, lowest, valid, hours, ("N",) * len(tracked))]

    def _close_day(self, slot: int, amended: IntArray | None = None) -> ClosedPeriod:
        """Close a day for every series with hours in it, or close it again for the `amended` ones."""
        day = int(self.slot_day[slot])
        self.day_closed[slot] = True
        tracked = np.nonzero(self.d_total[:, slot] > 0)[0] if amended is None else amended
        hours = self.d_hours[tracked, slot]
        water = self.kinds[tracked] == KIND_WATER
        p = self.policy
        valid = np.where(water, hours >= p.wastewater_day_min_valid_hours, hours >= p.flue_gas_day_min_valid_hours)
        with np.errstate(invalid="ignore", divide="ignore"):
            average = np.where(hours > 0, self.d_sum[tracked, slot] / hours, np.nan)
            weighted = water & (self.d_wcount[tracked, slot] == hours) & (self.d_wq[tracked, slot] > 0)
            average = np.where(weighted, self.d_wsum[tracked, slot] / self.d_wq[tracked, slot], average)
        normal_gas = hours >= p.flue_gas_normal_ratio * self.d_total[tracked, slot]
        flag = np.where(water, rollup_letters(self.d_flags[tracked, slot]), np.where(normal_gas, "N", "D"))
        start = day * DAY_S - CST_OFFSET_S
        return ClosedPeriod("day", start, start + DAY_S, tracked, average, valid, hours, tuple(flag.tolist()))

    def state(self) -> dict[str, Any]:
        """Everything needed to continue, JSON-serialisable (rows in tracked order)."""
        out: dict[str, Any] = {name: encode_array(getattr(self, name)) for name in self.ARRAYS}
        for name, _ in self.SLOT_ARRAYS:
            out[name] = getattr(self, name).tolist()
        out["late_dropped"] = self.late_dropped
        return out

    def load(self, state: dict[str, Any], row_map: IntArray) -> None:
        """Continue from `state`; row_map[i] is the old row of tracked series i, or -1 if it is new."""
        has_old = row_map >= 0
        for name in self.ARRAYS:
            if name in state:  # snapshots from before flow weighting lack its sums
                getattr(self, name)[has_old] = decode_array(state[name])[row_map[has_old]]
        for name, dtype in self.SLOT_ARRAYS:
            setattr(self, name, np.array(state[name], dtype=dtype))
        self.late_dropped = int(state["late_dropped"])
