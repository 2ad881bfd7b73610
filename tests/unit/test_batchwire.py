"""The committed-batch wire format between ingest and an alert engine in another process."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from envmon.batchwire import BatchWireError, columns_to_array, decode_batch, encode_batch
from envmon.columns import ReadingColumns

T = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def test_rows_survive_a_round_trip() -> None:
    rows = [(T, 7, "w20117", "instant", 0.042, "N", 1, T), (T, 7, "w01001", "hour", 7.1, "C", 1, T),
            (T, 9, "w20117", "day", 0.5, "N", 2, T)]
    codes, array = columns_to_array(ReadingColumns.from_rows(rows))
    batch = decode_batch(encode_batch(codes, array))
    assert batch.codes == ("w01001", "w20117")
    assert batch.rows["device_id"].tolist() == [7, 7, 9]
    assert [batch.codes[i] for i in batch.rows["pollutant"]] == ["w20117", "w01001", "w20117"]
    assert batch.rows["value"].tolist() == [0.042, 7.1, 0.5]
    assert bytes(batch.rows["flag"]).decode() == "NCN"
    assert batch.rows["basis"].tolist() == [0, 2, 3]
    assert np.all(batch.rows["time_s"] == T.timestamp())


def test_an_empty_batch_round_trips() -> None:
    codes, array = columns_to_array(ReadingColumns.empty())
    batch = decode_batch(encode_batch(codes, array))
    assert batch.codes == () and len(batch.rows) == 0


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{\"device\": 1}", id="json"),
        pytest.param(b"EB1\x06\x00w20117" + b"\x00" * 5, id="partial-row"),
        pytest.param(b"EB1\x00\x00" + b"\x00" * 24, id="index-outside-codes"),
    ],
)
def test_foreign_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(BatchWireError):
        decode_batch(payload)
