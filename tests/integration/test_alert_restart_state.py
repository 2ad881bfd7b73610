"""What the alert engine takes from storage at a restart and on its timer (real PostgreSQL, `now` passed in):
silence counted from ingest's stored last-seen time, and HJ 212 history given up on raised as a gap alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.processor import AlertProcessor
from alerts.rules.policy import Policy
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from envmon.settings import load_settings
from tests.ingest_helpers import DEVICES, REGISTRY

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
LOGGER = "310120HJ009W01"
HJ212_LOGGER = f"""
[[devices]]
mn = "{LOGGER}"
site = "T-001"
point_kind = "outfall"
point_name_zh = "总排口"
point_name_en = "Outfall"
kind = "water_analyser"
transport = "hj212"
hj212_password = "654321"
system_code = "32"
pollutants = ["w20117", "w01001"]
reporting_interval_seconds = 60
"""


@pytest.fixture
def url(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY + HJ212_LOGGER, "test-registry"), actor="test")
    return database_url


def _processor(url: str) -> AlertProcessor:
    processor = AlertProcessor(load_settings(environment="test", database_url=url), Policy())
    processor.connect()
    return processor


def _one(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def _silent_alerts(url: str, device_id: int) -> int:
    return int(_one(url, "SELECT count(*) FROM alerts WHERE device_id = %s AND rule = 'silent'", device_id))


def test_engine_restarted_while_a_device_was_already_silent_alerts_a_window_after_it_was_last_seen(url: str) -> None:
    device_id, interval_s = (_one(url, "SELECT id FROM devices WHERE mn = %s", DEVICES[0]),
                             _one(url, "SELECT reporting_interval_seconds FROM devices WHERE mn = %s", DEVICES[0]))
    silent = Policy().silent
    window = timedelta(seconds=max(silent.intervals * interval_s, silent.min_seconds))
    last_seen = NOW - timedelta(seconds=100)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO device_state (device_id, last_seen_at, last_reading_at, last_seq, online)"
                     " VALUES (%s, %s, %s, 7, true)", [device_id, last_seen, last_seen])
    _ingest_beat(url, NOW)
    first = _processor(url)  # the engine before its crash: ran, saved its snapshot
    try:
        first.tick(NOW)
        assert first.checkpoint(NOW, force=True)
    finally:
        first.close()
    restart_at = NOW + window / 2
    _ingest_beat(url, restart_at)  # ingest kept storing while the engine was away: the silence is real
    restarted = _processor(url)
    try:
        restarted.tick(restart_at)
        restarted.tick(last_seen + window - timedelta(seconds=1))
        assert _silent_alerts(url, device_id) == 0
        restarted.tick(last_seen + window + timedelta(seconds=1))  # on schedule, not a window after restart_at
        assert _silent_alerts(url, device_id) == 1
    finally:
        restarted.close()


def _ingest_beat(url: str, at: datetime) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO service_heartbeats (service, instance, ok, started_at, beat_at)"
                     " VALUES ('ingest', 'test:1', true, %s, %s)"
                     " ON CONFLICT (service, instance) DO UPDATE SET beat_at = EXCLUDED.beat_at", [at, at])


def test_a_cold_start_after_the_whole_platform_was_down_floods_no_inspector(url: str) -> None:
    """Ingest and the engine both down for a day: the day is the platform's blackout, not every device's
    silence, so the first tick opens no silent alert; a device still quiet a window later does."""
    device_id = _one(url, "SELECT id FROM devices WHERE mn = %s", DEVICES[0])
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO device_state (device_id, last_seen_at, last_reading_at, last_seq, online)"
                     " VALUES (%s, %s, %s, 7, true)", [device_id, NOW, NOW])
    _ingest_beat(url, NOW)
    restart_at = NOW + timedelta(days=1)
    restarted = _processor(url)
    try:
        restarted.tick(restart_at)
        assert _one(url, "SELECT count(*) FROM alerts WHERE rule = 'silent'") == 0
        restarted.tick(restart_at + timedelta(days=1))
        assert _silent_alerts(url, device_id) == 1
    finally:
        restarted.close()


def _close_window(url: str, begin: datetime, end: datetime, outcome: str) -> None:
    """A history window as the gateway closes it (ingest/history.py)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO hj212_history_requests (device_id, basis, begin_time, end_time, attempts, opened_at,"
            " requested_at, closed_at, outcome) SELECT id, 'minute', %s, %s, 3, %s, %s, %s, %s"
            " FROM devices WHERE mn = %s", [begin, end, NOW - timedelta(hours=1), NOW, NOW, outcome, LOGGER])


@pytest.mark.parametrize("outcome", [pytest.param("abandoned", id="given-up-after-every-request"),
                                     pytest.param("expired", id="expired-past-what-the-logger-keeps")])
def test_hj212_history_lost_for_good_raises_the_gap_alert_with_its_span(url: str, outcome: str) -> None:
    begin, end = NOW - timedelta(hours=2), NOW - timedelta(hours=2) + timedelta(minutes=30)
    _close_window(url, begin, end, outcome)
    with psycopg.connect(url) as conn:  # a window filled or still open is no loss
        conn.execute("INSERT INTO hj212_history_requests (device_id, basis, begin_time, end_time, opened_at, closed_at,"
                     " outcome) SELECT id, 'hour', %s, %s, %s, %s, 'filled' FROM devices WHERE mn = %s",
                     [begin, end, NOW, NOW, LOGGER])
    processor = _processor(url)
    try:
        processor.tick(NOW)
        detail = _one(url, "SELECT a.detail FROM alerts a JOIN devices d ON d.id = a.device_id"
                           " WHERE d.mn = %s AND a.rule = 'seq_gap' AND a.pollutant = '*'", LOGGER)
        assert _one(url, "SELECT count(*) FROM alerts") == 1
        assert _one(url, "SELECT count(*) FROM hj212_history_requests WHERE handled_at IS NOT NULL") == 1
        assert {"basis": "minute", "begin_time": begin.isoformat(), "end_time": end.isoformat(),
                "outcome": outcome}.items() <= detail.items()
        processor.tick(NOW + timedelta(seconds=1))  # taken once
        assert _one(url, "SELECT count(*) FROM alerts") == 1
    finally:
        processor.close()

