"""One transaction per batch: binary COPY into a staging table, merge, quarantine, device state.

The merge is `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so redelivered readings are harmless
and a bad row can never abort the COPY of the good ones (rows are validated before they get here).
`ON CONFLICT` costs about 2 us a row more than a plain insert (speculative insertion), and almost
every batch holds no reading stored before; so the merge first tries the plain `INSERT ... SELECT`
under a savepoint and only when the unique key refuses it (a redelivery) rolls back to the
savepoint and runs the `ON CONFLICT DO NOTHING` form. Both insert in key order, so two ingest
workers take index locks in the same order and cannot deadlock on the same readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from ingest.copy_binary import CopyEncoder
from ingest.errors import WriteError
from ingest.quarantine import QuarantineEntry
from ingest.rows import COLUMNS, Row

_COLS = ", ".join(COLUMNS)
_STAGING = "CREATE TEMP TABLE IF NOT EXISTS readings_staging (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_COPY = f"COPY readings_staging ({_COLS}) FROM STDIN (FORMAT BINARY)"
_KEY_ORDER = "ORDER BY device_id, pollutant, basis, time"
_INSERT = f"INSERT INTO readings ({_COLS}) SELECT {_COLS} FROM readings_staging {_KEY_ORDER}"
_MERGE = f"{_INSERT} ON CONFLICT DO NOTHING"
_QUARANTINE = (
    "INSERT INTO quarantine (transport, source, device_mn, reason, detail, raw, raw_truncated) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
# Computed from the staging table in the database: no per-row Python, no array parameters.
# Devices sorted by id so two ingest workers lock device_state rows in the same order.
# The same statement tells live views (the dashboard LISTENs on envmon_events) which devices have new
# readings; past 500 devices the list is left out (NOTIFY payloads stop at 8000 bytes): "all of them".
_DEVICE_STATE = """
WITH seen AS (
INSERT INTO device_state (device_id, last_seen_at, last_reading_at, last_seq, online, updated_at)
SELECT device_id, max(received_at), max(time), max(seq), true, now()
FROM readings_staging GROUP BY device_id ORDER BY device_id
ON CONFLICT (device_id) DO UPDATE SET
    last_seen_at = greatest(device_state.last_seen_at, EXCLUDED.last_seen_at),
    last_reading_at = greatest(device_state.last_reading_at, EXCLUDED.last_reading_at),
    last_seq = greatest(device_state.last_seq, EXCLUDED.last_seq),
    online = true,
    updated_at = now()
RETURNING device_id
)
SELECT pg_notify('envmon_events', json_build_object(
    'kind', 'readings', 'devices', CASE WHEN count(*) <= 500 THEN array_agg(device_id) END)::text)
FROM seen
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


def write_batch(
    conn: psycopg.Connection,
    rows: Sequence[Row],
    quarantine: Sequence[QuarantineEntry],
    copy_data: bytes | None = None,
) -> WriteResult:
    """Store a batch in one transaction; WriteError when the database did not take it.

    `copy_data` is `CopyEncoder().encode(rows)` when the caller built it already.
    """
    try:
        with conn.transaction():
            inserted = _copy_rows(conn, rows, copy_data) if rows else 0
            if quarantine:
                with conn.cursor() as cur:
                    cur.executemany(_QUARANTINE, [q.row() for q in quarantine])
            if rows:
                conn.execute(_DEVICE_STATE)
    except psycopg.Error as exc:
        raise WriteError(f"batch of {len(rows)} rows not stored: {exc}") from exc
    return WriteResult(inserted, len(rows) - inserted, len(quarantine))


def _copy_rows(conn: psycopg.Connection, rows: Sequence[Row], copy_data: bytes | None) -> int:
    with conn.cursor() as cur:
        with cur.copy(_COPY) as copy:
            copy.write(copy_data if copy_data is not None else CopyEncoder().encode(rows))
        try:
            with conn.transaction():  # a savepoint: a refused plain insert leaves the COPY in place
                cur.execute(_INSERT)
        except psycopg.errors.UniqueViolation:
            cur.execute(_MERGE)
        return cur.rowcount
