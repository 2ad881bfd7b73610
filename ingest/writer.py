"""One statement per batch: a binary COPY straight into `readings`, committed by itself.

Two things decide what a batch costs on a busy 2-core machine (measured, docs/benchmarks.md):
- The database's work per row. COPY into `readings` itself uses PostgreSQL's multi-row insert and is
  about 30 % cheaper than COPY into a staging table followed by `INSERT ... SELECT` (112 vs 161 ms
  for 20,000 rows, alternating in one run).
- Round trips and the time a transaction stays open. The connection runs in autocommit, so a batch
  is one COPY that is its own transaction: two round trips, no BEGIN or COMMIT of its own, and nothing
  for a second committer to wait on. Device state is written apart, once a second
  (ingest/device_state.py).

Almost every batch holds no reading stored before. When one does (a redelivery after a crash or a
lost acknowledgement) the unique key refuses the COPY, nothing of it is stored, and the batch is
written again through the staging table with `INSERT ... SELECT ... ON CONFLICT DO NOTHING` in one
transaction, so redelivered readings are harmless. A bad row can never abort the COPY of the good
ones: rows are validated before they get here. Quarantined messages are stored in a transaction of
their own before anything of their batch is acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from envmon.columns import ReadingColumns
from ingest.copy_binary import encode_columns
from ingest.errors import WriteError
from ingest.quarantine import QuarantineEntry
from ingest.rows import COLUMNS

_COLS = ", ".join(COLUMNS)
_STAGING = "CREATE TEMP TABLE IF NOT EXISTS readings_staging (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_COPY_DIRECT = f"COPY readings ({_COLS}) FROM STDIN (FORMAT BINARY)"
_COPY_STAGING = f"COPY readings_staging ({_COLS}) FROM STDIN (FORMAT BINARY)"
# Key order: two workers merging the same redelivered readings take index locks in the same order.
_MERGE = (
    f"INSERT INTO readings ({_COLS}) SELECT {_COLS} FROM readings_staging "
    "ORDER BY device_id, pollutant, basis, time ON CONFLICT DO NOTHING"
)
_QUARANTINE = (
    "INSERT INTO quarantine (transport, source, device_mn, reason, detail, raw, raw_truncated) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one committed batch stored."""

    inserted: int
    duplicates: int
    quarantined: int


def prepare(conn: psycopg.Connection) -> None:
    """Put a connection in autocommit and create its staging table for redelivered batches (once)."""
    conn.autocommit = True
    conn.execute(_STAGING)


def write_batch(
    conn: psycopg.Connection,
    readings: ReadingColumns,
    quarantine: Sequence[QuarantineEntry],
    copy_data: bytes | None = None,
) -> WriteResult:
    """Store a batch (on a connection given to `prepare`); WriteError when the database did not take it.

    `copy_data` is `encode_columns(...)` of the readings, when the caller built it already.
    """
    inserted = 0
    try:
        if len(readings):
            data = copy_data if copy_data is not None else encode_columns(readings)
            try:
                inserted = _copy(conn, data)
            except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
                # A redelivery: some of these readings are stored already, or are being stored by another
                # committer's open COPY (two COPYs of overlapping readings can deadlock). The merge
                # skips what is stored and takes its row locks in key order.
                inserted = _merge(conn, data)
        if quarantine:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_QUARANTINE, [q.row() for q in quarantine])
    except psycopg.Error as exc:
        raise WriteError(f"batch of {len(readings)} readings not stored: {exc}") from exc
    return WriteResult(inserted, len(readings) - inserted, len(quarantine))


def _copy(conn: psycopg.Connection, data: bytes) -> int:
    with conn.cursor() as cur:
        with cur.copy(_COPY_DIRECT) as copy:
            copy.write(data)
        return cur.rowcount


def _merge(conn: psycopg.Connection, data: bytes) -> int:
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(_COPY_STAGING) as copy:
            copy.write(data)
        cur.execute(_MERGE)
        return cur.rowcount
