"""The committed-batch wire format: how ingest hands stored readings to an alert engine in another process.

Ingest publishes each committed batch on `BATCH_TOPIC` (QoS 1); `envmon alerts` subscribes with a
persistent session, so batches wait in the broker while the engine is away. A message carries the
same `ReadingColumns` ingest built and wrote, column by column, so the engine gets what an engine in
ingest's own process gets (arrival times and sequence numbers included) with no row type between:

    b"EB2" | u8 0 | u32 rows | u16 length of the codes text | u16 0 | codes, comma-separated UTF-8
           | zero padding to 8 bytes | one little-endian array per column, in `COLUMNS` order

The 8-byte columns come first and the codes text is padded, so every array starts aligned to its own
width and decodes as a read-only view of the message (`np.frombuffer`), with no copy.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from envmon import topics
from envmon.columns import ReadingColumns
from envmon.errors import EnvmonError

BATCH_TOPIC = f"{topics.PREFIX}/_internal/batches"
# The priority lane's batches (life-safety devices, ingest/lane.py): a topic of their own, read on a session of
# its own, so they do not queue in the broker behind the backlog's batches.
LANE_BATCH_TOPIC = f"{BATCH_TOPIC}/lane"
MAGIC = b"EB2"
# The columns of ReadingColumns on the wire, widest first (alignment), with their little-endian types.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("time_us", "<i8"), ("received_us", "<i8"), ("seq", "<i8"), ("value", "<f8"),
    ("device_id", "<i4"), ("pollutant", "<i2"), ("basis", "i1"), ("flag", "u1"),
)
ROW_BYTES = sum(np.dtype(kind).itemsize for _, kind in COLUMNS)
_HEADER = struct.Struct("<3sxIHxx")


class BatchWireError(EnvmonError):
    """A batch message that is not in this format."""


def _padding(size: int) -> int:
    return -size % 8


def encode_batch(columns: ReadingColumns) -> bytes:
    """One message for a batch of readings."""
    text = ",".join(columns.codes).encode()
    parts = [_HEADER.pack(MAGIC, len(columns), len(text)), text, bytes(_padding(_HEADER.size + len(text)))]
    parts += [getattr(columns, name).astype(kind, copy=False).tobytes() for name, kind in COLUMNS]
    return b"".join(parts)


def decode_batch(payload: bytes) -> ReadingColumns:
    """The readings in a message (read-only views of it); BatchWireError when it is not one."""
    if len(payload) < _HEADER.size or payload[:3] != MAGIC:
        raise BatchWireError("not an envmon batch message of this version")
    _, rows, size = _HEADER.unpack_from(payload)
    start = _HEADER.size + size
    start += _padding(start)
    if len(payload) != start + rows * ROW_BYTES:
        raise BatchWireError(f"a message of {len(payload)} bytes cannot hold {rows} rows after its header")
    text = payload[_HEADER.size : _HEADER.size + size].decode()
    codes = tuple(text.split(",")) if text else ()
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, kind in COLUMNS:
        arrays[name] = np.frombuffer(payload, dtype=kind, count=rows, offset=start)
        start += arrays[name].nbytes
    pollutant = arrays["pollutant"]
    if rows and (int(pollutant.max()) >= len(codes) or int(pollutant.min()) < 0):
        raise BatchWireError("a row names a pollutant index outside the codes table")
    return ReadingColumns(codes, **arrays)
