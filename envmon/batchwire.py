"""The committed-batch wire format: how ingest hands stored readings to an alert engine in another process.

Ingest publishes each committed batch on `BATCH_TOPIC` (QoS 1); `envmon alerts` subscribes with a
persistent session, so batches wait in the broker while the engine is away. One message:

    b"EB1" | u16 length of the codes text | codes, comma-separated UTF-8 | rows (numpy `ROW_DTYPE`)

Rows hold the pollutant as an index into the codes, flags as the HJ 212 letter's byte, and the
basis as an index into `BASES`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from envmon import topics

BATCH_TOPIC = f"{topics.PREFIX}/_internal/batches"
MAGIC = b"EB1"
BASES: tuple[str, ...] = ("instant", "minute", "hour", "day")
BASIS_INDEX = {b: i for i, b in enumerate(BASES)}
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


def rows_to_array(rows: Sequence[Sequence[Any]]) -> tuple[tuple[str, ...], npt.NDArray[np.void]]:
    """Rows whose first six fields are (time, device_id, pollutant, basis, value, flag), as ingest's
    `readings` rows are, to the codes table and the row array (column by column: ~0.3 us a row)."""
    array = np.zeros(len(rows), dtype=ROW_DTYPE)
    if not rows:
        return (), array
    times, devices, pollutants, bases, values, flags = list(zip(*rows, strict=False))[:6]
    codes = tuple(sorted(set(pollutants)))
    column = {c: n for n, c in enumerate(codes)}
    # The rows of one message share one datetime object: convert each once (by id: hashing an aware
    # datetime asks for its UTC offset, which is as slow as converting it).
    stamps: dict[int, float] = {}
    for t in times:
        if id(t) not in stamps:
            stamps[id(t)] = t.timestamp()
    array["time_s"] = [stamps[id(t)] for t in times]
    array["device_id"] = devices
    array["pollutant"] = [column[p] for p in pollutants]
    array["value"] = values
    array["flag"] = np.frombuffer("".join(flags).encode("ascii"), dtype=np.uint8)
    array["basis"] = [BASIS_INDEX[b] for b in bases]
    return codes, array


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
