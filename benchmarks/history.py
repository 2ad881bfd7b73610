"""History benchmark (`envmon bench history`): charts and reports over a year of one plant's readings.

On a scratch database (a private PostgreSQL, TimescaleDB when installed unless ENVMON_TIMESCALEDB=off, or
--database-url): the example district; a year of readings for every device of one plant at its own interval
and a month for every other device at `--district-step-seconds` (benchmarks/simhistory.py: the simulator's
signals, COPY straight into `readings`). On TimescaleDB the continuous aggregates are refreshed and chunks
older than 7 days compressed first, as their policies would have done.
On plain PostgreSQL the roll-up tables are refreshed first (migration 0032), as ingest's refresher would have.
Then, timed:
- the plant page, and its 30-day and 1-year chart series, through the dashboard over loopback as an admin
  (target p95 300 ms);
- the plant's daily and monthly compliance reports, and an inspection report of an alert on the plant's
  year-long device, stored as the report worker stores them (target p95 2 s).
Prints one JSON object.

    envmon bench history [--runs 20] [--site CODE]   (or: python -m benchmarks.history)
    envmon bench history --seeded-url URL             (time an already seeded and settled database again)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# This folder holds ingest.py, which would shadow the `ingest` package: drop it from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import psycopg  # noqa: E402

from alerts.lifecycle import alert_code  # noqa: E402
from alerts.reports.compliance import last_complete_period  # noqa: E402
from alerts.reports.render_pdf import warm_up  # noqa: E402
from alerts.reports.store import generate_compliance_report, generate_report  # noqa: E402
from benchmarks.dashboard import PASSWORD, _sign_in, _summary, _timed, serve_dashboard  # noqa: E402
from benchmarks.report import percentile, scratch_database  # noqa: E402
from benchmarks.simhistory import write_history  # noqa: E402
from dashboard.users import create_user  # noqa: E402
from device_sim.plans import build_plans  # noqa: E402
from envmon.migrate import migrate  # noqa: E402
from envmon.registry.load import load_registry_file  # noqa: E402
from envmon.registry.store import store_registry  # noqa: E402
from envmon.settings import load_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_CHART_P95_MS = 300.0
TARGET_REPORT_P95_S = 2.0
ZONE = "Asia/Shanghai"
AGGREGATES = ("readings_1m", "readings_1h", "readings_1d")


def _default_site(conn: psycopg.Connection) -> str:
    """The plant of the district's first water analyser (an outfall: the inspector's usual question)."""
    row = conn.execute(
        "SELECT s.code FROM devices d JOIN sites s ON s.id = d.site_id WHERE d.kind = 'water_analyser' "
        "ORDER BY d.id LIMIT 1"
    ).fetchone()
    assert row is not None, "the registry has no water analyser"
    return str(row[0])


def _seed(conn: psycopg.Connection, registry_path: Path, site: str | None, now: datetime,
          district_step_seconds: float, plant_days: float) -> dict[str, Any]:
    """The district, a signed-in admin, a year of the plant's readings and a month of everyone else's."""
    registry = load_registry_file(registry_path)
    store_registry(conn, registry, actor="bench")
    create_user(conn, username="bench-admin", role="admin", password=PASSWORD, actor="bench", now=now)
    conn.commit()
    site = site or _default_site(conn)
    ids = {mn: i for mn, i in conn.execute("SELECT mn, id FROM devices").fetchall()}
    plant_mns = {r[0] for r in conn.execute(
        "SELECT d.mn FROM devices d JOIN sites s ON s.id = d.site_id WHERE s.code = %s", (site,)).fetchall()}
    plans = build_plans(registry, 1)
    end_s = float(int(now.timestamp()))
    t0 = time.perf_counter()
    year = write_history(conn, [p for p in plans if p.mn in plant_mns], ids, end_s - plant_days * 86400, end_s)
    month = write_history(conn, [p for p in plans if p.mn not in plant_mns], ids, end_s - 30 * 86400, end_s,
                          district_step_seconds)
    conn.execute(
        "INSERT INTO device_state (device_id, last_seen_at, last_reading_at, online)"
        " SELECT id, %s, %s, true FROM devices ON CONFLICT (device_id) DO NOTHING", (now, now))
    conn.commit()
    return {"site": site, "plant_devices": len(plant_mns), "plant_days": plant_days, "plant_readings": year,
            "district_readings_month": month, "district_step_seconds": district_step_seconds,
            "write_seconds": round(time.perf_counter() - t0, 1)}


def _settle(url: str, flavour: str) -> dict[str, float]:
    """What the background jobs would have done by now: aggregates refreshed, old chunks compressed; ANALYZE."""
    done: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        if flavour == "timescaledb":
            for view in AGGREGATES:
                t0 = time.perf_counter()
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
                done[f"refresh_{view}_seconds"] = round(time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
            conn.execute("SELECT compress_chunk(c, if_not_compressed => true) "
                         "FROM show_chunks('readings', older_than => INTERVAL '7 days') c")
            done["compress_seconds"] = round(time.perf_counter() - t0, 1)
        else:  # plain PostgreSQL: ingest's refresher would have materialized the roll-ups (migration 0032)
            t0 = time.perf_counter()
            steps = 0
            while conn.execute("SELECT readings_rollup_refresh()").fetchone() != (timedelta(0),):
                steps += 1
            done["rollup_refresh_seconds"] = round(time.perf_counter() - t0, 1)
            done["rollup_refresh_steps"] = steps + 1
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        done["vacuum_analyze_seconds"] = round(time.perf_counter() - t0, 1)
    return done


def _probe(conn: psycopg.Connection, site: str) -> tuple[int, str, int | None]:
    """The plant's device with the most readings, its first pollutant, and that pollutant's limit row."""
    row = conn.execute(
        "SELECT d.id, d.pollutants[1] FROM devices d JOIN sites s ON s.id = d.site_id WHERE s.code = %s "
        "ORDER BY d.reporting_interval_seconds, cardinality(d.pollutants) DESC, d.id LIMIT 1", (site,)).fetchone()
    assert row is not None
    limit = conn.execute(
        "SELECT id FROM limits WHERE pollutant = %s AND valid_to IS NULL AND (device_id = %s OR device_id IS NULL) "
        "ORDER BY (device_id IS NULL), id LIMIT 1", (row[1], row[0])).fetchone()
    return int(row[0]), str(row[1]), int(limit[0]) if limit else None


def _open_alert(conn: psycopg.Connection, device_id: int, pollutant: str, limit_id: int | None,
                now: datetime) -> int:
    """An exceedance opened an hour ago on the year-long device (closing the previous one); committed."""
    conn.execute("UPDATE alerts SET state = 'closed', closed_at = %s WHERE state = 'open'", (now,))
    new_id = int(conn.execute("SELECT nextval(pg_get_serial_sequence('alerts', 'id'))").fetchone()[0])  # type: ignore[index]
    at = now - timedelta(hours=1)
    conn.execute(
        "INSERT INTO alerts (id, code, device_id, pollutant, rule, category, severity, state, limit_id, opened_at,"
        " first_breach_at, peak_value, peak_at, last_value, limit_value) OVERRIDING SYSTEM VALUE"
        " VALUES (%s, %s, %s, %s, 'instant', 'pollution', 'exceedance', 'open', %s, %s, %s, 1.0, %s, 1.0,"
        " (SELECT upper_value FROM limits WHERE id = %s))",
        (new_id, alert_code(new_id), device_id, pollutant, limit_id, at, at, at, limit_id))
    conn.commit()
    return new_id


def _seconds(timings: list[float]) -> dict[str, Any]:
    p95 = percentile(timings, 0.95)
    return {"runs": len(timings), "p50_s": round(percentile(timings, 0.5), 3), "p95_s": round(p95, 3),
            "max_s": round(max(timings), 3), "target_p95_s": TARGET_REPORT_P95_S, "ok": p95 < TARGET_REPORT_P95_S}


def _reports(url: str, site: str, now: datetime, runs: int) -> dict[str, Any]:
    """Daily and monthly compliance reports of the plant and inspection reports of one alert, each `runs` times."""
    warm_up()
    out: dict[str, Any] = {}
    with psycopg.connect(url) as conn:
        device_id, pollutant, limit_id = _probe(conn, site)
        for kind in ("daily", "monthly"):
            day, _ = last_complete_period(kind, now, ZONE)
            timings = []
            for i in range(runs):
                t0 = time.perf_counter()
                generate_compliance_report(conn, site, kind, day, locale=("zh-CN", "en")[i % 2], now=now)
                timings.append(time.perf_counter() - t0)
            out[f"compliance_{kind}"] = _seconds(timings)
        timings = []
        for i in range(runs):
            alert_id = _open_alert(conn, device_id, pollutant, limit_id, now + timedelta(seconds=i))
            t0 = time.perf_counter()
            generate_report(conn, alert_id, locale=("zh-CN", "en")[i % 2], now=now + timedelta(seconds=i),
                            reason="open")
            timings.append(time.perf_counter() - t0)
        out["inspection"] = {**_seconds(timings), "device_id": device_id, "pollutant": pollutant}
    return out


def _charts(url: str, site: str, runs: int) -> dict[str, Any]:
    """The plant page and its year-long device's 30-day and 1-year series, over loopback as an admin."""
    settings = load_settings(environment="test", database_url=url, secret_key="bench-secret-" + "z" * 40)
    with psycopg.connect(url) as conn:
        device_id, pollutant, _ = _probe(conn, site)
    server, thread, port = serve_dashboard(settings)
    out: dict[str, Any] = {}
    try:
        cookie = _sign_in(port)
        series = f"/api/plants/{site}/series?device_id={device_id}&pollutant={pollutant}&range="
        paths = {"plant_page": f"/plants/{site}", "chart_30d": series + "30d", "chart_365d": series + "365d"}
        for name, path in paths.items():
            _timed(port, path, cookie, 2)  # plans and caches warm
            out[name] = _summary(_timed(port, path, cookie, runs), TARGET_CHART_P95_MS)
    finally:
        server.should_exit = True
        thread.join(15)
    return out


