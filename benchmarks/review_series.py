"""Cost of data review on the plant page (`python -m benchmarks.review_series`): the chart series and the latest
values of the example district, without marks and with marks, timed in process. Prints one JSON object.

Runs on a scratch database (a private PostgreSQL unless --database-url names a server): the example district,
then 30 days of one water analyser's readings at its interval (benchmarks/dashboard.py's seed), then the
aggregates refreshed (continuous aggregates, or plain PostgreSQL's roll-up tables), then each query `--runs`
times; then `--marks` active marks spread over the month on that device and the same again. To time another
checkout's queries on the same data, import this module with PYTHONPATH pointing at that checkout.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from benchmarks.dashboard import ROOT, _month_of_readings, _seed_district
from benchmarks.report import percentile, scratch_database
from dashboard.access import User
from dashboard.plant import load_plant
from dashboard.series import load_series
from envmon.migrate import migrate

ADMIN = User(1, "bench-admin", "Bench", "admin", (), ())
RANGES = ("24h", "30d", "365d")


def _time(call: Callable[[], Any], runs: int) -> dict[str, float]:
    call()  # warm the plan and the cache
    ms = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        ms.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(ms, 0.5), 2), "p95_ms": round(percentile(ms, 0.95), 2)}


def _measure(conn: psycopg.Connection, site: str, device_id: int, pollutant: str, now: datetime,
             runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        f"series_{name}": _time(lambda name=name: load_series(  # type: ignore[misc]
            conn, ADMIN, site=site, device_id=device_id, pollutant=pollutant, range_name=name, now=now), runs)
        for name in RANGES
    }
    out["plant_latest"] = _time(lambda: load_plant(conn, ADMIN, site, now=now), runs)
    return out


def _add_marks(conn: psycopg.Connection, device_id: int, now: datetime, count: int) -> None:
    """`count` active two-hour invalid marks spread over the month (stored directly: no exceedance to approve)."""
    for i in range(count):
        start = now - timedelta(days=30) + timedelta(hours=i * 720 // max(count, 1))
        conn.execute(
            "INSERT INTO data_marks (device_id, pollutant, start_at, end_at, reason, evidence, state, proposed_by,"
            " proposed_at) VALUES (%s, NULL, %s, %s, 'invalid', 'bench', 'active', 'bench', %s)",
            (device_id, start, start + timedelta(hours=2), now))
    conn.execute("ANALYZE data_marks")


def _refresh_aggregates(conn: psycopg.Connection, *, timescaledb: bool) -> None:
    """Materialise the aggregates over the seeded month, as TimescaleDB's refresh policies or ingest's roll-up
    refresher (plain PostgreSQL, migration 0032) would have: otherwise every chart would read raw readings."""
    if timescaledb:
        for view in ("readings_1m", "readings_1h", "readings_1d"):
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
        return
    while conn.execute("SELECT readings_rollup_refresh()").fetchone() != (timedelta(0),):
        pass


def run(url: str, *, runs: int, marks: int) -> dict[str, Any]:
    """Seed, time without marks, add marks, time again."""
    now = datetime.now(UTC)
    migrate(url, ROOT / "migrations")
    _seed_district(url, now)
    site, device_id, pollutant, rows = _month_of_readings(url, now)
    with psycopg.connect(url, autocommit=True) as conn:
        flavour = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        _refresh_aggregates(conn, timescaledb=bool(flavour and flavour[0]))
        without = _measure(conn, site, device_id, pollutant, now, runs)
        _add_marks(conn, device_id, now, marks)
        with_marks = _measure(conn, site, device_id, pollutant, now, runs)
    return {"benchmark": "review_series", "flavour": "timescaledb" if flavour and flavour[0] else "postgres",
            "readings_in_month": rows, "runs": runs, "without_marks": without,
            "with_marks": {"marks": marks, **with_marks}}


def main(argv: list[str] | None = None) -> int:
    """Command line: --database-url (a server to create the scratch database on), --runs, --marks."""
    parser = argparse.ArgumentParser(prog="benchmarks.review_series")
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--marks", type=int, default=30)
    args = parser.parse_args(argv)
    with scratch_database(args.database_url) as url:
        print(json.dumps(run(url, runs=args.runs, marks=args.marks), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
