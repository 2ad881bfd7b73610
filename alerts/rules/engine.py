"""The alert engine: a pure state machine over reading batches, vectorised with numpy.

`evaluate(batch, now)` and `tick(now)` return transitions; nothing here does I/O or reads a clock. The engine
composes one collaborator per concern and walks a batch through them:
- `frame`: where each series sits in the arrays, and which keys are not inactive (`ActiveMasks`);
- `keys`: the life of each key (pending, firing, severity, peak, clear) and the transitions (`KeyBook`);
- `pollution`: readings against their instantaneous and gas limits; `means`: hourly and daily means;
- `device`: zero flow, negative, constant, implausible, and the device's flags; `silence`: silent devices
  and data lost for good; `late`: late readings judged in time order; `state`: the snapshot.
Only rows that breach something, or whose key is not inactive, go through Python; the rest is array arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from alerts.model import Transition
from alerts.rules.device import DeviceRules, SeriesMemory
from alerts.rules.frame import ActiveMasks, BoolArray, EngineFrame, FloatArray, IntArray, N, T, UInt8Array
from alerts.rules.keys import KeyBook
from alerts.rules.late import LateJudge
from alerts.rules.means import MeanJudge
from alerts.rules.policy import Policy
from alerts.rules.pollution import PollutionJudge
from alerts.rules.registry import EngineRegistry
from alerts.rules.rows import SortedRows
from alerts.rules.silence import Silence, observe_gap, observe_history_gap
from alerts.rules.state import load_snapshot, take_snapshot
from envmon.catalogue import load_catalogue
from envmon.columns import ReadingColumns


class Engine:
    """Alert conditions of every key, advanced by batches and timer ticks."""

    def __init__(self, registry: EngineRegistry, policy: Policy, state: dict[str, Any] | None = None) -> None:
        self._policy = policy
        frame = EngineFrame(registry, policy, load_catalogue().pollutants)
        self._keys = KeyBook(policy, ActiveMasks(frame))
        self._build(frame)
        if state is not None:
            load_snapshot(state, *self._parts())

    @classmethod
    def restore(cls, registry: EngineRegistry, policy: Policy, snap: dict[str, Any]) -> Engine:
        """An engine that continues from a snapshot (pending timers and firing conditions included)."""
        return cls(registry, policy, snap)

    def _build(self, frame: EngineFrame) -> None:
        """The collaborators of a registry's frame around the key book."""
        policy = self._policy
        self._frame = frame
        self._memory = SeriesMemory(frame)
        self._devices = DeviceRules(frame, policy, self._keys)
        self._silence = Silence(frame, self._keys)
        self._pollution = PollutionJudge(frame, policy, self._keys)
        self._means = MeanJudge(frame, policy, self._pollution)
        self._late = LateJudge(frame, self._keys, self._pollution)

    def _parts(self) -> tuple[EngineFrame, KeyBook, SeriesMemory, DeviceRules, Silence, MeanJudge, LateJudge]:
        """The collaborators whose state the snapshot holds, in `take_snapshot`'s order."""
        return self._frame, self._keys, self._memory, self._devices, self._silence, self._means, self._late

    # ----- batches ------------------------------------------------------------------------------

    def evaluate(self, batch: ReadingColumns, now: datetime) -> list[Transition]:
        """Advance every condition with a batch of readings; returns the transitions, in time order."""
        now_s = now.timestamp()
        self._silence.start(now_s)
        if len(batch):
            slots, series, known = self._locate(batch)
            # A device is heard when ingest received its reading, not when the engine gets to it (a catch-up,
            # or batches that waited in the broker while the engine was away).
            self._silence.note_alive(slots[known], now_s, np.minimum(batch.received_us[known] / 1e6, now_s))
            self._judge(SortedRows.of(batch, known, series[known]))
        return self._keys.flush()

    def _locate(self, batch: ReadingColumns) -> tuple[IntArray, IntArray, BoolArray]:
        """Each row's device slot and series, and which rows are of a known device and pollutant."""
        cols = self._frame.columns(batch.codes)[batch.pollutant]
        slots = self._frame.layout.slots_of(batch.device_id)
        return slots, slots * self._frame.n_codes + cols, (cols >= 0) & (slots >= 0)

    def _judge(self, rows: SortedRows) -> None:
        """Means take every basis; the instantaneous rules take readings and minute values."""
        self._means.add(rows.series, rows.time_s, rows.value, rows.flag, rows.basis, self._memory.flow)
        # Minute values (HJ 212 CN 2051) feed the instantaneous rules too, so a logger that uploads
        # only minute data is still watched; hourly and daily uploads are the device's own averages.
        self._instants(rows.take(rows.basis <= 1))

    def _instants(self, rows: SortedRows) -> None:
        """Fresh readings on the fast path, then late ones (older than their series' newest) in time order."""
        dup = np.zeros(len(rows.series), dtype=bool)
        dup[1:] = (rows.series[1:] == rows.series[:-1]) & (rows.time_s[1:] == rows.time_s[:-1])
        fresh = ~dup & (rows.time_s > self._memory.last_time[rows.series])
        late = ~dup & ~fresh
        late_rows = rows.take(late) if late.any() else None
        if fresh.any():
            self._fresh_instants(rows.take(fresh))
        if late_rows is not None:  # after the fresh ones: those are the newer neighbours a late reading meets
            self._late.judge(late_rows.series, late_rows.time_s, late_rows.value, late_rows.flag)

    def _fresh_instants(self, rows: SortedRows) -> None:
        """Readings newer than everything their series had: the fast path."""
        series, time_s, value, flag = rows.series, rows.time_s, rows.value, rows.flag
        normal = flag == N
        runs = self._memory.advance(series, time_s, value, normal)
        judged, counted, over = self._as_judged(series, value, flag, normal)
        self._late.remember(series, time_s, judged, counted, over)
        self._pollution.judge_instants(series, time_s, judged, counted, over)
        self._devices.judge_flags(series, time_s, flag, np.flatnonzero(~normal))
        self._devices.judge(series, time_s, value, normal, series % self._frame.n_codes, runs, self._memory.flow)

    def _as_judged(
        self, series: IntArray, value: FloatArray, flag: UInt8Array, normal: BoolArray
    ) -> tuple[FloatArray, BoolArray, BoolArray]:
        """The values the limits judge, which rows count, which are over range (HJ 212 T: at least full scale)."""
        over = flag == T
        if not over.any():
            return value, normal, over
        return np.where(over, np.fmax(value, self._frame.range_hi[series]), value), normal | over, over

    # ----- timers and gaps ----------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Transition]:
        """Timers: averages of closed hours and days, silent devices, holds and clears maturing, quiet gaps."""
        now_s = now.timestamp()
        self._silence.start(now_s)
        self._means.close_due(now_s)
        self._silence.judge(now_s)
        self._keys.mature(now_s)
        return self._keys.flush()

    def observe_gap(self, device_id: int, first_seq: int, last_seq: int, at: datetime) -> list[Transition]:
        """Messages first_seq..last_seq of a device never came back after every resend request."""
        observe_gap(self._keys, device_id, first_seq, last_seq, at)
        return self._keys.flush()

    def observe_history_gap(self, device_id: int, basis: str, begin: datetime, end: datetime, outcome: str,
                            at: datetime) -> list[Transition]:
        """An HJ 212 logger's `basis` data of begin..end never came back (`outcome`: abandoned, expired)."""
        observe_history_gap(self._keys, device_id, basis, begin, end, outcome, at)
        return self._keys.flush()

    # ----- state --------------------------------------------------------------------------------

    def seed_last_seen(self, seen_s: Mapping[int, float], *, alive_s: float | None = None) -> None:
        """Start silence clocks from when ingest last stored each device's data (seconds since the epoch).

        A restarted engine otherwise counts silence from its own start, and one crash-looping faster than
        the window never says "data interrupted". Ingest stored these while the engine was away, so an
        old time means the device, not the engine, was silent.

        `alive_s` is the latest time ingest is known to have been storing (device_state, its heartbeat).
        From then to this engine's first step the platform itself was blind: that blackout counts as no
        device's silence (`Silence.start` moves the seeded clocks on by it), so a cold start after a long
        outage does not text every inspector of the district "data interrupted" at its first tick.
        """
        self._silence.seed(seen_s, alive_s)

    def set_registry(self, registry: EngineRegistry) -> None:
        """Use a reloaded registry; every key, timer and average carries over."""
        snap = self.snapshot()
        stored, blackout_from_s = self._silence.stored(), self._silence.blackout_from_s
        frame = EngineFrame(registry, self._policy, load_catalogue().pollutants)
        self._keys.use_masks(ActiveMasks(frame))
        self._build(frame)
        load_snapshot(snap, *self._parts(), restart=False)
        self._silence.seed(stored, None)
        self._silence.blackout_from_s = blackout_from_s

    def snapshot(self) -> dict[str, Any]:
        """The whole state, JSON-serialisable; `Engine.restore` continues from it exactly."""
        return take_snapshot(*self._parts())

    @property
    def revision(self) -> int:
        """Changes of hold progress so far: whoever persists the engine saves a snapshot when it moved."""
        return self._keys.revision

    @revision.setter
    def revision(self, value: int) -> None:
        self._keys.revision = value

    @property
    def late_judged(self) -> int:
        """Late readings judged in time order (alerts/rules/late.py)."""
        return self._late.judged

    @property
    def late_unjudged(self) -> int:
        """Late readings older than the recent readings kept: not judged."""
        return self._late.unjudged

    @property
    def late_dropped(self) -> int:
        """Readings that arrived after their hour had closed (not in any average)."""
        return self._means.late_dropped
