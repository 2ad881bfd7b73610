"""Readings to PostgreSQL's binary COPY format, built with numpy: one bytes object per batch.

Built by the pipeline's preparer thread, so the writer sends a batch with one `Copy.write` and the
database never waits for Python to format rows. Columns and types follow ingest.rows.COLUMNS /
COPY_TYPES: timestamptz, int4, text, text, float8, text, int8, timestamptz. See
https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).

A row is a fixed layout but for its two short text fields, the pollutant code and the basis: rows
are laid out as numpy records, one record type per length of those two texts (one for nearly every
batch), and rows keep their order.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from envmon.columns import UNIX_EPOCH_US_IN_PG, ReadingColumns
from envmon.domain import BASES
from ingest.rows import COLUMNS

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # no OIDs, no header extension
TRAILER = struct.pack(">h", -1)
assert len(COLUMNS) == 8, "the layout below follows ingest.rows.COLUMNS"
# (field, type, the value every row has): the field count and each field's length prefix are constant.
_BEFORE = [("count", ">i2", 8), ("time_len", ">i4", 8), ("time", ">i8", None), ("device_len", ">i4", 4),
           ("device", ">i4", None)]  # fmt: skip
_AFTER = [("value_len", ">i4", 8), ("value", ">f8", None), ("flag_len", ">i4", 1), ("flag", "u1", None),
          ("seq_len", ">i4", 8), ("seq", ">i8", None),
          ("received_len", ">i4", 8), ("received", ">i8", None)]  # fmt: skip


def _text(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">i", len(data)) + data


def _record_type(texts_bytes: int) -> np.dtype[np.void]:
    fields = [(name, kind) for name, kind, _ in _BEFORE] + [("texts", f"V{texts_bytes}")]
    return np.dtype(fields + [(name, kind) for name, kind, _ in _AFTER])


def in_key_order(columns: ReadingColumns) -> ReadingColumns:
    """The readings grouped by device (stable: in arrival order within a device), the order to COPY them in.

    The unique key leads with device_id: one device's readings then go to neighbouring index pages one
    after another instead of jumping across the index with every message. Measured in `envmon bench
    ingest` at 170k readings/s offered: p99 publish-to-commit 2.1-3.0 s -> 0.7-1.1 s, the database's
    CPU per row about a fifth lower (sorting by the whole key gained nothing more).
    """
    return columns.take(np.argsort(columns.device_id, kind="stable"))


def encode_columns(columns: ReadingColumns) -> bytes:
    """The whole COPY stream (signature, rows, trailer) for these readings, in their order."""
    n = len(columns)
    if n == 0:
        return SIGNATURE + TRAILER
    # Each (pollutant, basis) pair's two text fields, encoded once.
    pair = columns.pollutant.astype(np.intp) * len(BASES) + columns.basis
    present = np.flatnonzero(np.bincount(pair, minlength=len(columns.codes) * len(BASES)))
    texts = {int(p): _text(columns.codes[p // len(BASES)]) + _text(BASES[p % len(BASES)]) for p in present}
    sizes = {len(t) for t in texts.values()}
    if len(sizes) == 1:
        return SIGNATURE + _records(columns, pair, texts, sizes.pop(), slice(None)).tobytes() + TRAILER
    return SIGNATURE + _mixed(columns, pair, texts) + TRAILER


def _records(
    columns: ReadingColumns,
    pair: npt.NDArray[np.intp],
    texts: dict[int, bytes],
    size: int,
    rows: slice | npt.NDArray[np.intp],
) -> npt.NDArray[np.void]:
    """Records of the chosen rows, whose pairs' texts are all `size` bytes long."""
    record = _record_type(size)
    table = np.zeros(int(pair.max()) + 1, dtype=f"V{size}")
    for p, t in texts.items():
        if len(t) == size:
            table[p] = np.void(t)
    picked = columns.time_us[rows]
    out = np.empty(picked.shape[0], dtype=record)
    for name, _, constant in _BEFORE + _AFTER:
        if constant is not None:
            out[name] = constant
    out["time"] = picked - UNIX_EPOCH_US_IN_PG
    out["device"] = columns.device_id[rows]
    out["texts"] = table[pair[rows]]
    out["value"] = columns.value[rows]
    out["flag"] = columns.flag[rows]
    out["seq"] = columns.seq[rows]
    out["received"] = columns.received_us[rows] - UNIX_EPOCH_US_IN_PG
    return out


def _mixed(columns: ReadingColumns, pair: npt.NDArray[np.intp], texts: dict[int, bytes]) -> bytes:
    """Rows whose texts differ in length: one record type per length, scattered back into row order."""
    text_size = np.zeros(int(pair.max()) + 1, dtype=np.intp)
    for p, t in texts.items():
        text_size[p] = len(t)
    row_size = text_size[pair] + (_record_type(0).itemsize)
    ends = np.cumsum(row_size)
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    starts = ends - row_size
    for size in sorted({len(t) for t in texts.values()}):
        rows = np.flatnonzero(text_size[pair] == size)
        records = _records(columns, pair, texts, size, rows).view(np.uint8).reshape(rows.shape[0], -1)
        out[starts[rows][:, None] + np.arange(records.shape[1])] = records
    return out.tobytes()
