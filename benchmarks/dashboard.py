"""Dashboard benchmark (`envmon bench dashboard`, or `python -m benchmarks.dashboard`): overview API p95 with
the demo district and with 2,000 devices, and a 30-day chart for one device. Prints one JSON object.

Runs on a scratch database (a private PostgreSQL unless --database-url names a server): the example
district with device states and open alerts, timed through uvicorn on loopback with a signed-in admin
(the widest scope, so the most rows); then enough extra plants to reach 2,000 devices; then 30 days of
readings of one water analyser at its reporting interval, charted from the hourly aggregate.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.report import percentile, scratch_database
from dashboard.app import create_app
from dashboard.service import EmbeddedServer
from dashboard.users import create_user
from envmon.migrate import migrate
from envmon.registry.load import load_registry_file
from envmon.registry.store import store_registry
from envmon.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
TARGET_OVERVIEW_P95_MS = 100.0
TARGET_CHART_P95_MS = 300.0
PASSWORD = "bench-password-0123456789"


def _timed(port: int, path: str, cookie: str, runs: int) -> list[float]:
    """Milliseconds per request over one keep-alive connection (opened here: uvicorn closes idle ones)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie, "Accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
        out.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
    return out


def _summary(ms: list[float], target: float) -> dict[str, Any]:
    return {"runs": len(ms), "p50_ms": round(percentile(ms, 0.5), 2), "p95_ms": round(percentile(ms, 0.95), 2),
            "max_ms": round(max(ms), 2), "target_p95_ms": target, "ok": percentile(ms, 0.95) < target}


