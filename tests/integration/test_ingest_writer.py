"""The batch writer against PostgreSQL: direct COPY for new readings, the merge for redelivered ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from envmon.columns import ReadingColumns, concat_columns, datetime_us
from ingest import writer
from ingest.quarantine import QuarantineEntry
from ingest.rows import Row

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


def test_device_state_keeps_the_latest_of_every_field(conn: psycopg.Connection) -> None:
    rows = concat_columns([_rows(conn, range(0, 10)), _rows(conn, range(3, 6), device_index=1)])
    writer.write_batch(conn, rows, [])
    writer.write_batch(conn, _rows(conn, range(0, 3)), [])  # older readings (a resend) do not move it back
    state = conn.execute(
        "SELECT device_id, last_seq, last_reading_at, last_seen_at, online FROM device_state ORDER BY device_id"
    ).fetchall()
    assert [(s[1], s[2], s[3], s[4]) for s in state] == [
        (9, T0 + timedelta(seconds=9), T0 + timedelta(seconds=9, milliseconds=5), True),
        (5, T0 + timedelta(seconds=5), T0 + timedelta(seconds=5, milliseconds=5), True),
    ]


def test_a_batch_of_only_quarantined_messages_is_stored(conn: psycopg.Connection) -> None:
    entry = QuarantineEntry("mqtt", "envmon/v1/x/up", "X", "bad_json", "not JSON", b"{oops")
    result = writer.write_batch(conn, ReadingColumns.empty(), [entry])
    assert result == writer.WriteResult(0, 0, 1)
    assert conn.execute("SELECT reason FROM quarantine").fetchall() == [("bad_json",)]


def test_device_summary_is_per_device_maximum() -> None:
    rows = [
        Row(T0, 7, "w01001", "instant", 1.0, "N", 4, T0 + timedelta(seconds=9)),
        Row(T0, 7, "w20117", "instant", 1.0, "N", 4, T0 + timedelta(seconds=9)),
        Row(T0 + timedelta(seconds=5), 7, "w01001", "instant", 1.0, "N", 2, T0),
        Row(T0, 3, "w01001", "instant", 1.0, "N", 1, T0),
    ]
    us = datetime_us
    assert writer.device_summary(ReadingColumns.from_rows(rows)) == writer.DeviceSummary(
        [3, 7], [us(T0), us(T0 + timedelta(seconds=9))], [us(T0), us(T0 + timedelta(seconds=5))], [1, 4]
    )


def test_device_summary_of_no_readings_is_empty() -> None:
    assert writer.device_summary(ReadingColumns.empty()) == writer.DeviceSummary([], [], [], [])
