"""A device whose data stops: silent for longer than its window (`silent`), or data lost for good (`seq_gap`: an
MQTT sequence gap given up on, or an HJ 212 history request that never came back).

Silence is counted from when ingest received a device's data, never from when the engine got to it; after a
restart from what storage says (`seed`), with the platform's own blackout taken off (`start`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from alerts.model import WHOLE_DEVICE, AlertKey
from alerts.rules.frame import EngineFrame, FloatArray, IntArray
from alerts.rules.keys import KeyBook, Observation, to_datetime


class Silence:
    """Per device when it was last heard, and the silent rule judged from it."""

    def __init__(self, frame: EngineFrame, keys: KeyBook) -> None:
        self._frame = frame
        self._keys = keys
        n_dev = len(frame.layout.device_ids)
        self.last_seen = np.full(n_dev, -np.inf)
        # Devices whose last arrival is known from storage (`seed`): their silence counts from it, even from
        # before this engine started; the others' from the start at the earliest.
        self._seen_stored = np.zeros(n_dev, dtype=bool)
        self.started_s: float | None = None
        self.blackout_from_s: float | None = None  # see `seed`

    def start(self, now_s: float) -> None:
        """The first step after a (re)start: note when it was, and take the platform's blackout off the seeded
        silence clocks (see `seed`)."""
        if self.started_s is not None:
            return
        self.started_s = now_s
        if self.blackout_from_s is not None:
            blackout_s = max(0.0, now_s - self.blackout_from_s)
            stored = self._seen_stored
            self.last_seen[stored] = np.minimum(self.last_seen[stored] + blackout_s, now_s)
            self.blackout_from_s = None

    def seed(self, seen_s: Mapping[int, float], alive_s: float | None) -> None:
        """Silence clocks from when ingest last stored each device's data; `alive_s` starts the blackout."""
        for device_id, at_s in seen_s.items():
            slot = self._frame.slot_of.get(device_id, -1)
            if slot >= 0:
                self.last_seen[slot] = max(self.last_seen[slot], at_s)
                self._seen_stored[slot] = True
        if alive_s is not None:
            self.blackout_from_s = alive_s

    def stored(self) -> dict[int, float]:
        """The seeded devices' last arrival (seconds since the epoch)."""
        return {d: float(self.last_seen[i]) for d, i in self._frame.slot_of.items() if self._seen_stored[i]}

    def note_alive(self, slots: IntArray, now_s: float, seen_s: FloatArray) -> None:
        """Devices heard (`seen_s`: when ingest received each reading); their silent alerts clear."""
        # A silent alert clears only for a device heard recently enough (`seen_s` may be minutes old).
        np.maximum.at(self.last_seen, slots, seen_s)
        silence_s = self._frame.silence_s
        slots = slots[now_s - self.last_seen[slots] <= silence_s[slots]]
        for slot in np.unique(slots[self._keys.masks.silent[slots]]).tolist():
            key = AlertKey(self._frame.layout.device_ids[slot], WHOLE_DEVICE, "silent")
            self._keys.observe(key, Observation(now_s, 0, 0, None))

    def judge(self, now_s: float) -> None:
        """Open a silent key for each device not heard for longer than its window."""
        assert self.started_s is not None
        since = np.where(self._seen_stored, self.last_seen, np.maximum(self.last_seen, self.started_s))
        silence_s = self._frame.silence_s
        for slot in np.nonzero(now_s - since > silence_s)[0].tolist():
            key = AlertKey(self._frame.layout.device_ids[slot], WHOLE_DEVICE, "silent")
            detail = {"last_seen": to_datetime(float(since[slot])).isoformat(),
                      "window_seconds": float(silence_s[slot])}
            if key not in self._keys.states:
                self._keys.observe(key, Observation(now_s, 1, 1, None, detail=detail), 0)


def observe_gap(keys: KeyBook, device_id: int, first_seq: int, last_seq: int, at: datetime) -> None:
    """Messages first_seq..last_seq of a device never came back after every resend request."""
    key = AlertKey(device_id, WHOLE_DEVICE, "seq_gap")
    missing = last_seq - first_seq + 1
    st = keys.states.get(key)
    total = missing + (int(st.detail.get("missing", 0)) if st else 0)
    _gap(keys, key, {"first_seq": first_seq, "last_seq": last_seq, "missing": total}, float(missing), at)


def observe_history_gap(keys: KeyBook, device_id: int, basis: str, begin: datetime, end: datetime, outcome: str,
                        at: datetime) -> None:
    """An HJ 212 logger's `basis` data of begin..end never came back (`outcome`: abandoned, expired).

    Data lost for good, as an MQTT gap given up on: the same rule, with the time span in the detail.
    """
    key = AlertKey(device_id, WHOLE_DEVICE, "seq_gap")
    st = keys.states.get(key)
    windows = 1 + (int(st.detail.get("windows", 0)) if st else 0)
    detail = {"basis": basis, "begin_time": begin.isoformat(), "end_time": end.isoformat(), "outcome": outcome,
              "windows": windows}
    _gap(keys, key, detail, None, at)


def _gap(keys: KeyBook, key: AlertKey, detail: dict[str, Any], value: float | None, at: datetime) -> None:
    st = keys.states.get(key)
    if st is not None and st.status == "firing":
        st.detail.update(detail)
        st.last_time = max(st.last_time, at.timestamp())
        keys.emit("update", key, st, at.timestamp())
        return
    keys.observe(key, Observation(at.timestamp(), 1, 1, value, detail=detail), 0)
