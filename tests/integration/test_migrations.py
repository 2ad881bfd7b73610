"""Migrations against a real PostgreSQL: empty database, re-run, changed file, lock, both flavours."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from envmon.errors import MigrationError
from envmon.migrate import discover, migrate
from tests.conftest import MIGRATIONS, server_has_timescaledb

TABLES = {
    "districts",
    "pollutants",
    "sites",
    "devices",
    "limits",
    "recipients",
    "escalation_chains",
    "escalation_steps",
    "maintenance_windows",
    "users",
    "audit_log",
    "readings",
    "quarantine",
    "device_state",
    "alerts",
    "alert_events",
    "notifications",
    "reports",
    "schema_migrations",
}
AGGREGATES = ("readings_1m", "readings_1h", "readings_1d")
AGGREGATE_COLUMNS = [
    "device_id",
    "pollutant",
    "basis",
    "bucket",
    "value_avg",
    "value_min",
    "value_max",
    "sample_count",
    "valid_count",
    "flag",
]


def _relations(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()
    return {r[0] for r in rows}


def test_migrations_on_empty_database_create_every_table(fresh_database_url: str) -> None:
    result = migrate(fresh_database_url, MIGRATIONS)
    assert len(result.applied) == len(discover(MIGRATIONS, result.flavour))
    assert result.already_applied == 0
    assert _relations(fresh_database_url) >= TABLES
    with psycopg.connect(fresh_database_url) as conn:
        recorded = conn.execute("SELECT version, variant, checksum FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in recorded] == [m.version for m in discover(MIGRATIONS, result.flavour)]
    assert all(len(r[2]) == 64 for r in recorded)


def test_rerunning_migrations_is_a_no_op(fresh_database_url: str) -> None:
    first = migrate(fresh_database_url, MIGRATIONS)
    second = migrate(fresh_database_url, MIGRATIONS)
    assert second.applied == []
    assert second.already_applied == len(first.applied)
    assert second.flavour == first.flavour


def test_changed_applied_migration_is_refused(fresh_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    migrate(fresh_database_url, folder)
    target = folder / "0001_registry.sql"
    target.write_text(target.read_text() + "\n-- edited after it was applied\n")
    with pytest.raises(MigrationError, match="0001_registry.sql changed after it was applied"):
        migrate(fresh_database_url, folder)


def test_new_migration_file_is_applied_after_the_others(fresh_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    migrate(fresh_database_url, folder)
    (folder / "0999_extra.sql").write_text("CREATE TABLE extra_thing (id integer PRIMARY KEY);")
    result = migrate(fresh_database_url, folder)
    assert result.applied == ["0999_extra.sql"]
    assert "extra_thing" in _relations(fresh_database_url)


def test_failing_migration_rolls_back_and_is_not_recorded(fresh_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    (folder / "0999_broken.sql").write_text("CREATE TABLE half_done (id integer);\nSELECT no_such_function();")
    with pytest.raises(MigrationError, match="0999_broken.sql failed and was rolled back"):
        migrate(fresh_database_url, folder)
    assert "half_done" not in _relations(fresh_database_url)
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations WHERE version = 999").fetchone() == (0,)


def test_concurrent_runners_apply_each_file_once(fresh_database_url: str) -> None:
    results, errors = [], []

    def run() -> None:
        try:
            results.append(migrate(fresh_database_url, MIGRATIONS))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = sorted(len(r.applied) for r in results)
    assert applied[-1] == len(discover(MIGRATIONS, results[0].flavour))
    assert applied[:-1] == [0, 0]


def test_aggregate_relations_have_the_same_columns_on_either_flavour(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        for name in AGGREGATES:
            cols = [
                r[0]
                for r in conn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                    "AND NOT attisdropped ORDER BY attnum",
                    (name,),
                )
            ]
            assert cols == AGGREGATE_COLUMNS, name


def test_timescaledb_objects_exist_exactly_when_the_extension_is_there(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        if server_has_timescaledb(database_url):
            hypertables = {
                r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
            }
            assert "readings" in hypertables
            caggs = {r[0] for r in conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates")}
            assert set(AGGREGATES) <= caggs
            jobs = {
                (r[0], r[1])
                for r in conn.execute(
                    "SELECT proc_name, coalesce(hypertable_name, '') FROM timescaledb_information.jobs"
                )
            }
            procs = {p for p, _ in jobs}
            assert {"policy_compression", "policy_retention", "policy_refresh_continuous_aggregate"} <= procs
            segmentby = {
                r[0]
                for r in conn.execute(
                    "SELECT attname FROM timescaledb_information.compression_settings "
                    "WHERE hypertable_name = 'readings' AND segmentby_column_index IS NOT NULL"
                )
            }
            assert segmentby == {"device_id", "pollutant"}
        else:
            kinds = dict(
                conn.execute(
                    "SELECT relname, relkind::text FROM pg_class WHERE relname = ANY(%s)", (list(AGGREGATES),)
                ).fetchall()
            )
            assert kinds == {name: "v" for name in AGGREGATES}
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == (0,)


def test_readings_pay_for_one_b_tree_per_row_on_either_flavour(db: psycopg.Connection) -> None:
    """The unique key is the only B-tree an insert updates; time and received_at have BRIN indexes (0008,
    0017, 0033: TimescaleDB's default B-tree on time in every chunk cost a third of the write path's CPU)."""
    _insert(db, [(datetime(2026, 12, 1, tzinfo=UTC), "w01018", 1.0, "N")])  # a chunk exists on TimescaleDB
    tables = ["readings"]
    if db.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == (1,):
        chunks = db.execute(
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'readings'"
        ).fetchall()
        assert chunks
        tables += [c for (c,) in chunks]
    for table in tables:
        methods = sorted(
            (am, cols)
            for am, cols in db.execute(
                "SELECT a.amname, array_to_string(array_agg(att.attname ORDER BY k.n), ',') "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
                "JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum "
                "WHERE i.indrelid = %s::regclass GROUP BY c.oid, a.amname",
                (table,),
            )
        )
        assert [m for m in methods if m[0] == "btree"] == [("btree", "device_id,pollutant,basis,time")], table
        assert ("brin", "time") in methods, table


def _insert(conn: psycopg.Connection, rows: list[tuple[datetime, str, float, str]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, device_id, pollutant, value, flag, seq) VALUES (%s, 1, %s, %s, %s, %s)",
            [(t, p, v, f, i) for i, (t, p, v, f) in enumerate(rows)],
        )
    conn.commit()


def test_aggregates_average_valid_values_and_roll_up_flags(db: psycopg.Connection) -> None:
    t0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    rows = [
        # water: one calibration value marks the minute abnormal (C), and is left out of the average
        (t0, "w20117", 0.04, "N"),
        (t0 + timedelta(seconds=20), "w20117", 0.06, "N"),
        (t0 + timedelta(seconds=40), "w20117", 9.99, "C"),
        # gas: 3 of 4 values normal (75 %) keeps the minute normal
        *[(t0 + timedelta(seconds=10 * i), "a21026", 50.0 + i, "N") for i in range(3)],
        (t0 + timedelta(seconds=30), "a21026", 999.0, "D"),
        # gas: 1 of 2 normal is below 75 %: the minute is D
        (t0 + timedelta(minutes=1), "a21002", 80.0, "N"),
        (t0 + timedelta(minutes=1, seconds=5), "a21002", 81.0, "M"),
    ]
    _insert(db, rows)
    got = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT pollutant, bucket, value_avg, value_min, value_max, sample_count, valid_count, flag "
            "FROM readings_1m WHERE device_id = 1 ORDER BY pollutant"
        )
    }
    assert got["w20117"] == (t0, pytest.approx(0.05), 0.04, 0.06, 3, 2, "C")
    assert got["a21026"] == (t0, pytest.approx(51.0), 50.0, 52.0, 4, 3, "N")
    assert got["a21002"] == (t0 + timedelta(minutes=1), pytest.approx(80.0), 80.0, 80.0, 2, 1, "D")


def test_daily_aggregate_buckets_are_china_standard_time_days(db: psycopg.Connection) -> None:
    # 15:59 UTC is 23:59 in Shanghai (day 1); 16:01 UTC is 00:01 the next local day.
    _insert(
        db,
        [
            (datetime(2026, 11, 20, 15, 59, tzinfo=UTC), "w01018", 10.0, "N"),
            (datetime(2026, 11, 20, 16, 1, tzinfo=UTC), "w01018", 30.0, "N"),
        ],
    )
    buckets = db.execute("SELECT bucket, value_avg FROM readings_1d ORDER BY bucket").fetchall()
    assert buckets == [
        (datetime(2026, 11, 19, 16, 0, tzinfo=UTC), 10.0),
        (datetime(2026, 11, 20, 16, 0, tzinfo=UTC), 30.0),
    ]


def test_readings_key_makes_redelivery_harmless(db: psycopg.Connection) -> None:
    t0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    for _ in range(2):
        db.execute(
            "INSERT INTO readings (time, device_id, pollutant, value, flag, seq) VALUES (%s, 7, 'w20120', 0.05, 'N', 1) "
            "ON CONFLICT DO NOTHING",
            (t0,),
        )
    db.commit()
    assert db.execute("SELECT count(*) FROM readings WHERE device_id = 7").fetchone() == (1,)


def test_migration_result_names_the_flavour_the_database_got(fresh_database_url: str) -> None:
    result = migrate(fresh_database_url, MIGRATIONS)
    expected = "timescaledb" if server_has_timescaledb(fresh_database_url) else "postgresql"
    assert result.flavour_name == expected
