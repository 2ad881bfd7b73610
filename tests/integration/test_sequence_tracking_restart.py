"""MQTT sequence tracking across an ingest crash: the restart never seeds past a gap it had noticed.

Real PostgreSQL; the crash is injected at a fixed point (between the device-state thread's save and
the gap monitor's, or in the middle of the monitor's own save), never raced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from envmon.db import Backoff
from ingest.device_state import DeviceSummary, write_device_state
from ingest.gaps import SeqGap
from ingest.resend import GapMonitor, OpenGapStore
from tests.ingest_helpers import DEVICES
from tests.patience import patience

DEVICE = DEVICES[0]
OWNER = "crash-test-ingest"


class Clock:
    """Monotonic seconds, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def conn(ingest_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(ingest_db, autocommit=True) as c:
        yield c


def _monitor(url: str, clock: Clock) -> tuple[GapMonitor, list[SeqGap]]:
    sent: list[SeqGap] = []
    monitor = GapMonitor(sent.append, clock=clock, store=OpenGapStore(url, OWNER))
    assert monitor.restore()
    return monitor, sent


def _device_state_saves(conn: psycopg.Connection, last_seq: int) -> None:
    """What the device-state thread writes on its own second: this device's latest seq."""
    row = conn.execute("SELECT id FROM devices WHERE mn = %s", [DEVICE]).fetchone()
    assert row is not None
    write_device_state(conn, DeviceSummary([int(row[0])], [1_000_000], [1_000_000], [last_seq]))


def _crash(monitor: GapMonitor) -> None:
    """The process dies: nothing more is saved (the store's connection just goes away)."""
    store = monitor._store
    assert store is not None
    store.close()


def test_gap_noticed_before_a_crash_between_the_two_saves_is_asked_for_after_the_restart(
        ingest_db: str, conn: psycopg.Connection) -> None:
    clock = Clock()
    monitor, _ = _monitor(ingest_db, clock)
    monitor.tracker.observe(DEVICE, [1, 2, 3], clock.now)
    monitor.tick()  # saved: seq 3, nothing missing
    monitor.tracker.observe(DEVICE, [5], clock.now)  # seq 4 is missing, noticed in memory
    _device_state_saves(conn, 5)  # its thread saved first ...
    _crash(monitor)  # ... and ingest died before the gap monitor's next save
    clock.now += 1
    restarted, sent = _monitor(ingest_db, clock)
    restarted.tracker.observe(DEVICE, [6], clock.now)
    assert 4 in restarted.tracker.missing(DEVICE)
    clock.now += restarted.tracker.policy.grace_seconds
    restarted.tick()
    assert any(r.device == DEVICE and r.first_seq <= 4 <= r.last_seq for r in sent)


def test_a_save_that_fails_half_way_keeps_neither_the_new_seq_nor_the_gaps(
        ingest_db: str, conn: psycopg.Connection) -> None:
    clock = Clock()
    monitor, _ = _monitor(ingest_db, clock)
    monitor.tracker.observe(DEVICE, [1, 2, 3], clock.now)
    monitor.tick()
    # The failure at the point between the two writes: the open gaps' insert is refused.
    conn.execute("""
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON open_sequence_gaps FOR EACH ROW EXECUTE FUNCTION refuse();
    """)
    monitor.tracker.observe(DEVICE, [5], clock.now)
    monitor.tick()
    assert conn.execute("SELECT high_seq FROM sequence_tracking WHERE ingest = %s", [OWNER]).fetchall() == [(3,)]
    _crash(monitor)
    conn.execute("DROP TRIGGER refuse ON open_sequence_gaps")
    restarted, _ = _monitor(ingest_db, clock)
    restarted.tracker.observe(DEVICE, [6], clock.now)
    assert 4 in restarted.tracker.missing(DEVICE)


def test_a_failed_save_is_written_whole_on_the_next_tick(ingest_db: str, conn: psycopg.Connection) -> None:
    clock = Clock()
    monitor, _ = _monitor(ingest_db, clock)
    monitor.tracker.observe(DEVICE, [1, 2, 3, 5], clock.now)
    conn.execute("ALTER TABLE open_sequence_gaps RENAME TO open_sequence_gaps_away")
    monitor.tick()
    conn.execute("ALTER TABLE open_sequence_gaps_away RENAME TO open_sequence_gaps")
    assert conn.execute("SELECT count(*) FROM sequence_tracking").fetchone() == (0,)
    monitor.tick()
    assert conn.execute("SELECT high_seq FROM sequence_tracking WHERE ingest = %s", [OWNER]).fetchall() == [(5,)]
    assert conn.execute("SELECT first_seq, last_seq FROM open_sequence_gaps WHERE ingest = %s",
                        [OWNER]).fetchall() == [(4, 4)]


def test_a_device_the_tracker_never_saved_starts_at_its_stored_last_seq(
        ingest_db: str, conn: psycopg.Connection) -> None:
    """First start after the upgrade: device_state seeds it, so a gap spanning the restart is noticed."""
    _device_state_saves(conn, 7)
    clock = Clock()
    monitor, _ = _monitor(ingest_db, clock)
    monitor.tracker.observe(DEVICE, [10], clock.now)
    assert monitor.tracker.missing(DEVICE) == [8, 9]
    assert conn.execute("SELECT high_seq FROM sequence_tracking WHERE ingest = %s", [OWNER]).fetchall() == [(7,)]


def test_a_database_away_at_start_is_waited_for_and_the_stored_gaps_survive_the_wait(
        ingest_db: str, conn: psycopg.Connection) -> None:
    """Starting from scratch when the stored tracking cannot be read forgot every saved gap, and the
    monitor's first save then erased them; messages lost meanwhile started a device's tracking past them."""
    clock = Clock()
    monitor, _ = _monitor(ingest_db, clock)
    monitor.tracker.observe(DEVICE, [1, 2, 3, 5], clock.now)
    monitor.tick()  # saved: high 5, seq 4 missing
    _crash(monitor)
    conn.execute("ALTER TABLE sequence_tracking RENAME TO sequence_tracking_away")  # the database cannot answer
    restarted = GapMonitor(lambda r: None, clock=clock, store=OpenGapStore(ingest_db, OWNER))
    stop = threading.Event()
    ticking = threading.Thread(target=restarted.run, args=(stop, 0.01), daemon=True)
    ticking.start()
    result: list[bool] = []
    restoring = threading.Thread(target=lambda: result.append(restarted.restore(stop, Backoff(0.05, 0.05))),
                                 daemon=True)
    restoring.start()
    try:
        deadline = time.monotonic() + patience(10)
        while restarted.restore_failures < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert restarted.restore_failures >= 3 and not result, "restore gave up instead of waiting"
        conn.execute("ALTER TABLE sequence_tracking_away RENAME TO sequence_tracking")
        restoring.join(patience(10))
        assert result == [True]
        restarted.tracker.observe(DEVICE, [6], clock.now)
        assert restarted.tracker.missing(DEVICE) == [4]
        assert conn.execute("SELECT first_seq, last_seq FROM open_sequence_gaps WHERE ingest = %s",
                            [OWNER]).fetchall() == [(4, 4)]
    finally:
        stop.set()
        ticking.join(patience(5))
        restoring.join(patience(5))


def test_a_stop_during_the_wait_ends_it_without_saving_over_the_stored_tracking(
        ingest_db: str, conn: psycopg.Connection) -> None:
    clock = Clock()
    monitor, _ = _monitor(ingest_db, clock)
    monitor.tracker.observe(DEVICE, [1, 2, 3, 5], clock.now)
    monitor.tick()
    _crash(monitor)
    conn.execute("ALTER TABLE sequence_tracking RENAME TO sequence_tracking_away")
    restarted = GapMonitor(lambda r: None, clock=clock, store=OpenGapStore(ingest_db, OWNER))
    stop = threading.Event()
    stop.set()
    assert restarted.restore(stop, Backoff(0.05, 0.05)) is False
    restarted.run(stop, 0.01)  # returns at once, saving nothing
    conn.execute("ALTER TABLE sequence_tracking_away RENAME TO sequence_tracking")
    assert conn.execute("SELECT first_seq, last_seq FROM open_sequence_gaps WHERE ingest = %s",
                        [OWNER]).fetchall() == [(4, 4)]
