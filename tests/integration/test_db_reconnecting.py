"""envmon.db.Reconnecting against a real PostgreSQL: lazy open, reopen after the server dropped it, retry state."""

from __future__ import annotations

import psycopg
import pytest

from envmon.db import Reconnecting, connect_url


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _terminate(admin_url: str, application: str) -> int:
    with connect_url(admin_url, autocommit=True) as admin:
        rows = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                             [application]).fetchall()
    return len(rows)


def _select_one(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT 1").fetchone()
    assert row is not None
    return int(row[0])


def test_opens_on_first_use_only(database_url: str) -> None:
    opened: list[psycopg.Connection] = []
    db = Reconnecting(database_url, application="envmon-test-lazy", autocommit=True, on_connect=opened.append)
    assert not db.is_open and opened == []
    assert db.attempt(_select_one) == 1
    assert db.attempt(_select_one) == 1
    assert len(opened) == 1 and db.is_open
    db.close()


def test_reopens_after_the_server_dropped_the_connection(database_url: str, admin_url: str) -> None:
    clock = _Clock()
    opened: list[psycopg.Connection] = []
    db = Reconnecting(database_url, application="envmon-test-reopen", autocommit=True, clock=clock,
                      on_connect=opened.append)
    db.attempt(_select_one)
    assert _terminate(admin_url, "envmon-test-reopen") == 1
    with pytest.raises(psycopg.OperationalError):
        db.attempt(_select_one)
    assert db.retrying_since == 1000.0 and db.failures == 1 and not db.is_open
    clock.now += 31.0
    assert db.retrying_longer_than(30.0)
    assert db.attempt(_select_one) == 1
    assert db.retrying_since is None and db.failures == 0
    assert len(opened) == 2
    db.close()


def test_unreachable_database_keeps_the_first_failure_time(admin_url: str) -> None:
    clock = _Clock()
    url = admin_url.rsplit("/", 1)[0] + "/envmon_no_such_database"
    db = Reconnecting(url, application="envmon-test-away", clock=clock)
    delays = []
    for _ in range(3):
        with pytest.raises(psycopg.OperationalError):
            db.attempt(_select_one)
        clock.now += 1.0
        delays.append(db.delay_seconds)
    assert db.retrying_since == 1000.0
    assert delays == [0.1, 0.2, 0.4]
    assert db.retrying_longer_than(2.5) and not db.retrying_longer_than(3.5)
