"""readings_1m / readings_1h / readings_1d equal the roll-up of what `readings` holds (migration 0004's
definition) after each refresh, whatever wrote the readings: COPY, redelivery, ON CONFLICT DO UPDATE, UPDATE,
DELETE; and before any refresh, always.

On plain PostgreSQL the views read roll-up tables that `readings_rollup_refresh()` keeps (migration 0032,
ingest/rollups.py calls it); on TimescaleDB they are real-time continuous aggregates, refreshed here with
refresh_continuous_aggregate. The oracle is 0004's GROUP BY over `readings`, computed at query time.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.rollups import RollupRefresher, _job_stats
from ingest.rows import COLUMNS, COPY_TYPES
from tests.ingest_helpers import wait_for_count
from tests.patience import patience

# Bucket origins of 0004: UTC minutes and hours, China Standard Time days.
WIDTHS = {"readings_1m": ("1 minute", "+00"), "readings_1h": ("1 hour", "+00"), "readings_1d": ("1 day", "+08")}
T0 = datetime(2026, 11, 20, 15, 58, tzinfo=UTC)  # 23:58 in China: the CST day turns two minutes later

_ORACLE = """
SELECT device_id, pollutant, basis, date_bin(INTERVAL '{width}', time, TIMESTAMPTZ '2000-01-01 00:00:00{zone}') AS b,
       avg(CASE WHEN flag = 'N' THEN value END), min(CASE WHEN flag = 'N' THEN value END),
       max(CASE WHEN flag = 'N' THEN value END), count(*), sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END),
       CASE
           WHEN sum(CASE WHEN flag = 'N' THEN 0 ELSE 1 END) = 0 THEN 'N'
           WHEN left(pollutant, 1) = 'w' THEN min(CASE WHEN flag <> 'N' THEN flag END)
           WHEN sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END) >= 0.75 * count(*) THEN 'N'
           ELSE 'D'
       END
FROM readings GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
_VIEW = ("SELECT device_id, pollutant, basis, bucket, value_avg, value_min, value_max, sample_count, valid_count, flag"
         " FROM {view} ORDER BY 1, 2, 3, 4")


def _same(got: list[tuple[object, ...]], want: list[tuple[object, ...]]) -> bool:
    """Row by row equal; means to 1e-9 relative (a sum in another order differs in the last digits)."""
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if g[:4] != w[:4] or g[5:] != w[5:]:
            return False
        if (g[4] is None) != (w[4] is None) or (g[4] is not None and g[4] != pytest.approx(w[4], rel=1e-9)):
            return False
    return True


def _refresh(conn: psycopg.Connection) -> None:
    """What the background would do by now: on plain PostgreSQL every refresh step until caught up."""
    plain = conn.execute("SELECT to_regproc('readings_rollup_refresh')").fetchone() != (None,)
    conn.commit()
    if not plain:
        conn.autocommit = True
        # Up to the end of each policy's window (migration 0004): complete buckets only.
        for view, end_offset in (("readings_1m", "1 minute"), ("readings_1h", "1 hour"), ("readings_1d", "1 day")):
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, now() - INTERVAL '{end_offset}')")
        conn.autocommit = False
        return
    for _ in range(1000):
        left = conn.execute("SELECT readings_rollup_refresh()").fetchone()
        conn.commit()
        if left is not None and left[0] == timedelta(0):
            return
    raise AssertionError("the roll-ups never caught up")


def _check(conn: psycopg.Connection) -> None:
    for view, (width, zone) in WIDTHS.items():
        got = conn.execute(_VIEW.format(view=view)).fetchall()
        want = conn.execute(_ORACLE.format(width=width, zone=zone)).fetchall()
        assert _same(got, want), f"{view}: {got[:5]} ... != {want[:5]} ..."


def _rows(device_id: int, start: datetime, count: int, step_s: int, flags: str, value0: float,
          pollutant: str = "w20117") -> list[tuple[object, ...]]:
    return [(start + timedelta(seconds=i * step_s), device_id, pollutant, "instant", value0 + 0.01 * (i % 7),
             flags[i % len(flags)], i + 1, start) for i in range(count)]


