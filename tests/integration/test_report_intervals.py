"""The reports' time-bounded hourly/daily means give exactly the rows of readings_1h/readings_1d (migration 0004)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.intervals import interval_means

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
