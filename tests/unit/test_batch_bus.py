"""Committed batches go out in messages small enough for the broker's packet limit."""

from __future__ import annotations

from datetime import UTC, datetime

from envmon.batchwire import decode_batch
from envmon.columns import ReadingColumns, Row
from envmon.stack.mosquitto import MAX_PACKET_BYTES
from ingest.batch_bus import ROWS_PER_MESSAGE, BatchPublisher
from ingest.directory import DeviceDirectory
from ingest.pipeline import StoredBatch

T = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def test_a_large_batch_is_split_under_the_packet_limit_and_keeps_every_row() -> None:
    rows = [Row(T, n % 1000, "w20117", "instant", n * 0.001, "N", n, T) for n in range(20_000)]
    sent: list[bytes] = []
    BatchPublisher(sent.append).on_batch(StoredBatch(ReadingColumns.from_rows(rows), T, DeviceDirectory([])))
    assert len(sent) == -(-len(rows) // ROWS_PER_MESSAGE)
    assert all(len(message) < MAX_PACKET_BYTES - 1024 for message in sent)
    values = [v for message in sent for v in decode_batch(message).value.tolist()]
    assert values == [r.value for r in rows]
