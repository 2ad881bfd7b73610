"""Rows to PostgreSQL's binary COPY format, as one bytes object per batch.

Built by the pipeline's preparer thread, so the writer sends a batch with one `Copy.write` and
the database never waits for Python to format rows while the GIL is busy elsewhere. Columns and
types follow ingest.rows.COLUMNS / COPY_TYPES: timestamptz, int4, text, text, float8, text,
int8, timestamptz. See https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import UTC, datetime

from ingest.rows import COLUMNS, Row

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # no OIDs, no header extension
TRAILER = struct.pack(">h", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# field count, then (length, value) for time and device_id
_HEAD = struct.Struct(">hiqii")
_VALUE = struct.Struct(">id")
# (length, value) for seq and received_at
_TAIL = struct.Struct(">iqiq")
assert len(COLUMNS) == 8, "the layout below follows ingest.rows.COLUMNS"


def _micros(t: datetime) -> int:
    """Microseconds since 2000-01-01 UTC, PostgreSQL's timestamptz on the wire."""
    d = t - _PG_EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _text(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">i", len(data)) + data


class CopyEncoder:
    """Encodes rows; caches the encoded text columns (a handful of codes, bases and flags)."""

    def __init__(self) -> None:
        self._texts: dict[str, bytes] = {}

    def encode(self, rows: Iterable[Row]) -> bytes:
        """The whole COPY stream (signature, rows, trailer) for these rows."""
        out = bytearray(SIGNATURE)
        texts = self._texts
        head = tail = b""
        prev: Row | None = None
        for r in rows:
            # The rows of one sample share time, device, seq and arrival: pack those once.
            if prev is None or r.time is not prev.time or r.device_id != prev.device_id:
                head = _HEAD.pack(8, 8, _micros(r.time), 4, r.device_id)
            if prev is None or r.seq != prev.seq or r.received_at is not prev.received_at:
                tail = _TAIL.pack(8, r.seq, 8, _micros(r.received_at))
            prev = r
            out += head
            out += texts.get(r.pollutant) or self._cache(r.pollutant)
            out += texts.get(r.basis) or self._cache(r.basis)
            out += _VALUE.pack(8, r.value)
            out += texts.get(r.flag) or self._cache(r.flag)
            out += tail
        out += TRAILER
        return bytes(out)

    def _cache(self, text: str) -> bytes:
        encoded = _text(text)
        if len(self._texts) < 10_000:  # codes come from the catalogue; bound it anyway
            self._texts[text] = encoded
        return encoded
