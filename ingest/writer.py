"""One transaction per batch: binary COPY into a staging table, merge, quarantine, device state.

The merge is `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so redelivered readings are harmless
and a bad row can never abort the COPY of the good ones (rows are validated before they get here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from ingest.errors import WriteError
from ingest.quarantine import QuarantineEntry
from ingest.rows import COLUMNS, COPY_TYPES, Row

_COLS = ", ".join(COLUMNS)
_STAGING = "CREATE TEMP TABLE IF NOT EXISTS readings_staging (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_COPY = f"COPY readings_staging ({_COLS}) FROM STDIN (FORMAT BINARY)"
_MERGE = f"INSERT INTO readings ({_COLS}) SELECT {_COLS} FROM readings_staging ON CONFLICT DO NOTHING"
_QUARANTINE = (
    "INSERT INTO quarantine (transport, source, device_mn, reason, detail, raw, raw_truncated) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
# Devices sorted by id so two ingest workers lock device_state rows in the same order.
_DEVICE_STATE = """
INSERT INTO device_state (device_id, last_seen_at, last_reading_at, last_seq, online, updated_at)
SELECT d, s, r, q, true, now()
FROM unnest(%s::int[], %s::timestamptz[], %s::timestamptz[], %s::bigint[]) AS u(d, s, r, q)
ON CONFLICT (device_id) DO UPDATE SET
    last_seen_at = greatest(device_state.last_seen_at, EXCLUDED.last_seen_at),
    last_reading_at = greatest(device_state.last_reading_at, EXCLUDED.last_reading_at),
    last_seq = greatest(device_state.last_seq, EXCLUDED.last_seq),
    online = true,
    updated_at = now()
"""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one committed batch stored."""

    inserted: int
    duplicates: int
    quarantined: int


def prepare(conn: psycopg.Connection) -> None:
    """Create this connection's staging table (once per connection)."""
    conn.execute(_STAGING)
    conn.commit()


def write_batch(conn: psycopg.Connection, rows: Sequence[Row], quarantine: Sequence[QuarantineEntry]) -> WriteResult:
    """Store a batch in one transaction; WriteError when the database did not take it."""
    try:
        with conn.transaction():
            inserted = _copy_rows(conn, rows) if rows else 0
            if quarantine:
                with conn.cursor() as cur:
                    cur.executemany(_QUARANTINE, [q.row() for q in quarantine])
            if rows:
                conn.execute(_DEVICE_STATE, _device_state_arrays(rows))
    except psycopg.Error as exc:
        raise WriteError(f"batch of {len(rows)} rows not stored: {exc}") from exc
    return WriteResult(inserted, len(rows) - inserted, len(quarantine))


def _copy_rows(conn: psycopg.Connection, rows: Sequence[Row]) -> int:
    with conn.cursor() as cur:
        with cur.copy(_COPY) as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        cur.execute(_MERGE)
        return cur.rowcount


def _device_state_arrays(rows: Sequence[Row]) -> tuple[list[int], list[datetime], list[datetime], list[int]]:
    latest: dict[int, tuple[datetime, datetime, int]] = {}
    for r in rows:
        seen = latest.get(r.device_id)
        if seen is None:
            latest[r.device_id] = (r.received_at, r.time, r.seq)
        else:
            latest[r.device_id] = (max(seen[0], r.received_at), max(seen[1], r.time), max(seen[2], r.seq))
    ids = sorted(latest)
    return ids, [latest[i][0] for i in ids], [latest[i][1] for i in ids], [latest[i][2] for i in ids]
