"""History for the storage benchmarks: the simulator's undisturbed signals, written straight into `readings`.

Every device at its own interval (or a coarser `step_seconds`), values rounded to the protocol's 4 decimals
as devices send them and converted to canonical units as ingest stores them, flag N, by binary COPY (no MQTT:
these benchmarks measure what history costs to keep and to read, not to ingest).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg

from device_sim.plans import DevicePlan
from device_sim.samples import DECIMALS
from device_sim.signal import Channels, base_values
from ingest.rows import COLUMNS, COPY_TYPES

BLOCK_TIMES = 2000  # sample times generated per call of the signal


def _tiled(channels: Channels, times: int) -> Channels:
    """The channels repeated once per sample time, so one call of the signal covers a block of times."""
    return Channels(**{name: np.tile(getattr(channels, name), times) for name in Channels.__dataclass_fields__})


def plan_rows(plan: DevicePlan, device_id: int, start_s: float, end_s: float,
              step_seconds: float | None = None) -> Iterator[tuple[Any, ...]]:
    """Every reading of one device over [start_s, end_s): canonical values as ingest stores them."""
    step, width = max(plan.interval_seconds, step_seconds or 0.0), len(plan.codes)
    all_times = np.arange(start_s + plan.phase_s, end_s, step)
    factor = np.tile(plan.protocol_factor, BLOCK_TIMES)
    for first in range(0, len(all_times), BLOCK_TIMES):
        times = all_times[first:first + BLOCK_TIMES]
        channels = _tiled(plan.channels, len(times))
        # base_values is elementwise in time: one time per channel of the tiled block.
        canonical = base_values(channels, np.repeat(times, width))
        protocol = np.round(canonical / factor[: len(canonical)], DECIMALS)
        values = (protocol * factor[: len(canonical)]).reshape(len(times), width).tolist()
        for i, (t_s, row) in enumerate(zip(times.tolist(), values, strict=True)):
            at = datetime.fromtimestamp(t_s, UTC)
            seq = first + i + 1
            for code, value in zip(plan.codes, row, strict=True):
                yield (at, device_id, code, "instant", value, "N", seq, at)


def write_history(conn: psycopg.Connection, plans: Sequence[DevicePlan], ids: dict[str, int],
                  start_s: float, end_s: float, step_seconds: float | None = None) -> int:
    """COPY the history of every planned device; returns the readings written."""
    written = 0
    sql = f"COPY readings ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    for n, plan in enumerate(plans, 1):
        with conn.cursor() as cur, cur.copy(sql) as cp:
            cp.set_types(COPY_TYPES)
            for row in plan_rows(plan, ids[plan.mn], start_s, end_s, step_seconds):
                cp.write_row(row)
                written += 1
        conn.commit()
        if n % 20 == 0 or n == len(plans):
            print(f"history: {n}/{len(plans)} devices, {written:,} readings", file=sys.stderr, flush=True)
    return written
