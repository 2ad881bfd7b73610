"""One transaction per batch: binary COPY straight into `readings`, then one statement for device state.

Two things decide what a batch costs on a busy 2-core machine (measured, docs/benchmarks.md):
- The database's work per row. COPY into `readings` itself uses PostgreSQL's multi-row insert and is
  about 30 % cheaper than COPY into a staging table followed by `INSERT ... SELECT` (112 vs 161 ms
  for 20,000 rows, alternating in one run).
- Round trips. After each one the writer thread must get the GIL back from the decoding and MQTT
  threads while the database idles. So a batch is BEGIN, COPY, one statement, COMMIT.

Almost every batch holds no reading stored before. When one does (a redelivery after a crash or a
lost acknowledgement) the unique key refuses the COPY, the transaction is rolled back and the batch
is written again through the staging table with `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so
redelivered readings are harmless. A bad row can never abort the COPY of the good ones: rows are
validated before they get here.

Device state (last seen, last reading, last sequence number) comes as one array per column, a
summary per device built by the caller (`device_summary`), and the same statement tells live views which devices
have new readings (dashboards LISTEN on envmon_events; past 500 devices the list is left out, as
NOTIFY payloads stop at 8000 bytes: "all of them"). Device rows are locked in id order, so two ingest
workers cannot deadlock on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
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
_DEVICE_STATE = """
WITH seen AS (
INSERT INTO device_state (device_id, last_seen_at, last_reading_at, last_seq, online, updated_at)
SELECT d, timestamptz 'epoch' + r * interval '1 microsecond', timestamptz 'epoch' + t * interval '1 microsecond',
       s, true, now()
FROM unnest(%s::int4[], %s::int8[], %s::int8[], %s::int8[]) AS u(d, r, t, s) ORDER BY d
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
    """Create this connection's staging table for redelivered batches (once per connection)."""
    conn.execute(_STAGING)
    conn.commit()


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """Per device of a batch (ascending id): the latest arrival and reading time (us since the Unix
    epoch) and the highest sequence number, as `_DEVICE_STATE` reads them."""

    device_id: list[int]
    received_us: list[int]
    time_us: list[int]
    seq: list[int]

    def params(self) -> tuple[list[int], list[int], list[int], list[int]]:
        return self.device_id, self.received_us, self.time_us, self.seq


def device_summary(columns: ReadingColumns) -> DeviceSummary:
    """The device summary of these readings. Built by the pipeline's preparer thread, off the writer's
    path; looks at the first reading of each sample only."""
    heads = columns.sample_starts()
    devices = columns.device_id[heads]
    order = np.argsort(devices, kind="stable")
    devices = devices[order]
    first = np.flatnonzero(np.r_[True, devices[1:] != devices[:-1]]) if devices.size else heads[:0]

    def latest(values: npt.NDArray[np.int64]) -> list[int]:
        return np.maximum.reduceat(values[heads][order], first).tolist() if first.size else []

    return DeviceSummary(
        devices[first].tolist(), latest(columns.received_us), latest(columns.time_us), latest(columns.seq)
    )


def write_batch(
    conn: psycopg.Connection,
    readings: ReadingColumns,
    quarantine: Sequence[QuarantineEntry],
    copy_data: bytes | None = None,
    summary: DeviceSummary | None = None,
) -> WriteResult:
    """Store a batch in one transaction; WriteError when the database did not take it.

    `copy_data` is `encode_columns(readings)` and `summary` is `device_summary(readings)`, when the
    caller built them already.
    """
    data = b""
    if len(readings):
        data = copy_data if copy_data is not None else encode_columns(readings)
        summary = summary if summary is not None else device_summary(readings)
    try:
        try:
            inserted = _write(conn, data, summary, quarantine, merge=False)
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            # A redelivery: some of these readings are stored already, or are being stored by another
            # committer's open transaction (two COPYs of overlapping readings can deadlock). The merge
            # skips what is stored and takes its row locks in key order.
            inserted = _write(conn, data, summary, quarantine, merge=True)
    except psycopg.Error as exc:
        raise WriteError(f"batch of {len(readings)} readings not stored: {exc}") from exc
    return WriteResult(inserted, len(readings) - inserted, len(quarantine))


def _write(
    conn: psycopg.Connection,
    copy_data: bytes,
    summary: DeviceSummary | None,
    quarantine: Sequence[QuarantineEntry],
    *,
    merge: bool,
) -> int:
    inserted = 0
    with conn.transaction(), conn.cursor() as cur:
        if copy_data:
            with cur.copy(_COPY_STAGING if merge else _COPY_DIRECT) as copy:
                copy.write(copy_data)
            inserted = cur.rowcount
            if merge:
                cur.execute(_MERGE)
                inserted = cur.rowcount
            assert summary is not None
            cur.execute(_DEVICE_STATE, summary.params())
        if quarantine:
            cur.executemany(_QUARANTINE, [q.row() for q in quarantine])
    return inserted
