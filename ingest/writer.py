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

Device state (last seen, last reading, last sequence number) comes as a small JSON summary per
device built by the caller (`device_summary`), and the same statement tells live views which devices
have new readings (dashboards LISTEN on envmon_events; past 500 devices the list is left out, as
NOTIFY payloads stop at 8000 bytes: "all of them"). Device rows are locked in id order, so two ingest
workers cannot deadlock on them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

import psycopg

from ingest.copy_binary import CopyEncoder
from ingest.errors import WriteError
from ingest.quarantine import QuarantineEntry
from ingest.rows import COLUMNS, Row, sample_heads

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
SELECT d, r, t, s, true, now()
FROM json_to_recordset(%s::json) AS u(d int4, r timestamptz, t timestamptz, s int8) ORDER BY d
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


def device_summary(batches: Iterable[Sequence[Row]]) -> str:
    """Per device in these rows: the latest receipt, reading time and sequence number, as the JSON
    array `_DEVICE_STATE` reads. Built by the pipeline's preparer thread, off the writer's path."""
    latest: dict[int, tuple[datetime, datetime, int]] = {}
    for row in sample_heads(chain.from_iterable(batches)):
        seen = latest.get(row.device_id)
        if seen is None:
            latest[row.device_id] = (row.received_at, row.time, row.seq)
        elif row.received_at > seen[0] or row.time > seen[1] or row.seq > seen[2]:
            latest[row.device_id] = (max(seen[0], row.received_at), max(seen[1], row.time), max(seen[2], row.seq))
    return json.dumps(
        [{"d": d, "r": r.isoformat(), "t": t.isoformat(), "s": s} for d, (r, t, s) in sorted(latest.items())]
    )


def write_batch(
    conn: psycopg.Connection,
    rows: Sequence[Row],
    quarantine: Sequence[QuarantineEntry],
    copy_data: bytes | None = None,
    summary: str | None = None,
) -> WriteResult:
    """Store a batch in one transaction; WriteError when the database did not take it.

    `copy_data` is `CopyEncoder().encode(rows)` and `summary` is `device_summary([rows])`, when the
    caller built them already.
    """
    data = b""
    if rows:
        data = copy_data if copy_data is not None else CopyEncoder().encode(rows)
        summary = summary if summary is not None else device_summary([rows])
    try:
        try:
            inserted = _write(conn, data, summary, quarantine, merge=False)
        except psycopg.errors.UniqueViolation:  # a redelivery: some of these readings are stored already
            inserted = _write(conn, data, summary, quarantine, merge=True)
    except psycopg.Error as exc:
        raise WriteError(f"batch of {len(rows)} rows not stored: {exc}") from exc
    return WriteResult(inserted, len(rows) - inserted, len(quarantine))


def _write(
    conn: psycopg.Connection,
    copy_data: bytes,
    summary: str | None,
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
            cur.execute(_DEVICE_STATE, (summary,))
        if quarantine:
            cur.executemany(_QUARANTINE, [q.row() for q in quarantine])
    return inserted
