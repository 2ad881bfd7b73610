"""Device state written once a second from committed batches: per-device maxima, never moved back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from envmon.columns import ReadingColumns, Row, concat_columns, datetime_us
from ingest.batches import StoredBatch
from ingest.device_state import DeviceStateWriter, DeviceSummary, device_summary
from ingest.directory import DeviceDirectory

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def _batch(device: int, seqs: range) -> ReadingColumns:
    return ReadingColumns.from_rows(
        Row(T0 + timedelta(seconds=s), device, code, "instant", 1.0, "N", s, T0 + timedelta(seconds=s, milliseconds=5))
        for s in seqs
        for code in ("w20117", "w01001")
    )


@pytest.fixture
def device_ids(ingest_db: str) -> Iterator[list[int]]:
    with psycopg.connect(ingest_db) as conn:
        yield [r[0] for r in conn.execute("SELECT id FROM devices ORDER BY id")]


def _states(url: str) -> list[tuple]:  # type: ignore[type-arg]
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT device_id, last_seq, last_reading_at, last_seen_at, online FROM device_state ORDER BY device_id"
        ).fetchall()


def test_the_latest_of_every_field_is_kept_and_an_older_batch_moves_nothing_back(
    ingest_db: str, device_ids: list[int]
) -> None:
    a, b = device_ids[:2]
    state = DeviceStateWriter(ingest_db)
    state.on_batch(StoredBatch(concat_columns([_batch(a, range(0, 10)), _batch(b, range(3, 6))]), T0,
                               DeviceDirectory([])))
    assert state.flush()
    state.on_batch(StoredBatch(_batch(a, range(0, 3)), T0, DeviceDirectory([])))  # a resend of old readings
    assert state.flush()
    assert [s[1:] for s in _states(ingest_db)] == [
        (9, T0 + timedelta(seconds=9), T0 + timedelta(seconds=9, milliseconds=5), True),
        (5, T0 + timedelta(seconds=5), T0 + timedelta(seconds=5, milliseconds=5), True),
    ]


def test_run_writes_what_is_pending_when_it_stops(ingest_db: str, device_ids: list[int]) -> None:
    state = DeviceStateWriter(ingest_db, interval_seconds=60)
    stop = threading.Event()
    thread = threading.Thread(target=state.run, args=(stop,))
    thread.start()
    state.on_batch(StoredBatch(_batch(device_ids[0], range(0, 4)), T0, DeviceDirectory([])))
    stop.set()
    thread.join(10)
    assert [s[1] for s in _states(ingest_db)] == [3]


def test_state_waits_while_the_database_is_away() -> None:
    state = DeviceStateWriter("postgresql://nobody@127.0.0.1:1/none")
    state.on_batch(StoredBatch(_batch(7, range(0, 2)), T0, DeviceDirectory([])))
    assert not state.flush()
    state.on_batch(StoredBatch(_batch(7, range(5, 6)), T0, DeviceDirectory([])))
    assert state._pending == {7: (datetime_us(T0 + timedelta(seconds=5, milliseconds=5)),
                                  datetime_us(T0 + timedelta(seconds=5)), 5)}


def test_device_summary_is_per_device_maximum() -> None:
    rows = [
        Row(T0, 7, "w01001", "instant", 1.0, "N", 4, T0 + timedelta(seconds=9)),
        Row(T0, 7, "w20117", "instant", 1.0, "N", 4, T0 + timedelta(seconds=9)),
        Row(T0 + timedelta(seconds=5), 7, "w01001", "instant", 1.0, "N", 2, T0),
        Row(T0, 3, "w01001", "instant", 1.0, "N", 1, T0),
    ]
    us = datetime_us
    assert device_summary(ReadingColumns.from_rows(rows)) == DeviceSummary(
        [3, 7], [us(T0), us(T0 + timedelta(seconds=9))], [us(T0), us(T0 + timedelta(seconds=5))], [1, 4]
    )


def test_device_summary_of_no_readings_is_empty() -> None:
    assert device_summary(ReadingColumns.empty()) == DeviceSummary([], [], [], [])


def test_a_status_received_after_the_readings_wins_and_newer_readings_bring_the_device_back(
    ingest_db: str, device_ids: list[int]
) -> None:
    from ingest.presence import set_device_status

    device = device_ids[0]
    with psycopg.connect(ingest_db) as conn:
        mn = conn.execute("SELECT mn FROM devices WHERE id = %s", (device,)).fetchone()[0]  # type: ignore[index]
    state = DeviceStateWriter(ingest_db)
    state.on_batch(StoredBatch(_batch(device, range(0, 3)), T0, DeviceDirectory([])))
    with psycopg.connect(ingest_db) as conn:  # the device says goodbye before its readings' state is written
        assert set_device_status(conn, mn, False, T0 + timedelta(seconds=2, milliseconds=50))
    assert state.flush()
    assert [(s[1], s[4]) for s in _states(ingest_db)] == [(2, False)]
    state.on_batch(StoredBatch(_batch(device, range(3, 4)), T0, DeviceDirectory([])))  # it is back
    assert state.flush()
    assert [(s[1], s[4]) for s in _states(ingest_db)] == [(3, True)]
