"""Device presence: silence timers and status messages (last will)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.presence import PresenceMonitor, mark_silent_devices, parse_status, set_device_status
from tests.ingest_helpers import DEVICES, load_test_registry

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def _seen(conn: psycopg.Connection, mn: str, ago_seconds: float) -> None:
    conn.execute(
        "INSERT INTO device_state (device_id, last_seen_at, online) SELECT id, %s, true FROM devices WHERE mn = %s",
        (NOW - timedelta(seconds=ago_seconds), mn),
    )
    conn.commit()


def test_silent_devices_go_offline_after_three_intervals(db: psycopg.Connection, database_url: str) -> None:
    load_test_registry(database_url)  # reporting interval 30 s: silent after max(90 s, 60 s)
    _seen(db, DEVICES[0], 30)
    _seen(db, DEVICES[1], 89)
    _seen(db, DEVICES[2], 91)
    assert mark_silent_devices(db, NOW) == [DEVICES[2]]
    assert mark_silent_devices(db, NOW) == []  # already offline
    online = dict(db.execute("SELECT d.mn, s.online FROM device_state s JOIN devices d ON d.id = s.device_id"))
    assert online == {DEVICES[0]: True, DEVICES[1]: True, DEVICES[2]: False}


def test_last_will_marks_offline_and_online_again(db: psycopg.Connection, database_url: str) -> None:
    load_test_registry(database_url)
    assert set_device_status(db, DEVICES[3], False, NOW)
    assert db.execute("SELECT online FROM device_state").fetchone() == (False,)
    assert set_device_status(db, DEVICES[3], True, NOW + timedelta(seconds=5))
    assert db.execute("SELECT online, last_seen_at FROM device_state").fetchone() == (True, NOW + timedelta(seconds=5))
    assert not set_device_status(db, "310120UNKNOWN", True, NOW)


@pytest.mark.parametrize(("payload", "expected"), [(b"online", True), (b"OFFLINE\n", False), (b"{}", None), (b"", None)])
def test_parse_status(payload: bytes, expected: bool | None) -> None:
    assert parse_status(payload) is expected


@pytest.mark.parametrize(
    ("payload", "warned"),
    [
        pytest.param(b"", False, id="cleared-retained-status-says-nothing"),
        pytest.param(b"{}", True, id="a-word-we-do-not-know-is-reported"),
    ],
)
def test_status_messages_that_change_nothing(payload: bytes, warned: bool, caplog: pytest.LogCaptureFixture) -> None:
    monitor = PresenceMonitor("postgresql://127.0.0.1:1/unused")  # neither message reaches the database
    with caplog.at_level(logging.DEBUG, logger="ingest.presence"):
        monitor._record(DEVICES[0], payload)
    assert any(r.levelno == logging.WARNING for r in caplog.records) is warned
