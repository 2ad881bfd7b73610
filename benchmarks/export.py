"""Export benchmark (`envmon bench export`, or `python -m benchmarks.export`): one month of one plant's
readings downloaded as CSV and XLSX.

Runs on a scratch database (a private PostgreSQL unless --database-url names a server): the example
district, then 30 days of readings of every device of the plant with the most pollutant series, each at
its reporting interval. The exports go through the real route (uvicorn on loopback, a signed-in admin),
read in blocks by a client in this process. Memory: the process's resident size is sampled every 20 ms;
the figure is its peak during an export minus its size just before, for a 7-day and the 30-day CSV:
constant memory means the month costs no more than the week. Prints one JSON object (and each export's
figures on stderr as it ends).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.dashboard import PASSWORD, _sign_in, serve_dashboard
from benchmarks.report import scratch_database
from dashboard.users import create_user
from envmon.migrate import migrate
from envmon.proccpu import CpuMeter, children_of
from envmon.registry.load import load_registry_file
from envmon.registry.store import store_registry
from envmon.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB_PER_S = 10.0
DAYS = 30
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """The process's peak resident size (bytes) while it runs, sampled from /proc/self/statm."""

    def __init__(self, interval_seconds: float = 0.02) -> None:
        self._interval = interval_seconds
        self._stop = threading.Event()
        self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_BYTES


def _seed(url: str, now: datetime) -> tuple[str, int, int]:
    """The district, an admin, and a month of the busiest plant's readings; (plant, series, rows)."""
    with psycopg.connect(url) as conn:
        store_registry(conn, load_registry_file(ROOT / "examples" / "fengxian.toml"), actor="bench")
        create_user(conn, username="bench-admin", role="admin", password=PASSWORD, actor="bench", now=now)
        site = conn.execute(
            "SELECT s.code FROM sites s JOIN devices d ON d.site_id = s.id GROUP BY s.code"
            " ORDER BY sum(cardinality(d.pollutants) * 86400.0 / d.reporting_interval_seconds) DESC, s.code LIMIT 1"
        ).fetchone()
        assert site is not None
        devices = conn.execute(
            "SELECT d.id, d.pollutants, d.reporting_interval_seconds FROM devices d JOIN sites s ON s.id = d.site_id"
            " WHERE s.code = %s", (site[0],)).fetchall()
        rows = sum(_month_of(conn, int(i), list(codes), int(step), now) for i, codes, step in devices)
        conn.execute("ANALYZE readings")
        return str(site[0]), sum(len(d[1]) for d in devices), rows


def _month_of(conn: psycopg.Connection, device_id: int, codes: list[str], step: int, now: datetime) -> int:
    start = now - timedelta(days=DAYS)
    steps = DAYS * 86400 // step
    with conn.cursor().copy("COPY readings (time, device_id, pollutant, basis, value, flag, seq, received_at)"
                            " FROM STDIN") as copy:
        for i in range(steps):
            at = start + timedelta(seconds=i * step)
            for k, code in enumerate(codes):
                flag = "D" if i % 997 == k else "N"  # a few abnormal values, as real devices send
                copy.write_row((at, device_id, code, "instant", 0.05 + ((i + k) % 97) / 1000, flag, i, at))
    return steps * len(codes)


def _download(port: int, path: str, cookie: str, postmaster: int) -> dict[str, Any]:
    """Read one export in 64 KiB blocks; bytes, seconds, MB/s, the memory it cost, and the CPU it took.

    On a shared machine the wall-clock rate says more about the neighbours than about the export: the CPU
    seconds of this process (server and client) and of the database's backends give the rate per CPU
    second, which on an idle 2-core machine bounds the wall-clock rate from below.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    before = rss_bytes()
    meter = CpuMeter({"envmon": lambda: [os.getpid()], "postgres": lambda: children_of(postmaster)})
    with RssSampler() as sampler:
        started = time.perf_counter()
        meter.start(started)
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        size = 0
        while block := response.read(64 * 1024):
            size += len(block)
        seconds = time.perf_counter() - started
        cpu = {name: percent * seconds / 100 for name, percent in meter.stop(time.perf_counter()).items()}
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status}")
    cpu_total = sum(cpu.values())
    return {"bytes": size, "seconds": round(seconds, 2), "mb_per_s": round(size / seconds / 1e6, 1),
            "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
            "mb_per_cpu_s": round(size / max(cpu_total, 1e-9) / 1e6, 1), "load_average": os.getloadavg()[0],
            "rss_growth_mb": round((sampler.peak - before) / 1e6, 1)}


def postmaster_of(url: str) -> int:
    """The pid of the database server's postmaster (the parent of a backend), for its backends' CPU."""
    with psycopg.connect(url) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert backend is not None
    with open(f"/proc/{backend[0]}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])  # state, then the parent pid


def timed_exports(first: datetime, last: datetime) -> list[tuple[str, str, str, datetime]]:
    """(label, kind, format, first day) of each timed export; all end on the last day.

    XLSX of a month of raw readings (5 million rows at the busiest plant) is not what a spreadsheet is
    for (over a million rows a sheet) and takes minutes to zip: XLSX is timed on one day of raw readings
    and on the month's hourly means, which is what inspectors open in Excel.
    """
    return [
        ("csv_raw_week", "readings", "csv", last - timedelta(days=7)),
        ("csv_raw_month", "readings", "csv", first),
        ("xlsx_raw_day", "readings", "xlsx", last - timedelta(days=1)),
        ("xlsx_hourly_month", "hourly", "xlsx", first),
    ]


def run(url: str) -> dict[str, Any]:
    """Seed, serve on loopback, export a week and a month in both formats; returns the figures."""
    now = datetime.now(UTC)
    flavour = migrate(url, ROOT / "migrations").flavour_name
    site, series, rows = _seed(url, now)
    settings = load_settings(environment="test", database_url=url, secret_key="bench-secret-" + "z" * 40)
    server, thread, port = serve_dashboard(settings)
    postmaster = postmaster_of(url)
    first, last = ((now - timedelta(days=d)).astimezone(settings.zone) for d in (DAYS, 0))
    figures: dict[str, Any] = {}
    try:
        cookie = _sign_in(port)
        for label, kind, fmt, begin in timed_exports(first, last):
            path = (f"/exports/download?kind={kind}&site={site}&format={fmt}"
                    f"&start={begin:%Y-%m-%d}&end={last:%Y-%m-%d}")
            figures[label] = _download(port, path, cookie, postmaster)
            print(label, figures[label], file=sys.stderr, flush=True)
    finally:
        server.should_exit = True
        thread.join(15)
    month = figures["csv_raw_month"]
    return {
        "benchmark": "export", "flavour": flavour, "plant": site, "series": series, "readings_in_month": rows,
        **figures,
        "target_mb_per_s": TARGET_MB_PER_S, "ok": month["mb_per_s"] >= TARGET_MB_PER_S,
        "ok_per_cpu_second": month["mb_per_cpu_s"] >= TARGET_MB_PER_S,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of `envmon bench export`."""
    parser = argparse.ArgumentParser(prog="envmon bench export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="admin URL of a server to use (default: a private PostgreSQL)")
    args = parser.parse_args(argv)
    with scratch_database(args.database_url) as url:
        result = run(url)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
