"""Rules about the device rather than the discharge: zero concentration while flow runs, negative values, a value
stuck over many samples, values outside the measuring range, and the device's flags (maintenance, manual input).

`SeriesMemory` keeps what each series last said (its newest time, value and run of equal values) and each
device's flow; `DeviceRules` turns a batch's fresh readings into observations of the device rules, and keeps the
flag letter of every series for the one flag alert per device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.model import WHOLE_DEVICE, AlertKey
from alerts.rules.frame import (
    DEVICE_FLAG_RULES,
    RULE_ROW,
    BoolArray,
    EngineFrame,
    FloatArray,
    IntArray,
    N,
    S,
    UInt8Array,
)
from alerts.rules.keys import KeyBook, Observation
from alerts.rules.policy import Policy


def finite_or_none(value: float) -> float | None:
    """A float, or None where it is NaN or infinite (for JSON details)."""
    return float(value) if np.isfinite(value) else None


class SeriesMemory:
    """Per series its newest reading time, last value and run of equal normal values; per device its flow."""

    def __init__(self, frame: EngineFrame) -> None:
        n_series = frame.layout.n_series
        self._frame = frame
        self.last_time = np.full(n_series, -np.inf)
        self.last_value = np.full(n_series, np.nan)
        self.run = np.zeros(n_series, dtype=np.int64)
        self.flow = np.full(len(frame.layout.device_ids), np.nan)

    def advance(self, series: IntArray, time_s: FloatArray, value: FloatArray, normal: BoolArray) -> IntArray:
        """Take fresh readings (rows in (series, time) order): their runs (see `runs`), newest times and flows."""
        last = np.ones(len(series), dtype=bool)
        last[:-1] = series[1:] != series[:-1]
        runs = self.runs(series, value, normal, last)
        self.last_time[series[last]] = time_s[last]
        self.note_flow(series, value, normal, last)
        return runs

    def runs(self, series: IntArray, value: FloatArray, normal: BoolArray, last: BoolArray) -> IntArray:
        """How many consecutive normal readings of each series carried exactly this value."""
        n = len(series)
        same = np.zeros(n, dtype=bool)
        same[1:] = (series[1:] == series[:-1]) & (value[1:] == value[:-1]) & normal[1:] & normal[:-1]
        first = np.ones(n, dtype=bool)
        first[1:] = series[1:] != series[:-1]
        carry = np.where(first & normal & (value == self.last_value[series]), self.run[series], 0)
        index = np.arange(n)
        start = np.maximum.accumulate(np.where(same, 0, index))
        runs: IntArray = (index - start + 1 + carry[start]) * normal
        self.last_value[series[last]] = value[last]
        self.run[series[last]] = runs[last]
        return runs

    def note_flow(self, series: IntArray, value: FloatArray, normal: BoolArray, last: BoolArray) -> None:
        """Keep each device's latest normal flow (`last`: the last row of each series in the batch)."""
        n_codes = self._frame.n_codes
        flow = self._frame.is_flow[series % n_codes] & last & normal
        self.flow[series[flow] // n_codes] = value[flow]


class DeviceRules:
    """Observations of the device rules and of the per-device flag alerts."""

    def __init__(self, frame: EngineFrame, policy: Policy, keys: KeyBook) -> None:
        self._frame = frame
        self._policy = policy
        self._keys = keys
        n_series = frame.layout.n_series
        # The flag letter each series is in for each device flag rule (0: fine), and per rule how many.
        self.flag_state = np.zeros(n_series, dtype=np.uint8)
        self.manual_state = np.zeros(n_series, dtype=np.uint8)
        self._flagged = {rule: 0 for rule in DEVICE_FLAG_RULES}  # series with a nonzero state, per rule

    def recount(self) -> None:
        """Count the flagged series again (after the states were loaded)."""
        self._flagged = {"flag": int(np.count_nonzero(self.flag_state)),
                         "manual": int(np.count_nonzero(self.manual_state))}

    # ----- zero flow, negative, constant, implausible --------------------------------------------

    def judge(self, series: IntArray, time_s: FloatArray, value: FloatArray, normal: BoolArray, cols: IntArray,
              runs: IntArray, device_flow: FloatArray) -> None:
        """A batch's fresh readings, rows in (series, time) order, with their runs and each device's flow."""
        slots = series // self._frame.n_codes
        active = self._keys.masks.series
        for rule, (cond, evidence) in self._conditions(series, value, normal, cols, runs, device_flow[slots]).items():
            pick = cond | (active[RULE_ROW[rule], series] & evidence)
            for i in np.nonzero(pick)[0].tolist():
                self._observe(rule, int(series[i]), float(time_s[i]), float(value[i]), bool(cond[i]), int(runs[i]),
                              float(device_flow[slots[i]]))

    def _conditions(self, series: IntArray, value: FloatArray, normal: BoolArray, cols: IntArray, runs: IntArray,
                    flow: FloatArray) -> dict[str, tuple[BoolArray, BoolArray]]:
        """Per rule, the rows where its condition holds, and the rows that are evidence either way (a row that
        is no evidence, such as a flagged one, never clears a key)."""
        frame, policy = self._frame, self._policy
        conc = frame.is_conc[cols] & normal
        slots = series // frame.n_codes
        zero = conc & (value == 0) & (flow > frame.flow_threshold[slots])
        signed = conc | (frame.is_flow[cols] & normal)
        negative = signed & (value < -policy.negative.tolerance)
        constant = conc & (runs >= policy.constant.samples)
        if frame.has_ranges:
            ranged = normal & (np.isfinite(frame.range_lo[series]) | np.isfinite(frame.range_hi[series]))
            # NaN bounds compare false, so a missing bound never fails the check.
            implausible = ranged & ((value > frame.range_hi[series]) | (value < frame.range_lo[series]))
        else:
            ranged = implausible = np.zeros(len(series), dtype=bool)
        return {"zero_flow": (zero, conc), "negative": (negative, signed), "constant": (constant, conc),
                "implausible": (implausible, ranged)}

    def _observe(self, rule: str, series: int, time_s: float, value: float, cond: bool, run: int,
                 flow: float) -> None:
        device_id, code = self._frame.layout.key_of(series)
        detail: dict[str, Any] = {"samples": run} if rule == "constant" else {}
        if rule == "zero_flow":
            detail = {"flow": flow}
        if rule == "implausible":
            detail = {"range_lower": finite_or_none(self._frame.range_lo[series]),
                      "range_upper": finite_or_none(self._frame.range_hi[series])}
        tier = int(cond)
        sign = {"negative": -1, "implausible": 1}.get(rule, 0)
        self._keys.observe(AlertKey(device_id, code, rule), Observation(time_s, tier, tier, value, detail=detail), sign)

    # ----- flags ----------------------------------------------------------------------------------

    def judge_flags(self, series: IntArray, time_s: FloatArray, flag: UInt8Array,
                    abnormal: npt.NDArray[np.intp]) -> None:
        """One alert per device for each DEVICE_FLAG_RULES rule: some series of the device is in a raising flag
        (flag: anything but N and S; manual: S)."""
        picked = self._rows_to_look_at(series, flag, abnormal)
        if len(picked) == 0:
            return
        picked, slots, ends = self._by_device_and_time(series, time_s, picked)
        touches = self._touching(series, flag, picked)
        changed = {rule: False for rule in DEVICE_FLAG_RULES}
        for i, slot, end, touch in zip(picked.tolist(), slots.tolist(), ends.tolist(), touches.tolist(), strict=True):
            if touch:
                self._note_flag(int(series[i]), int(flag[i]), changed)
            if end:
                self._observe_device(slot, float(time_s[i]), changed)

    def _by_device_and_time(
        self, series: IntArray, time_s: FloatArray, picked: IntArray
    ) -> tuple[IntArray, IntArray, BoolArray]:
        """The picked rows in (device, time) order, their device slots, and where each (device, time) ends."""
        slots = series[picked] // self._frame.n_codes
        order = np.lexsort((time_s[picked], slots))
        picked, slots = picked[order], slots[order]
        ends = np.ones(len(picked), dtype=bool)  # one observation per device and reading time
        ends[:-1] = (slots[1:] != slots[:-1]) | (time_s[picked[1:]] != time_s[picked[:-1]])
        return picked, slots, ends

    def _touching(self, series: IntArray, flag: UInt8Array, picked: IntArray) -> BoolArray:
        """Only a row that is flagged, or of a series that was (before or earlier in this batch), changes a state."""
        rows = series[picked]
        flagged = flag[picked] != N
        touches: BoolArray = (flagged | (self.flag_state[rows] != 0) | (self.manual_state[rows] != 0)
                              | np.isin(rows, rows[flagged]))
        return touches

    def _note_flag(self, series: int, letter: int, changed: dict[str, bool]) -> None:
        """Move a series' flag states to its reading's letter (flag: anything but N and S; manual: S)."""
        changed["flag"] |= self._set_flag_state("flag", series, 0 if letter in (N, S) else letter)
        changed["manual"] |= self._set_flag_state("manual", series, letter if letter == S else 0)

    def _observe_device(self, slot: int, time_s: float, changed: dict[str, bool]) -> None:
        """One observation per device flag rule at a reading time, then nothing changed again."""
        for rule in DEVICE_FLAG_RULES:
            self._observe_flags(rule, slot, time_s, changed[rule])
            changed[rule] = False

    def _rows_to_look_at(self, series: IntArray, flag: UInt8Array, abnormal: npt.NDArray[np.intp]) -> IntArray:
        """The rows that may move a flag state or a flag key; the usual batch, all N and no device flagged, has
        none."""
        rows = [abnormal]
        if len(abnormal):  # the later rows of a series flagged in this batch may end its flag
            run_ends = np.searchsorted(series, series[abnormal], side="right")  # rows are in (series, time) order
            rows += [np.arange(a, e) for a, e in zip(abnormal.tolist(), run_ends.tolist(), strict=True)]
        if self._flagged["flag"] or self._flagged["manual"]:
            rows.append(np.flatnonzero(self.flag_state[series] | self.manual_state[series]))
        masks = self._keys.masks
        active = masks.device["flag"] | masks.device["manual"]
        if active.any():
            rows.append(np.flatnonzero(active[series // self._frame.n_codes]))
        picked: IntArray = np.unique(np.concatenate(rows)) if len(rows) > 1 else rows[0]
        return picked

    def _set_flag_state(self, rule: str, series: int, letter: int) -> bool:
        """Set a series' letter for a rule; True if it changed."""
        state = self.flag_state if rule == "flag" else self.manual_state
        old = int(state[series])
        if old == letter:
            return False
        self._flagged[rule] += int(letter != 0) - int(old != 0)
        state[series] = letter
        return True

    def _observe_flags(self, rule: str, slot: int, time_s: float, changed: bool) -> None:
        state = self.flag_state if rule == "flag" else self.manual_state
        key = AlertKey(self._frame.layout.device_ids[slot], WHOLE_DEVICE, rule)
        st = self._keys.states.get(key)
        if not changed and (st is None or self._keys.is_settled(key, st, time_s)):
            return  # nothing new for this device: an observation would change nothing
        n_codes = self._frame.n_codes
        letters = state[slot * n_codes:(slot + 1) * n_codes]
        nonzero = np.flatnonzero(letters).tolist() if self._flagged[rule] else []
        flags = {self._frame.layout.codes[c]: chr(letters[c]) for c in nonzero}
        tier = int(bool(flags))
        self._keys.observe(key, Observation(time_s, tier, tier, None, detail={"flags": flags} if tier else None), 0)
