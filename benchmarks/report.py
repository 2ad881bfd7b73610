"""Report benchmark: time from an alert's opening (its row committed) to its report stored, and the PDF size.

Sets up a private PostgreSQL (or uses --database-url, creating a scratch database there), loads the
example district and one simulated week of readings (the demo incident), then opens a fresh alert on
that device `--runs` times and generates its report, alternating zh-CN and en. Loading WeasyPrint and
the fonts is timed apart (`warm_up_seconds`, `render_pdf.warm_up()` at service start), and so is the
first report after it. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from alerts.lifecycle import alert_code
from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.render_pdf import warm_up
from alerts.reports.store import generate_report
from envmon.migrate import migrate

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TARGET_P95_SECONDS = 2.0


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered) - 1e-9) - 1))]


@contextmanager
def scratch_database(admin_url: str | None) -> Iterator[str]:
    """A new database on the given server, or on a private cluster started for the run; dropped afterwards."""
    state_dir: Path | None = None
    if admin_url is None:
        from envmon.stack import launcher

        state_dir = Path(tempfile.mkdtemp(prefix="envmon-bench-report-", dir="/tmp"))
        state_dir.chmod(0o755)
        admin_url = launcher.up(state_dir, durable=False).admin_database_url
    name = f"envmon_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if state_dir is not None:
            from envmon.stack import launcher

            launcher.down(state_dir)
            shutil.rmtree(state_dir, ignore_errors=True)


def open_alert(conn: psycopg.Connection, template_id: int, now: datetime) -> int:
    """Close the device's active alert and open a copy of the template as a new alert; committed."""
    conn.execute(
        "UPDATE alerts SET state = 'closed', closed_at = %s WHERE state IN ('open', 'escalated', 'acknowledged')",
        (now,),
    )
    new_id = int(conn.execute("SELECT nextval(pg_get_serial_sequence('alerts', 'id'))").fetchone()[0])  # type: ignore[index]
    conn.execute(
        "INSERT INTO alerts (id, code, device_id, pollutant, rule, category, severity, state, limit_id, opened_at,"
        " first_breach_at, peak_value, peak_at, last_value, limit_value)"
        " OVERRIDING SYSTEM VALUE SELECT %s, %s, device_id, pollutant, rule, category, severity, 'open', limit_id,"
        " %s, first_breach_at, peak_value, peak_at, last_value, limit_value FROM alerts WHERE id = %s",
        (new_id, alert_code(new_id), now, template_id),
    )
    conn.commit()
    return new_id


def run_bench(database_url: str, runs: int) -> dict[str, Any]:
    """Time `runs` report generations after one warm-up; return the figures."""
    flavour = migrate(database_url, MIGRATIONS).flavour_name
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        ensure_registry(conn)
        conn.commit()
        template = build_incident(conn, Scenario(), now=now)
        warm_up_seconds = warm_up()
        started = time.perf_counter()
        generate_report(conn, open_alert(conn, template, now), locale="zh-CN", now=now, reason="open")
        first = time.perf_counter() - started
        seconds: dict[str, list[float]] = {"zh-CN": [], "en": []}
        sizes: dict[str, list[int]] = {"zh-CN": [], "en": []}
        for i in range(runs):
            locale = ("zh-CN", "en")[i % 2]
            at = now + timedelta(seconds=i + 1)
            alert_id = open_alert(conn, template, at)
            started = time.perf_counter()
            report_id = generate_report(conn, alert_id, locale=locale, now=at, reason="open")
            seconds[locale].append(time.perf_counter() - started)
            size = conn.execute("SELECT octet_length(pdf) FROM reports WHERE id = %s", (report_id,)).fetchone()
            sizes[locale].append(int(size[0]) if size else 0)
    return {**_figures(seconds, sizes, runs), "flavour": flavour, "warm_up_seconds": round(warm_up_seconds, 3),
            "first_report_after_warm_up_seconds": round(first, 3)}


def _figures(seconds: dict[str, list[float]], sizes: dict[str, list[int]], runs: int) -> dict[str, Any]:
    every = seconds["zh-CN"] + seconds["en"]
    p95 = percentile(every, 0.95)
    return {
        "benchmark": "report",
        "runs": runs,
        "open_to_stored_seconds": {
            "p50": round(statistics.median(every), 3),
            "p95": round(p95, 3),
            "max": round(max(every), 3),
            "by_locale_p50": {k: round(statistics.median(v), 3) for k, v in seconds.items() if v},
        },
        "target_p95_seconds": TARGET_P95_SECONDS,
        "meets_target": p95 < TARGET_P95_SECONDS,
        "pdf_bytes": {k: int(statistics.median(v)) for k, v in sizes.items() if v},
        "readings_in_report_week": "7 days x 9 parameters at 30 s (about 181,000 rows)",
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry for `python -m benchmarks.report` and `envmon bench report`."""
    parser = argparse.ArgumentParser(
        prog="envmon bench report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="reports to time after the warm-up (default 20)")
    parser.add_argument("--database-url", help="admin URL of a server to use instead of a private cluster")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with scratch_database(args.database_url) as url:
        figures = run_bench(url, args.runs)
    json.dump(figures, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