def _flavour(url: str) -> str:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return "timescaledb" if found else "postgres"


def rerun(url: str, site: str | None, runs: int, report_runs: int) -> dict[str, Any]:
    """Time an already seeded and settled database again (old and new code on the same data, without seeding
    twice); its readings end when it was seeded, so the newest are some minutes old."""
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(url) as conn:
        site = site or _default_site(conn)
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    return {"benchmark": "history", "flavour": _flavour(url), "site": site, "reused_database": True,
            "database_size": size[0] if size else None, "charts": _charts(url, site, runs),
            "reports": _reports(url, site, now, report_runs), "date": now.isoformat()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, settle, time; returns the figures."""
    now = datetime.now(UTC).replace(microsecond=0)
    if args.seeded_url:
        return rerun(args.seeded_url, args.site, args.runs, args.report_runs)
    with scratch_database(args.database_url) as url:
        flavour = migrate(url, ROOT / "migrations").flavour_name
        with psycopg.connect(url) as conn:
            seeded = _seed(conn, args.registry, args.site, now, args.district_step_seconds, args.plant_days)
        settled = _settle(url, flavour)
        charts = _charts(url, seeded["site"], args.runs)
        reports = _reports(url, seeded["site"], now, args.report_runs)
        with psycopg.connect(url) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    return {"benchmark": "history", "flavour": flavour, **seeded, "settle": settled, "database_size": size[0] if size
            else None, "charts": charts, "reports": reports, "date": now.isoformat()}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `envmon bench history`."""
    parser = argparse.ArgumentParser(prog="envmon bench history", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="admin URL of a server to use (default: a private PostgreSQL)")
    parser.add_argument("--seeded-url", help="a database seeded and settled by an earlier run: time it only")
    parser.add_argument("--registry", type=Path, default=ROOT / "examples" / "fengxian.toml",
                        help="the district (default: the demo district)")
    parser.add_argument("--site", help="the plant with a year of history (default: the first water analyser's)")
    parser.add_argument("--district-step-seconds", type=float, default=300.0,
                        help="step of the other devices' month of history (default 300 s)")
    parser.add_argument("--plant-days", type=float, default=365.0, help="days of the plant's history (default 365)")
    parser.add_argument("--runs", type=int, default=20, help="requests per chart measurement (default 20)")
    parser.add_argument("--report-runs", type=int, default=10, help="reports of each kind (default 10)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.report_runs < 1 or args.district_step_seconds <= 0 or args.plant_days <= 0:
        parser.error("--runs and --report-runs must be at least 1, --district-step-seconds and --plant-days positive")
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
