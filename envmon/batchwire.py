"""The committed-batch wire format: how ingest hands stored readings to an alert engine in another process.

Ingest publishes each committed batch on `BATCH_TOPIC` (QoS 1); `envmon alerts` subscribes with a
persistent session, so batches wait in the broker while the engine is away. One message:

    b"EB1" | u16 length of the codes text | codes, comma-separated UTF-8 | rows (numpy `ROW_DTYPE`)

Rows hold the pollutant as an index into the codes, flags as the HJ 212 letter's byte, and the
basis as an index into `envmon.columns.BASES`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from envmon import topics
from envmon.columns import ReadingColumns

BATCH_TOPIC = f"{topics.PREFIX}/_internal/batches"
MAGIC = b"EB1"
ROW_DTYPE = np.dtype(
    [("time_s", "<f8"), ("device_id", "<i4"), ("pollutant", "<i2"), ("value", "<f8"), ("flag", "u1"), ("basis", "i1")]
)
_HEADER = struct.Struct("<H")


class BatchWireError(ValueError):
    """A batch message that is not in this format."""


@dataclass(frozen=True)
class WireBatch:
    """A decoded batch: the codes table and one structured row per reading."""

    codes: tuple[str, ...]
    rows: npt.NDArray[np.void]


def columns_to_array(columns: ReadingColumns) -> tuple[tuple[str, ...], npt.NDArray[np.void]]:
    """A batch's readings as the codes table and the row array, column by column."""
    array = np.empty(len(columns), dtype=ROW_DTYPE)
    array["time_s"] = columns.time_us / 1e6
    array["device_id"] = columns.device_id
    array["pollutant"] = columns.pollutant
    array["value"] = columns.value
    array["flag"] = columns.flag
    array["basis"] = columns.basis
    return columns.codes, array


def encode_batch(codes: Sequence[str], rows: npt.NDArray[np.void]) -> bytes:
    """One message for a batch."""
    text = ",".join(codes).encode()
    return MAGIC + _HEADER.pack(len(text)) + text + rows.astype(ROW_DTYPE, copy=False).tobytes()


def decode_batch(payload: bytes) -> WireBatch:
    """The batch in a message; BatchWireError when it is not one."""
    if payload[:3] != MAGIC or len(payload) < 5:
        raise BatchWireError("not an envmon batch message")
    (size,) = _HEADER.unpack_from(payload, 3)
    body = payload[5 + size :]
    if len(body) % ROW_DTYPE.itemsize:
        raise BatchWireError(f"row data of {len(body)} bytes is not a whole number of rows")
    text = payload[5 : 5 + size].decode()
    codes = tuple(text.split(",")) if text else ()
    rows = np.frombuffer(body, dtype=ROW_DTYPE)
    if rows.size and int(rows["pollutant"].max()) >= len(codes):
        raise BatchWireError("a row names a pollutant index outside the codes table")
    return WireBatch(codes, rows)
