"""ingest.copy_binary.in_key_order: readings grouped by device, arrival order kept within a device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from envmon.columns import ReadingColumns
from ingest.copy_binary import in_key_order

T = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def test_readings_are_grouped_by_device_and_keep_their_order_within_it() -> None:
    rows = [
        (T + timedelta(seconds=s), device, code, "instant", float(s), "N", s, T)
        for s, device in ((1, 9), (1, 3), (2, 9), (2, 3), (3, 5))
        for code in ("w20117", "w01001")
    ]
    ordered = in_key_order(ReadingColumns.from_rows(rows))
    assert ordered.device_id.tolist() == [3, 3, 3, 3, 5, 5, 9, 9, 9, 9]
    assert ordered.seq.tolist() == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2]
    assert [ordered.code_of(i) for i in range(4)] == ["w20117", "w01001", "w20117", "w01001"]
