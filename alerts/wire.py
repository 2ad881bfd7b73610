"""Batches from the broker's batch topic (envmon.batchwire) as the engine's ReadingBatch."""

from __future__ import annotations

import numpy as np

from alerts.model import ReadingBatch
from envmon.batchwire import WireBatch


def batch_from_wire(wire: WireBatch) -> ReadingBatch:
    """The same rows, as the engine's parallel arrays (no copy beyond the field views)."""
    rows = wire.rows
    return ReadingBatch(
        codes=wire.codes,
        time_s=rows["time_s"].astype(np.float64),
        device_id=rows["device_id"].astype(np.int32),
        pollutant=rows["pollutant"].astype(np.int16),
        value=rows["value"].astype(np.float64),
        flag=rows["flag"].astype(np.uint8),
        basis=rows["basis"].astype(np.int8),
    )