def _sign_in(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    page = conn.getresponse()
    html = page.read().decode()
    login_csrf = html.split('name="login_csrf" value="')[1].split('"')[0]
    cookie = page.getheader("set-cookie", "").split(";")[0]
    body = f"username=bench-admin&password={PASSWORD}&login_csrf={login_csrf}"
    conn.request("POST", "/login", body=body, headers={"Cookie": cookie,
                                                        "Content-Type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    answer.read()
    session = [c for c in answer.headers.get_all("set-cookie") or [] if c.startswith("envmon_session=")]
    if answer.status != 303 or not session:
        raise RuntimeError(f"sign-in failed: {answer.status}")
    return session[0].split(";")[0]


def _seed_district(url: str, now: datetime) -> None:
    with psycopg.connect(url) as conn:
        store_registry(conn, load_registry_file(ROOT / "examples" / "fengxian.toml"), actor="bench")
        create_user(conn, username="bench-admin", role="admin", password=PASSWORD, actor="bench", now=now)
        _device_states(conn, now)
        # Some open alerts, spread over plants and severities, as a busy day would have.
        conn.execute(
            "INSERT INTO alerts (code, device_id, pollutant, rule, category, severity, state, opened_at,"
            " first_breach_at)"
            " SELECT 'B' || d.id, d.id, d.pollutants[1], 'instant', 'pollution',"
            " (ARRAY['warning','exceedance','severe'])[1 + d.id %% 3], 'open', %s, %s"
            " FROM devices d WHERE d.id %% 7 = 0", (now, now))


def _device_states(conn: psycopg.Connection, now: datetime) -> None:
    conn.execute(
        "INSERT INTO device_state (device_id, last_seen_at, last_reading_at, online)"
        " SELECT id, %s - (id %% 50) * interval '1 second', %s, true FROM devices ON CONFLICT (device_id) DO NOTHING",
        (now, now))


def _grow_to(url: str, devices: int, now: datetime) -> int:
    """Extra plants of four devices each (copies of the district's first plant) until `devices` exist."""
    with psycopg.connect(url) as conn:
        have = int(conn.execute("SELECT count(*) FROM devices").fetchone()[0])  # type: ignore[index]
        plants = max(0, -(-(devices - have) // 4))
        conn.execute(
            "INSERT INTO sites (code, name_zh, name_en, district, industry, latitude, longitude)"
            " SELECT 'BX-' || g, '压测厂' || g, 'Load plant ' || g, 'fengxian', 'chemical',"
            " 30.8 + (g %% 40) * 0.005, 121.35 + (g / 40) * 0.01 FROM generate_series(1, %s) g", (plants,))
        conn.execute(
            "INSERT INTO devices (mn, site_id, point_kind, point_name_zh, point_name_en, kind, transport, system_code,"
            " pollutants, reporting_interval_seconds)"
            " SELECT 'BX' || s.id || 'D' || k, s.id, 'outfall', '排口', 'Outfall', 'water_analyser', 'mqtt', '32',"
            " ARRAY['w20117', 'w01018', 'w00000'], 30 FROM sites s CROSS JOIN generate_series(1, 4) k"
            " WHERE s.code LIKE 'BX-%%'")
        _device_states(conn, now)
        return int(conn.execute("SELECT count(*) FROM devices").fetchone()[0])  # type: ignore[index]


def _month_of_readings(url: str, now: datetime) -> tuple[str, int, str, int]:
    """30 days of one water analyser's readings at its interval; (site, device id, pollutant, rows)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT s.code, d.id, d.pollutants, d.reporting_interval_seconds FROM devices d JOIN sites s"
            " ON s.id = d.site_id WHERE d.kind = 'water_analyser' AND s.code NOT LIKE 'BX-%' ORDER BY d.id LIMIT 1"
        ).fetchone()
        assert row is not None
        site, device_id, pollutants, interval = row
        start = now - timedelta(days=30)
        with conn.cursor().copy("COPY readings (time, device_id, pollutant, basis, value, flag, seq, received_at)"
                                " FROM STDIN") as copy:
            steps = int(30 * 86400 / interval)
            for i in range(steps):
                at = start + timedelta(seconds=i * interval)
                for code in pollutants:
                    copy.write_row((at, device_id, code, "instant", 0.05 + (i % 97) / 1000, "N", i, at))
        conn.execute("ANALYZE readings")
        return site, int(device_id), pollutants[0], steps * len(pollutants)


def serve_dashboard(settings: Settings) -> tuple[EmbeddedServer, threading.Thread, int]:
    """The dashboard served by uvicorn in a thread on a free loopback port, once it accepts connections."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = EmbeddedServer(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, port


def run(url: str, *, runs: int) -> dict[str, Any]:
    """Seed, serve on loopback, time; returns the figures."""
    now = datetime.now(UTC)
    flavour = migrate(url, ROOT / "migrations").flavour_name
    _seed_district(url, now)
    settings = load_settings(environment="test", database_url=url, secret_key="bench-secret-" + "z" * 40)
    server, thread, port = serve_dashboard(settings)
    try:
        cookie = _sign_in(port)
        _timed(port, "/api/overview", cookie, 5)  # warm the pool and the plans
        demo = _timed(port, "/api/overview", cookie, runs)
        devices = _grow_to(url, 2000, now)
        _timed(port, "/api/overview", cookie, 5)
        large = _timed(port, "/api/overview", cookie, runs)
        site, device_id, pollutant, rows = _month_of_readings(url, now)
        path = f"/api/plants/{site}/series?device_id={device_id}&pollutant={pollutant}&range=30d"
        chart = _timed(port, path, cookie, max(5, runs // 10))
    finally:
        server.should_exit = True
        thread.join(15)
    return {
        "benchmark": "dashboard",
        "flavour": flavour,
        "overview_demo_district": _summary(demo, TARGET_OVERVIEW_P95_MS),
        "overview_2000_devices": {**_summary(large, TARGET_OVERVIEW_P95_MS), "devices": devices},
        "chart_30_days": {
            **_summary(chart, TARGET_CHART_P95_MS), "readings_in_month": rows, "aggregate": "readings_1h"
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of `envmon bench dashboard`."""
    parser = argparse.ArgumentParser(prog="envmon bench dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="admin URL of a server to use (default: a private PostgreSQL)")
    parser.add_argument("--runs", type=int, default=200, help="requests per overview measurement (default 200)")
    args = parser.parse_args(argv)
    with scratch_database(args.database_url) as url:
        print(json.dumps(run(url, runs=args.runs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
