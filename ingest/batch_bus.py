"""Publishes every committed batch for alert engines that run in their own process (`envmon alerts`)."""

from __future__ import annotations

from collections.abc import Callable

from envmon.batchwire import encode_batch, rows_to_array
from ingest.pipeline import StoredBatch


class BatchPublisher:
    """A batch subscriber that sends each committed batch on the broker's internal batch topic."""

    def __init__(self, publish: Callable[[bytes], None]) -> None:
        self._publish = publish
        self.published = 0

    def on_batch(self, batch: StoredBatch) -> None:
        codes, rows = rows_to_array((r.time, r.device_id, r.pollutant, r.basis, r.value, r.flag) for r in batch.rows)
        self._publish(encode_batch(codes, rows))
        self.published += 1