def _copy(conn: psycopg.Connection, rows: list[tuple[object, ...]]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY readings ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(COPY_TYPES)
        for row in rows:
            cp.write_row(row)
    conn.commit()


def test_every_way_of_writing_keeps_the_roll_ups_equal_to_the_readings(db: psycopg.Connection) -> None:
    water, gas = 1, 2  # no foreign keys on readings: any device ids do
    # COPY across minute, hour and China-day boundaries; water with abnormal letters, gas with D below 75 %.
    _copy(db, _rows(water, T0, 40, 10, "NNNNMNNC", 0.05) + _rows(gas, T0, 40, 15, "NNDN", 20.0, "a21026"))
    _check(db)  # before any refresh: computed from the readings
    _refresh(db)
    _check(db)  # materialized
    if db.execute("SELECT to_regclass('readings_1h_rollup')").fetchone() != (None,):
        # Plain PostgreSQL: the views now read the tables, not the readings.
        assert db.execute("SELECT count(*) FROM readings_1d_rollup").fetchone() == (4,)  # 2 devices x 2 China days
    # Redelivery: the writer's merge path skips what is stored.
    db.execute(
        f"INSERT INTO readings ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM readings "
        "WHERE device_id = %s ON CONFLICT DO NOTHING", (water,))
    _refresh(db)
    _check(db)
    # Late rows into materialized buckets, and INSERT ... ON CONFLICT DO UPDATE (new rows and changed ones).
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, device_id, pollutant, value, flag, seq) VALUES (%s, %s, %s, %s, %s, 0)"
            " ON CONFLICT (device_id, pollutant, basis, time) DO UPDATE SET flag = EXCLUDED.flag,"
            " value = EXCLUDED.value",
            [(T0 + timedelta(seconds=5), water, "w20117", 9.0, "N"),        # new, the maximum of its minute
             (T0, water, "w20117", 0.001, "N"),                               # changed: now the minimum
             (T0 + timedelta(seconds=10), water, "w20117", 0.05, "D"),       # changed: N -> abnormal
             (T0 - timedelta(days=3), gas, "a21026", 1.0, "N")],             # long before everything else
        )
    _refresh(db)
    _check(db)
    # UPDATE: an operator's correction of flags and values (the minimum goes up, a bucket turns abnormal).
    db.execute("UPDATE readings SET value = value + 1 WHERE device_id = %s AND time < %s",
               (water, T0 + timedelta(minutes=1)))
    db.execute("UPDATE readings SET flag = 'D' WHERE device_id = %s AND time < %s", (gas, T0 + timedelta(minutes=3)))
    _refresh(db)
    _check(db)
    # DELETE: part of a bucket, then a whole minute (its roll-up rows go with it).
    db.execute("DELETE FROM readings WHERE device_id = %s AND flag <> 'N'", (water,))
    db.execute("DELETE FROM readings WHERE device_id = %s AND time >= %s AND time < %s",
               (gas, T0 + timedelta(minutes=4), T0 + timedelta(minutes=5)))
    _refresh(db)
    _check(db)


def test_readings_above_the_materialized_mark_are_computed_live(db: psycopg.Connection) -> None:
    """Recent readings (newer than the refresh's lag) show at once, before any refresh materializes them."""
    now = datetime.now(UTC).replace(microsecond=0)
    _copy(db, _rows(1, now - timedelta(hours=3), 30, 60, "NNM", 0.05))
    _refresh(db)
    _copy(db, _rows(1, now - timedelta(minutes=2), 10, 6, "N", 0.07) + _rows(2, now, 3, 1, "N", 5.0, "a21026"))
    _check(db)


def test_refreshes_racing_two_writers_lose_nothing(database_url: str, db: psycopg.Connection) -> None:
    """Two committers (ingest workers) write the same minutes while refreshes run beside them."""
    errors: list[BaseException] = []
    writing = threading.Event()

    def write(offset_s: int) -> None:
        try:
            with psycopg.connect(database_url) as conn:
                for n in range(30):
                    start = T0 + timedelta(seconds=offset_s + 60 * n)
                    _copy(conn, _rows(1, start, 6, 2, "NNM", 0.1) + _rows(2, start, 6, 2, "NND", 5.0, "a21026"))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    def refresh() -> None:
        try:
            with psycopg.connect(database_url) as conn:
                while writing.is_set():
                    _refresh(conn)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    writing.set()
    threads = [threading.Thread(target=write, args=(offset,)) for offset in (0, 1)]
    refresher = threading.Thread(target=refresh)
    for t in [*threads, refresher]:
        t.start()
    for t in threads:
        t.join(120)
    writing.clear()
    refresher.join(120)
    assert not errors, errors
    assert db.execute("SELECT count(*) FROM readings").fetchone() == (720,)
    _refresh(db)
    _check(db)


def test_ingest_refreshes_the_roll_ups_in_the_background(database_url: str, db: psycopg.Connection) -> None:
    """ingest's refresher materializes history on plain PostgreSQL; on TimescaleDB it stays alive and reads the
    policy jobs' statistics (the refresh, compression and retention jobs of `readings` and its aggregates)."""
    _copy(db, _rows(1, T0, 40, 10, "NNNNMNNC", 0.05))
    refresher = RollupRefresher(database_url)
    stop = threading.Event()
    thread = threading.Thread(target=refresher.run, args=(stop,))
    thread.start()
    try:
        if db.execute("SELECT to_regproc('readings_rollup_refresh')").fetchone() != (None,):
            db.commit()
            assert wait_for_count(database_url, "SELECT count(*) FROM readings_1d_rollup", 2, timeout=30) == 2
            _check(db)
        else:
            db.commit()
            jobs = _job_stats(db)
            assert {(j.proc_name.removeprefix("policy_"), j.relation) for j in jobs} >= {
                ("refresh_continuous_aggregate", "readings_1m"), ("refresh_continuous_aggregate", "readings_1d"),
                ("retention", "readings"),
            }
            assert all(j.last_successful_finish is None or j.last_successful_finish.tzinfo for j in jobs)
        assert thread.is_alive()  # a refresher that ended would count as a dead ingest thread
    finally:
        stop.set()
        thread.join(patience(30))
    assert not thread.is_alive() and refresher.failures == 0
