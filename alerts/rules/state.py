"""The engine's whole state as one JSON-serialisable snapshot, and back.

The format (version 1) names the per-series and per-device arrays as the single-class engine of earlier
versions did (`_last_time`, `_flag_state`, `_last_seen`, ...), so snapshots saved before the engine was split
into its rules restore unchanged. Arrays are matched by device and pollutant, so a snapshot also restores into a
changed registry (new devices start empty, removed ones are dropped).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.errors import EngineStateError
from alerts.model import AlertKey
from alerts.rules.codec import decode_array, encode_array
from alerts.rules.device import DeviceRules, SeriesMemory
from alerts.rules.frame import EngineFrame, IntArray
from alerts.rules.keys import KeyBook, KeyState
from alerts.rules.late import LateJudge
from alerts.rules.means import MeanJudge
from alerts.rules.silence import Silence

SNAPSHOT_VERSION = 1


def _series_arrays(memory: SeriesMemory, devices: DeviceRules) -> dict[str, npt.NDArray[Any]]:
    """The per-series arrays by their snapshot names (the live arrays: loading writes into them)."""
    return {"_last_time": memory.last_time, "_last_value": memory.last_value, "_run": memory.run,
            "_flag_state": devices.flag_state, "_manual_state": devices.manual_state}


def _device_arrays(memory: SeriesMemory, silence: Silence) -> dict[str, npt.NDArray[Any]]:
    """The per-device arrays by their snapshot names."""
    return {"_last_seen": silence.last_seen, "_flow": memory.flow}


def take_snapshot(frame: EngineFrame, keys: KeyBook, memory: SeriesMemory, devices: DeviceRules, silence: Silence,
                  means: MeanJudge, late: LateJudge) -> dict[str, Any]:
    """The whole state of an engine's collaborators, JSON-serialisable; `load_snapshot` continues from it."""
    layout = frame.layout
    return {
        "version": SNAPSHOT_VERSION,
        "device_ids": list(layout.device_ids),
        "codes": list(layout.codes),
        "started_s": silence.started_s,
        "keys": {k.as_text(): asdict(st) for k, st in keys.states.items()},
        "opens": {k.as_text(): v for k, v in keys.opens.items()},
        "series": {name: encode_array(a) for name, a in _series_arrays(memory, devices).items()},
        "devices": {name: encode_array(a) for name, a in _device_arrays(memory, silence).items()},
        "tracked": [list(k) for k in means.tracked_keys()],
        "averages": means.book.state(),
        "recent": late.recent.state(late.keys_of_rows()),
        "cleared": {k.as_text(): v for k, v in keys.cleared_at.items()},
        "late": [late.judged, late.unjudged],
    }


def load_snapshot(snap: dict[str, Any], frame: EngineFrame, keys: KeyBook, memory: SeriesMemory, devices: DeviceRules,
                  silence: Silence, means: MeanJudge, late: LateJudge, *, restart: bool = True) -> None:
    """Continue from a snapshot (`restart`: after a restart, rather than a registry reload in place)."""
    if snap.get("version") != SNAPSHOT_VERSION:
        raise EngineStateError(f"unknown engine snapshot version {snap.get('version')!r}")
    # After a restart silence windows count from this start, unless `seed_last_seen` gives what
    # ingest stored meanwhile: a stopped engine cannot tell a silent device from its own absence,
    # and counting from the snapshot would raise a silent alert for every device of the district at
    # once (firing silent alerts are kept as they were).
    silence.started_s = None if restart else snap["started_s"]
    _load_keys(snap, keys)
    _load_memory(snap, frame, memory, devices, silence)
    means.load(snap["averages"], snap["tracked"])
    if "recent" in snap:  # snapshots from before late readings were judged have none
        late.load(snap["recent"])
    late.judged, late.unjudged = snap.get("late", [0, 0])


def _load_keys(snap: dict[str, Any], keys: KeyBook) -> None:
    """The keys' states, their open times and when each cleared (snapshots from before that have none)."""
    keys.load({AlertKey.from_text(k): KeyState(**v) for k, v in snap["keys"].items()},
              {AlertKey.from_text(k): list(v) for k, v in snap["opens"].items()},
              {AlertKey.from_text(k): float(v) for k, v in snap.get("cleared", {}).items()})


def _load_memory(snap: dict[str, Any], frame: EngineFrame, memory: SeriesMemory, devices: DeviceRules,
                 silence: Silence) -> None:
    """Per-device and per-series arrays, matched to this frame by device id and pollutant code."""
    rows = np.array([frame.slot_of.get(d, -1) for d in snap["device_ids"]], dtype=np.int64)
    cols = np.array([frame.col_of.get(c, -1) for c in snap["codes"]], dtype=np.int64)
    _load_device_arrays(_device_arrays(memory, silence), snap["devices"], rows)
    _load_series_arrays(_series_arrays(memory, devices), snap["series"], rows, cols, frame.n_codes)
    devices.recount()


def _load_device_arrays(arrays: dict[str, npt.NDArray[Any]], saved: dict[str, Any], rows: IntArray) -> None:
    """Copy saved per-device arrays in; rows[i] is the slot of the snapshot's device i, or -1 (gone)."""
    for name, enc in saved.items():
        old = decode_array(enc)
        arrays[name][rows[rows >= 0]] = old[rows >= 0]


def _load_series_arrays(arrays: dict[str, npt.NDArray[Any]], saved: dict[str, Any], rows: IntArray,
                        cols: IntArray, n_codes: int) -> None:
    """Copy saved per-series arrays in, matched by device slot (`rows`) and pollutant column (`cols`)."""
    keep_r, keep_c = rows >= 0, cols >= 0
    for name, enc in saved.items():
        old = decode_array(enc).reshape(len(rows), len(cols))
        target = arrays[name].reshape(-1, n_codes)
        target[np.ix_(rows[keep_r], cols[keep_c])] = old[np.ix_(keep_r, keep_c)]
