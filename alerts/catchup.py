"""Catch-up: stored readings the engine may never have evaluated, read again from PostgreSQL.

Readings reach a bus engine only through the broker's memory. A broker killed before its autosave
forgets the batches it held for the engine's session (delivered or not, acknowledged or not), and a
broker restored from an old file may even say the session is present. So whenever the engine is
rebuilt from its snapshot, and whenever its bus connection comes back, it evaluates the readings
stored since its last saved snapshot (less a margin) from the database, in chunks, through the same
evaluate path as live batches. Evaluating a reading twice changes nothing: instant rules skip times
at or before a series' last time, and the hourly book counts a second of an hour once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from envmon.columns import ReadingColumns
from envmon.db import connect_url

# Rows per evaluated chunk: bounded memory, and the engine thread checkpoints between chunks.
CHUNK_ROWS = 50_000
# Readings received at most this long before the last snapshot are read again. It covers ingest's time from
# a message's arrival (received_at) to its batch's commit and the engine's lag behind the bus at that save.
MARGIN_SECONDS = 300.0
# Devices resend readings older than this only beyond the replay window; bounding `time` too lets
# TimescaleDB skip old chunks and plain PostgreSQL use its time index beside the received_at one.
LATE_READING_DAYS = 7

# The columns of `readings` in their own order: each fetched row is a `Row` for ReadingColumns.from_rows.
_SELECT = (
    "SELECT time, device_id, pollutant, basis, value, flag, seq, received_at"
    " FROM readings WHERE received_at > %(since)s AND time > %(oldest)s AND device_id = ANY(%(devices)s)"
    " ORDER BY time"
)


def catch_up_since(
    saved_at: datetime | None, now: datetime, margin_seconds: float, *, floor: datetime | None = None,
) -> datetime:
    """Where a catch-up starts: `margin_seconds` before the last saved snapshot (before `now` when none is
    saved yet, or when the saved time is ahead of this clock); never after `floor`, the start of a catch-up
    that did not finish (its chunks, in time order, saved snapshots, which moved the snapshot's time on)."""
    mark = now if saved_at is None or saved_at > now else saved_at
    since = mark - timedelta(seconds=margin_seconds)
    return since if floor is None else min(since, floor)


def stored_batches(
    database_url: str, since: datetime, device_ids: Sequence[int], *, chunk_rows: int = CHUNK_ROWS,
) -> Iterator[ReadingColumns]:
    """The readings of these devices received after `since`, in time order, `chunk_rows` at a time.

    One server-side cursor on a connection of its own: the engine's connection commits its steps
    between chunks, which would end the cursor's transaction."""
    if not device_ids:
        return
    oldest = since - timedelta(days=LATE_READING_DAYS)
    # Not autocommit: a named cursor lives in the connection's transaction.
    with connect_url(database_url, application="envmon-alerts-catch-up") as conn, \
            conn.cursor(name="alerts_catch_up") as cur:
        cur.itersize = chunk_rows
        cur.execute(_SELECT, {"since": since, "oldest": oldest, "devices": list(device_ids)})
        while rows := cur.fetchmany(chunk_rows):
            yield ReadingColumns.from_rows(rows)
