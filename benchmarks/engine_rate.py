"""The engine's evaluation rate on realistic batches: the example district's devices and limits,
cloned to the wanted device count, every device reporting every pollutant, nearly all normal."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from alerts.rules.engine import Engine
from alerts.rules.policy import Policy
from alerts.rules.registry import EngineRegistry, from_registry
from envmon.columns import ReadingColumns
from envmon.registry.load import load_registry_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fengxian.toml"
BATCH_ROWS = 2000
START_S = datetime(2026, 3, 2, 8, 0, tzinfo=UTC).timestamp()
# Share of readings that breach a warning line, and that carry a non-N flag: rare, as in operation.
BREACH_SHARE = 0.001
FLAGGED_SHARE = 0.001


def cloned_registry(devices: int) -> EngineRegistry:
    """The example district's devices repeated to `devices`, each clone with its template's limits."""
    base = from_registry(load_registry_file(EXAMPLE))
    templates = sorted(base.devices)
    by_device: dict[int, list[Any]] = {}
    for lim in base.limits:
        by_device.setdefault(lim.device_id, []).append(lim)
    specs, limits = {}, []
    for new_id in range(1, devices + 1):
        template = templates[(new_id - 1) % len(templates)]
        specs[new_id] = dataclasses.replace(base.devices[template], device_id=new_id, mn=f"BENCH{new_id:06d}")
        limits += [dataclasses.replace(lim, device_id=new_id) for lim in by_device.get(template, [])]
    return EngineRegistry(specs, limits)


def _normal_values(registry: EngineRegistry, device: np.ndarray, codes: list[str]) -> np.ndarray:
    """A value well inside each series' limits (30 % of an upper limit, mid-range for ranges)."""
    centre: dict[tuple[int, str], float] = {}
    for lim in registry.limits:
        if lim.upper is not None and lim.lower is not None:
            centre[(lim.device_id, lim.pollutant)] = (lim.upper + lim.lower) / 2
        elif lim.upper is not None:
            centre[(lim.device_id, lim.pollutant)] = 0.3 * lim.upper
    return np.array([centre.get((int(d), c), 5.0) for d, c in zip(device.tolist(), codes, strict=True)])


def make_batches(registry: EngineRegistry, readings: int, seed: int = 7) -> list[ReadingColumns]:
    """Batches of about BATCH_ROWS rows in time order: every device, every pollutant, once a second."""
    rng = np.random.default_rng(seed)
    pairs = [(d.device_id, c) for d in registry.devices.values() for c in d.pollutants]
    codes = tuple(sorted({c for _, c in pairs}))
    device = np.array([d for d, _ in pairs], dtype=np.int32)
    column = np.array([codes.index(c) for _, c in pairs], dtype=np.int16)
    centre = _normal_values(registry, device, [c for _, c in pairs])
    second_rows = len(pairs)
    batches: list[ReadingColumns] = []
    for start in range(0, readings, BATCH_ROWS):
        rows = np.arange(start, min(start + BATCH_ROWS, readings))
        pos = rows % second_rows
        value = centre[pos] * rng.uniform(0.97, 1.03, len(rows))
        value[rng.random(len(rows)) < BREACH_SHARE] *= 3.0
        flag = np.where(rng.random(len(rows)) < FLAGGED_SHARE, ord("M"), ord("N")).astype(np.uint8)
        time_us = ((START_S + rows // second_rows + rng.uniform(0, 0.5, len(rows))) * 1e6).astype(np.int64)
        batches.append(ReadingColumns(codes, time_us, device[pos], column[pos], np.zeros(len(rows), dtype=np.int8),
                                      value, flag, rows // second_rows, time_us))
    return batches


def measure_engine_rate(*, devices: int = 1000, readings: int = 2_000_000) -> dict[str, Any]:
    """readings_per_s of Engine.evaluate over realistic batches (one core), with the transitions seen."""
    registry = cloned_registry(devices)
    batches = make_batches(registry, readings)
    engine = Engine(registry, Policy())
    transitions = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for batch in batches:
        transitions += len(engine.evaluate(batch, datetime.fromtimestamp(int(batch.time_us[-1]) / 1e6, UTC)))
    elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    tick_started = time.perf_counter()
    end = datetime.fromtimestamp(int(batches[-1].time_us.max()) / 1e6 + 1, UTC)
    engine.tick(end)
    return {
        "devices": devices,
        "readings": readings,
        "batch_rows": BATCH_ROWS,
        "limits": len(registry.limits),
        "seconds": round(elapsed, 3),
        "readings_per_s": round(readings / elapsed),
        # The rate per second of this process's CPU: on a machine shared with other work the wall-clock rate
        # measures the neighbours as much as the engine.
        "cpu_seconds": round(cpu_s, 3),
        "readings_per_cpu_s": round(readings / cpu_s),
        "transitions": transitions,
        "tick_ms": round((time.perf_counter() - tick_started) * 1000, 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(measure_engine_rate()))
