"""The reports' time-bounded hourly/daily means and validity counts give exactly the rows of readings_1h/readings_1d
(migration 0004), whether read from the aggregates or rolled up from the readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.reports import intervals
from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.intervals import interval_means
from envmon import validity_store
from envmon.review import EXCLUDED_FROM_EXPECTED

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
H0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def readings(db: psycopg.Connection) -> psycopg.Connection:
    ensure_registry(db)
    db.commit()
    build_incident(db, Scenario(), now=NOW)
    gas = db.execute("SELECT id FROM devices WHERE kind = 'cems' ORDER BY mn LIMIT 1").fetchone()
    assert gas is not None
    # Stack gas: 3 of 5 normal (60 %) rolls up to D; 4 of 5 (80 %) stays N. Water: first abnormal flag wins.
    rows = [(H0 + timedelta(minutes=10 * i), gas[0], "a21026", 30.0 + i, "N" if i < 3 else "D") for i in range(5)]
    rows += [(H0 + timedelta(hours=1, minutes=10 * i), gas[0], "a21026", 20.0 + i, "C" if i == 4 else "N")
             for i in range(5)]
    rows += [(H0 + timedelta(hours=2, minutes=10 * i), 1, "w20117", 0.05, flag) for i, flag in enumerate("NMCN")]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, device_id, pollutant, value, flag, seq) VALUES (%s, %s, %s, %s, %s, 0)"
            " ON CONFLICT (device_id, pollutant, basis, time) DO UPDATE SET flag = EXCLUDED.flag,"
            " value = EXCLUDED.value",
            rows,
        )
    db.commit()
    return db


def _view(conn: psycopg.Connection, relation: str, device: int, pollutant: str, start: datetime, end: datetime) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT bucket, value_avg, value_min, value_max, sample_count, valid_count, flag FROM {relation}"
        " WHERE device_id = %s AND pollutant = %s AND basis = 'instant' AND bucket >= %s AND bucket < %s ORDER BY bucket",
        (device, pollutant, start, end),
    ).fetchall()


def _ours(conn: psycopg.Connection, width: str, device: int, pollutant: str, start: datetime, end: datetime) -> list[tuple[object, ...]]:
    return [
        (m.bucket, m.mean, m.minimum, m.maximum, m.sample_count, m.valid_count, m.flag)
        for m in interval_means(conn, device, pollutant, width, start, end)  # type: ignore[arg-type]
    ]


def _approx_rows(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return [tuple(pytest.approx(v) if isinstance(v, float) else v for v in r) for r in rows]


@pytest.mark.parametrize(
    ("relation", "width", "start", "end"),
    [
        pytest.param("readings_1h", "hour", NOW - timedelta(hours=30), NOW, id="hours-of-the-incident"),
        pytest.param("readings_1d", "day", datetime(2026, 11, 14, 16, tzinfo=UTC), datetime(2026, 11, 21, 16, tzinfo=UTC), id="local-days"),
    ],
)
@pytest.mark.parametrize("pollutant", ["w20117", "w00000"])
def test_water_means_match_the_view(readings: psycopg.Connection, relation: str, width: str, start: datetime, end: datetime, pollutant: str) -> None:
    view = _view(readings, relation, 1, pollutant, start, end)
    assert view and _ours(readings, width, 1, pollutant, start, end) == _approx_rows(view)


def test_gas_and_mixed_flags_roll_up_like_the_view(readings: psycopg.Connection) -> None:
    gas = readings.execute("SELECT id FROM devices WHERE kind = 'cems' ORDER BY mn LIMIT 1").fetchone()
    assert gas is not None
    end = H0 + timedelta(hours=3)
    gas_rows = _ours(readings, "hour", gas[0], "a21026", H0, end)
    assert [r[6] for r in gas_rows] == ["D", "N"]
    assert gas_rows == _approx_rows(_view(readings, "readings_1h", gas[0], "a21026", H0, end))
    water = _ours(readings, "hour", 1, "w20117", H0 + timedelta(hours=2), end)
    assert water[0][6] == "C"
    assert water == _approx_rows(_view(readings, "readings_1h", 1, "w20117", H0 + timedelta(hours=2), end))


def _refreshed(conn: psycopg.Connection) -> None:
    """Plain PostgreSQL: materialize the roll-up tables (what ingest's refresher does), so the aggregate road
    reads tables, not readings; TimescaleDB reads its real-time aggregates either way."""
    conn.commit()
    if conn.execute("SELECT to_regproc('readings_rollup_refresh')").fetchone() != (None,):
        while conn.execute("SELECT readings_rollup_refresh()").fetchone() != (timedelta(0),):
            conn.commit()
    conn.commit()


# (start, end): whole buckets; cut at both ends; inside one bucket. One database serves the table (its setup is
# the costly part of these tests).
CASES = [
    (H0 - timedelta(days=2), NOW),
    (H0 + timedelta(minutes=25), H0 + timedelta(hours=2, minutes=35)),
    (H0 + timedelta(minutes=5), H0 + timedelta(minutes=50)),
]


def test_the_aggregate_road_gives_the_reviewed_roll_up(readings: psycopg.Connection) -> None:
    """An unmarked series reads the aggregates and the reviewed roll-up gives the same rows, cut by `end`."""
    _refreshed(readings)
    gas = readings.execute("SELECT id FROM devices WHERE kind = 'cems' ORDER BY mn LIMIT 1").fetchone()
    assert gas is not None
    for width in ("hour", "day"):
        for start, end in CASES:
            for device, pollutant in ((1, "w20117"), (gas[0], "a21026")):
                params = {"width": intervals.WIDTHS[width], "origin": intervals.ORIGINS[width], "device": device,
                          "pollutant": pollutant, "start": start, "end": end}
                reviewed: list[tuple[object, ...]] = [(r[2], r[3], r[4], r[5], r[6], r[7], r[8])
                            for r in readings.execute(intervals._REVIEWED_SQL, params).fetchall()]
                assert reviewed, "the case must have readings"
                got = _ours(readings, width, device, pollutant, start, end)
                assert got == _approx_rows(reviewed), (width, start, end, device)


def test_a_marked_series_takes_the_reviewed_road(readings: psycopg.Connection) -> None:
    """An active mark changes flags the aggregates cannot know: its series is rolled up from readings_reviewed."""
    readings.execute(
        "INSERT INTO data_marks (device_id, pollutant, start_at, end_at, reason, evidence, state, proposed_by,"
        " proposed_at, decided_by, decided_at) VALUES (1, 'w20117', %s, %s, 'device_fault', 'probe fouled', 'active',"
        " 'op', %s, 'lead', %s)",
        (H0 + timedelta(hours=2), H0 + timedelta(hours=3), NOW, NOW))
    _refreshed(readings)
    rows = interval_means(readings, 1, "w20117", "hour", H0 + timedelta(hours=2), H0 + timedelta(hours=3))
    assert len(rows) == 1 and rows[0].marked_count == rows[0].sample_count > 0
    assert (rows[0].valid_count, rows[0].mean) == (0, None)


def test_validity_counts_from_the_aggregate_equal_the_readings(readings: psycopg.Connection) -> None:
    """Received and valid counts of unmarked devices come from readings_1h plus the cut hours' readings."""
    _refreshed(readings)
    ids = [int(r[0]) for r in readings.execute("SELECT id FROM devices").fetchall()]
    for start, end in CASES:
        raw = readings.execute(validity_store._COUNTS, {"ids": ids, "start": start, "end": end,
                                                        "excluded": list(EXCLUDED_FROM_EXPECTED)}).fetchall()
        want = {(int(r[0]), str(r[1])): (int(r[2]), int(r[3])) for r in raw}
        assert want, "the case must have readings"
        assert validity_store._received_and_valid(readings, ids, start, end) == want, (start, end)
