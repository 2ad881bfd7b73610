"""The plant page's latest values are readings_reviewed's newest instantaneous reading of each series (real
PostgreSQL): for series reporting now, quiet for days, under a review mark, and never reported; and the lookup of
a series reporting now is bounded in time (TimescaleDB plans only the recent chunks; no walk through history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg
import pytest

from alerts.reports.demo import ensure_registry
from dashboard import plant
from dashboard.access import User
from dashboard.plant import load_plant

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
SITE = "FX-EP-001"
ADMIN = User(1, "admin", "Admin", "admin", (), ())
NEWEST_SQL = """
SELECT DISTINCT ON (device_id, pollutant) device_id, pollutant, time, value, flag, logger_flag, mark_reason, mark_id
FROM readings_reviewed WHERE basis = 'instant' ORDER BY device_id, pollutant, time DESC
"""

class Case(NamedTuple):
    """One series of the table: its device's index in the plant and pollutant's in the device, when its readings
    end (before NOW), how many it has (every 5 minutes up to then), and a review mark (reason, from and to in
    seconds after its newest reading)."""

    name: str
    device: int
    pollutant: int
    ends_before: timedelta | None
    readings: int
    mark: tuple[str, int, int] | None


# A table of series, one database (a clone per case cost 3 s each).
CASES = [
    Case("reporting-now", 0, 0, timedelta(seconds=30), 24, None),
    Case("reporting-now-marked-newest", 0, 1, timedelta(seconds=30), 24, ("maintenance", -600, 600)),
    Case("quiet-hours-within-the-window", 0, 2, timedelta(hours=20), 12, None),
    Case("quiet-three-days-device-still-reporting", 0, 3, timedelta(days=3, hours=5), 12, None),
    Case("quiet-forty-days-marked-newest", 0, 4, timedelta(days=40), 300, ("calibration", -3600, 1)),
    Case("quiet-mark-before-newest", 0, 5, timedelta(days=2, minutes=1), 6, ("device_fault", -10_000, -600)),
    Case("device-quiet-ten-days", 1, 0, timedelta(days=10), 20, None),
    Case("device-quiet-ten-days-second-series", 1, 1, timedelta(days=10), 20, None),
    Case("never-reported-device-reporting", 0, 6, None, 0, None),
]


def _series(conn: psycopg.Connection) -> list[tuple[int, list[str]]]:
    rows = conn.execute(
        "SELECT d.id, d.pollutants FROM devices d JOIN sites s ON s.id = d.site_id WHERE s.code = %s AND d.active "
        "ORDER BY d.mn", (SITE,)).fetchall()
    assert len(rows) >= 2 and len(rows[0][1]) >= 7 and len(rows[1][1]) >= 2
    return [(int(r[0]), list(r[1])) for r in rows]


def _write(conn: psycopg.Connection, device_id: int, pollutant: str, ends_before: timedelta, count: int,
           mark: tuple[str, int, int] | None) -> None:
    newest = NOW - ends_before
    with conn.cursor().copy("COPY readings (time, device_id, pollutant, basis, value, flag, seq) FROM STDIN") as copy:
        for i in range(count):
            copy.write_row((newest - timedelta(minutes=5 * i), device_id, pollutant, "instant", 1.0 + i, "N", i))
        # Hourly values newer than every instantaneous one: the page shows instantaneous values only.
        copy.write_row((NOW, device_id, pollutant, "hour", 99.0, "N", 0))
    if mark is not None:
        reason, start_s, end_s = mark
        conn.execute(
            "INSERT INTO data_marks (device_id, pollutant, start_at, end_at, reason, evidence, state, proposed_by,"
            " proposed_at, decided_by, decided_at) VALUES (%s, %s, %s, %s, %s, 'test', 'active', 'a', %s, 'b', %s)",
            (device_id, pollutant, newest + timedelta(seconds=start_s), newest + timedelta(seconds=end_s), reason,
             NOW, NOW))


@pytest.fixture
def quiet_and_busy(db: psycopg.Connection) -> psycopg.Connection:
    ensure_registry(db)
    devices = _series(db)
    for case in CASES:
        if case.ends_before is not None:
            _write(db, devices[case.device][0], devices[case.device][1][case.pollutant], case.ends_before,
                   case.readings, case.mark)
    db.commit()
    return db


def test_plant_page_shows_readings_reviewed_newest(quiet_and_busy: psycopg.Connection) -> None:
    conn = quiet_and_busy
    devices = _series(conn)
    expected: dict[tuple[int, str], tuple[Any, ...]] = {
        (r[0], r[1]): tuple(r[2:]) for r in conn.execute(NEWEST_SQL).fetchall()}
    page = load_plant(conn, ADMIN, SITE, now=NOW)
    assert page is not None
    shown = {(r["device_id"], r["pollutant"]): tuple(r[k] for k in ("time", "value", "flag", "logger_flag",
                                                                     "mark_reason", "mark_id"))
             for r in page["readings"]}
    for case in CASES:  # one database for the table: each case is a series of the same plant
        key = (devices[case.device][0], devices[case.device][1][case.pollutant])
        assert shown[key] == expected.get(key, (None,) * 6), case.name
        if case.ends_before is not None:  # the series the case wrote, with the flag its mark gives its newest value
            flag = "N" if case.mark is None or case.mark[2] <= 0 else case.mark[0][0].upper()
            assert (shown[key][0], shown[key][2]) == (NOW - case.ends_before, flag), case.name
        else:
            assert shown[key] == (None,) * 6, case.name
    _assert_recent_lookup_is_bounded_in_time(conn)


def _assert_recent_lookup_is_bounded_in_time(conn: psycopg.Connection) -> None:
    """The recent lookup reads readings at or after the window's start only (on the same database as the table
    above: a clone of its own would cost another 3 s): on plain PostgreSQL every scan of readings for a series'
    newest value carries the bound; on TimescaleDB only the chunks reaching past it are planned (fully covered
    chunks drop the then redundant condition)."""
    site_id = conn.execute("SELECT id FROM sites WHERE code = %s", (SITE,)).fetchone()
    assert site_id is not None
    since = NOW - plant.RECENT
    lines = [r[0] for r in conn.execute(
        "EXPLAIN " + plant._DEVICES, {"site_id": site_id[0], "now": NOW, "since": since}).fetchall()]
    scans = [line for line in lines if "Cond" in line and "device_id = d.id" in line and "dp.code" in line]
    assert scans, "\n".join(lines)
    if conn.execute("SELECT to_regclass('timescaledb_information.chunks')").fetchone() == (None,):
        assert all('"time" >=' in line for line in scans), "\n".join(lines)
        return
    recent, every = conn.execute(
        "SELECT count(*) FILTER (WHERE range_end > %s), count(*) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'readings'", (since,)).fetchone() or (0, 0)
    assert 0 < len(scans) <= recent < every, "\n".join(lines)


def test_the_dashboards_connections_never_prepare_statements(database_url: str) -> None:
    """Planned with each request's values every time (dashboard/app.py: a prepared 30-day chart was slower)."""
    from dashboard.app import open_pool
    from envmon.settings import load_settings

    settings = load_settings(environment="test", database_url=database_url)
    with open_pool(settings, max_size=1) as pool, pool.connection() as conn:
        assert conn.prepare_threshold is None
