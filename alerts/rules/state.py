"""The engine's whole state as one JSON-serialisable snapshot, and back.

The format (version 1) names the per-series and per-device arrays as the single-class engine of earlier
versions did (`_last_time`, `_flag_state`, `_last_seen`, ...), so snapshots saved before the engine was split
into its rules restore unchanged. Arrays are matched by device and pollutant, so a snapshot also restores into a
changed registry (new devices start empty, removed ones are dropped).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.errors import EngineStateError
from alerts.model import AlertKey
from alerts.rules.averages import decode_array, encode_array
from alerts.rules.device import DeviceRules, SeriesMemory
from alerts.rules.frame import EngineFrame
from alerts.rules.keys import KeyBook, KeyState
from alerts.rules.late import LateJudge
from alerts.rules.means import MeanJudge
from alerts.rules.silence import Silence

SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class EngineParts:
    """The collaborators of one engine whose state a snapshot holds."""

    frame: EngineFrame
    keys: KeyBook
    memory: SeriesMemory
    devices: DeviceRules
    silence: Silence
    means: MeanJudge
    late: LateJudge

    def series_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The per-series arrays by their snapshot names (the live arrays: loading writes into them)."""
        return {"_last_time": self.memory.last_time, "_last_value": self.memory.last_value, "_run": self.memory.run,
                "_flag_state": self.devices.flag_state, "_manual_state": self.devices.manual_state}

    def device_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The per-device arrays by their snapshot names."""
        return {"_last_seen": self.silence.last_seen, "_flow": self.memory.flow}


def take_snapshot(parts: EngineParts) -> dict[str, Any]:
    """The whole state, JSON-serialisable; `load_snapshot` continues from it exactly."""
    layout = parts.frame.layout
    keys = parts.keys
    return {
        "version": SNAPSHOT_VERSION,
        "device_ids": list(layout.device_ids),
        "codes": list(layout.codes),
        "started_s": parts.silence.started_s,
        "keys": {k.as_text(): asdict(st) for k, st in keys.states.items()},
        "opens": {k.as_text(): v for k, v in keys.opens.items()},
        "series": {name: encode_array(a) for name, a in parts.series_arrays().items()},
        "devices": {name: encode_array(a) for name, a in parts.device_arrays().items()},
        "tracked": [list(k) for k in parts.means.tracked_keys()],
        "averages": parts.means.book.state(),
        "recent": parts.late.recent.state(parts.late.keys_of_rows()),
        "cleared": {k.as_text(): v for k, v in keys.cleared_at.items()},
        "late": [parts.late.judged, parts.late.unjudged],
    }


def load_snapshot(parts: EngineParts, snap: dict[str, Any], *, restart: bool = True) -> None:
    """Continue from a snapshot (`restart`: after a restart, rather than a registry reload in place)."""
    if snap.get("version") != SNAPSHOT_VERSION:
        raise EngineStateError(f"unknown engine snapshot version {snap.get('version')!r}")
    # After a restart silence windows count from this start, unless `seed_last_seen` gives what
    # ingest stored meanwhile: a stopped engine cannot tell a silent device from its own absence,
    # and counting from the snapshot would raise a silent alert for every device of the district at
    # once (firing silent alerts are kept as they were).
    parts.silence.started_s = None if restart else snap["started_s"]
    parts.keys.load({AlertKey.from_text(k): KeyState(**v) for k, v in snap["keys"].items()},
                    {AlertKey.from_text(k): list(v) for k, v in snap["opens"].items()},
                    {AlertKey.from_text(k): float(v) for k, v in snap.get("cleared", {}).items()})
    _load_arrays(parts, snap)
    parts.devices.recount()
    parts.means.load(snap["averages"], snap["tracked"])
    if "recent" in snap:  # snapshots from before late readings were judged have none
        parts.late.load(snap["recent"])
    parts.late.judged, parts.late.unjudged = snap.get("late", [0, 0])


def _load_arrays(parts: EngineParts, snap: dict[str, Any]) -> None:
    """Copy the snapshot's per-device and per-series arrays into the parts, matched by device and code."""
    layout, frame = parts.frame.layout, parts.frame
    rows = np.array([frame.slot_of.get(d, -1) for d in snap["device_ids"]], dtype=np.int64)
    cols = np.array([frame.col_of.get(c, -1) for c in snap["codes"]], dtype=np.int64)
    devices = parts.device_arrays()
    for name, enc in snap["devices"].items():
        old = decode_array(enc)
        devices[name][rows[rows >= 0]] = old[rows >= 0]
    series = parts.series_arrays()
    keep_r, keep_c = rows >= 0, cols >= 0
    for name, enc in snap["series"].items():
        old = decode_array(enc).reshape(len(rows), len(cols))
        target = series[name].reshape(-1, len(layout.codes))
        target[np.ix_(rows[keep_r], cols[keep_c])] = old[np.ix_(keep_r, keep_c)]
