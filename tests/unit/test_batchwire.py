"""The committed-batch wire format between ingest and an alert engine in another process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from envmon.batchwire import BatchWireError, decode_batch, encode_batch
from envmon.columns import ReadingColumns

T = datetime(2026, 11, 22, 4, 0, 0, 123456, tzinfo=UTC)
LATER = T + timedelta(seconds=3.5)


def _same(a: ReadingColumns, b: ReadingColumns) -> bool:
    fields = ("time_us", "device_id", "pollutant", "basis", "value", "flag", "seq", "received_us")
    return a.codes == b.codes and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([(T, 7, "w20117", "instant", 0.042, "N", 1, LATER), (T, 7, "w01001", "hour", 7.1, "C", 1, LATER),
                      (T, 9, "w20117", "day", 0.5, "N", 2**40, T)], id="mixed"),
        pytest.param([(T, 1, "a", "instant", 1.0, "N", 1, T)], id="one-row-odd-codes-length"),
        pytest.param([(T, 1, "w01018", "minute", -0.0, "D", 0, T)] * 3, id="repeated"),
        pytest.param([], id="empty"),
    ],
)
def test_every_column_survives_a_round_trip(rows: list[tuple[object, ...]]) -> None:
    sent = ReadingColumns.from_rows(rows)
    assert _same(decode_batch(encode_batch(sent)), sent)


def test_arrival_time_and_seq_travel_to_the_engine() -> None:
    got = decode_batch(encode_batch(ReadingColumns.from_rows([(T, 7, "w20117", "instant", 0.1, "N", 42, LATER)])))
    assert got.time_us.tolist() == [1_795_320_000_123_456] and got.seq.tolist() == [42]
    assert got.received_us.tolist() == [1_795_320_003_623_456]


def _eb1_message() -> bytes:
    return b"EB1\x06\x00w20117" + bytes(24)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{\"device\": 1}", id="json"),
        pytest.param(_eb1_message(), id="previous-version"),
        pytest.param(encode_batch(ReadingColumns.from_rows([(T, 1, "a", "instant", 1.0, "N", 1, T)]))[:-1],
                     id="partial-row"),
        pytest.param(b"EB2\x00\x01\x00\x00\x00\x00\x00\x00\x00" + bytes(40), id="index-outside-codes"),
    ],
)
def test_foreign_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(BatchWireError):
        decode_batch(payload)
