"""Publishes every committed batch for alert engines that run in their own process (`envmon alerts`)."""

from __future__ import annotations

from collections.abc import Callable

from envmon.batchwire import encode_batch
from ingest.pipeline import StoredBatch

# Rows per message: 40 bytes a row (envmon.batchwire.ROW_BYTES) keeps a message near 200 KB, under the
# brokers' packet limits (the local stack's 256 KiB; a committed batch of 2,000 messages of ten readings
# is 800 KB).
ROWS_PER_MESSAGE = 5_000


class BatchPublisher:
    """A batch subscriber that sends each committed batch on the broker's internal batch topic; the priority
    lane's through `publish_lane` (its own topic, envmon.batchwire.LANE_BATCH_TOPIC) when given."""

    def __init__(self, publish: Callable[[bytes], None], publish_lane: Callable[[bytes], None] | None = None) -> None:
        self._publish = publish
        self._publish_lane = publish_lane or publish
        self.published = 0

    def on_batch(self, batch: StoredBatch) -> None:
        readings = batch.readings
        publish = self._publish_lane if batch.lane else self._publish
        for start in range(0, len(readings), ROWS_PER_MESSAGE):
            publish(encode_batch(readings.take(slice(start, start + ROWS_PER_MESSAGE))))
            self.published += 1
