"""The batch writer against PostgreSQL: one autocommitted COPY for new readings, the merge for redelivered ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from envmon.columns import ReadingColumns, Row
from ingest import writer
from ingest.quarantine import QuarantineEntry

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def _rows(conn: psycopg.Connection, seqs: range, device_index: int = 0) -> ReadingColumns:
    ids = [r[0] for r in conn.execute("SELECT id FROM devices ORDER BY id")]
    device = ids[device_index]
    return ReadingColumns.from_rows(
        Row(T0 + timedelta(seconds=s), device, code, "instant", 1.0 + s, "N", s, T0 + timedelta(seconds=s, milliseconds=5))
        for s in seqs
        for code in ("w20117", "w01001")
    )


def _count(conn: psycopg.Connection) -> int:
    found = conn.execute("SELECT count(*) FROM readings").fetchone()
    assert found is not None
    return int(found[0])


@pytest.fixture
def conn(ingest_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(ingest_db) as c:
        writer.prepare(c)
        yield c


@pytest.mark.parametrize(
    ("first", "second", "inserted", "duplicates"),
    [
        (range(0, 10), range(10, 20), 20, 0),  # new readings: the direct COPY
        (range(0, 10), range(0, 10), 0, 20),  # a whole batch redelivered: the merge
        (range(0, 10), range(5, 15), 10, 10),  # half redelivered, half new
    ],
)
def test_second_batch_stores_only_what_is_new(
    conn: psycopg.Connection, first: range, second: range, inserted: int, duplicates: int
) -> None:
    assert writer.write_batch(conn, _rows(conn, first), []) == writer.WriteResult(2 * len(first), 0, 0)
    result = writer.write_batch(conn, _rows(conn, second), [])
    assert (result.inserted, result.duplicates) == (inserted, duplicates)
    assert _count(conn) == 2 * len(first) + inserted


def test_a_batch_of_only_quarantined_messages_is_stored(conn: psycopg.Connection) -> None:
    entry = QuarantineEntry("mqtt", "envmon/v1/x/up", "X", "bad_json", "not JSON", b"{oops")
    result = writer.write_batch(conn, ReadingColumns.empty(), [entry])
    assert result == writer.WriteResult(0, 0, 1)
    assert conn.execute("SELECT reason FROM quarantine").fetchall() == [("bad_json",)]


def test_a_refused_copy_leaves_nothing_behind(conn: psycopg.Connection) -> None:
    """A batch that repeats one of its own readings cannot be stored by COPY; the merge stores it once."""
    batch = _rows(conn, range(0, 3))
    doubled = batch.take(np.r_[np.arange(len(batch)), 0])
    result = writer.write_batch(conn, doubled, [])
    assert (result.inserted, result.duplicates) == (6, 1)
    assert _count(conn) == 6
