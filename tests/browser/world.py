"""A small world for dashboard tests: two districts, users of every role, alerts through the alert path,
and the dashboard app (in-process TestClient, or uvicorn on a free loopback port for the browser)."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.processor import AlertProcessor
from alerts.rules.policy import load_policy
from dashboard.app import create_app
from dashboard.config import DashboardConfig
from dashboard.users import create_user
from envmon.columns import ReadingColumns
from envmon.registry.store import store_registry
from envmon.settings import Settings, load_settings
from tests.alert_helpers import ALERT_REGISTRY, GAS, WATER, load_alert_registry

OTHER_DEVICE = "310120U001W01"
OTHER_REGISTRY = f"""
[[districts]]
code = "u"
name_zh = "邻区"
name_en = "Other district"

[[sites]]
code = "U-001"
name_zh = "邻区电镀厂"
name_en = "Other plating plant"
district = "u"
industry = "electroplating"
latitude = 30.95
longitude = 121.55

[[devices]]
mn = "{OTHER_DEVICE}"
site = "U-001"
point_kind = "workshop_outlet"
point_name_zh = "车间排口"
point_name_en = "Workshop outlet"
kind = "water_analyser"
transport = "mqtt"
system_code = "32"
pollutants = ["w20117", "w01001"]
reporting_interval_seconds = 30

[[limits]]
site = "U-001"
pollutant = "w20117"
preset = "GB21900-2008-T3"

[[sites]]
code = "T-002"
name_zh = "测试二厂"
name_en = "Test plant 2"
district = "t"
industry = "electroplating"
latitude = 30.90
longitude = 121.45
"""
if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "correct horse battery"
SECRET = "dashboard-test-secret-" + "y" * 40
# username -> (role, districts, site codes)
USERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "viewer": ("viewer", ("t",), ()),
    "operator": ("operator", ("t",), ()),
    "inspector": ("inspector", (), ("T-001",)),
    "admin": ("admin", (), ()),
    "outsider": ("operator", ("u",), ()),
}


@dataclass
class World:
    """Ids a test needs."""

    database_url: str
    settings: Settings
    devices: dict[str, int]
    sites: dict[str, int]


def build_world(database_url: str, **settings: Any) -> World:
    """Registry of two districts and one user per role (password PASSWORD)."""
    load_alert_registry(database_url, ALERT_REGISTRY + OTHER_REGISTRY)
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name, (role, districts, sites) in USERS.items():
            create_user(conn, username=name, role=role, password=PASSWORD, actor="test", now=now,
                        districts=districts, site_codes=sites)
        devices = {r[0]: r[1] for r in conn.execute("SELECT mn, id FROM devices")}
        site_ids = {r[0]: r[1] for r in conn.execute("SELECT code, id FROM sites")}
    # A state folder of its own: never the working tree's .envmon (a running demo stack and its broker).
    state_dir = tempfile.mkdtemp(prefix="envmon-dashboard-test-")
    values: dict[str, Any] = {"environment": "test", "database_url": database_url, "secret_key": SECRET,
                              "public_base_url": "http://127.0.0.1", "state_dir": state_dir, **settings}
    return World(database_url, load_settings(**values), devices, site_ids)


def build_district_world(database_url: str) -> World:
    """The example district (56 plants) with a user of each role for it, every device recently seen."""
    from envmon.registry.load import load_registry_file

    root = Path(__file__).resolve().parents[2]
    with psycopg.connect(database_url, autocommit=True) as conn:
        store_registry(conn, load_registry_file(root / "examples" / "fengxian.toml"), actor="test")
        now = datetime.now(UTC)
        for name, role in (("viewer", "viewer"), ("operator", "operator"), ("inspector", "inspector"),
                           ("admin", "admin")):  # one per role, as the demo's users (admins see every district)
            create_user(conn, username=name, role=role, password=PASSWORD, actor="test", now=now,
                        districts=("fengxian",))
        # Every device seen a moment ago, except the first device of FX-CH-004 (offline).
        conn.execute("INSERT INTO device_state (device_id, last_seen_at, online) SELECT id, now(), true FROM devices"
                     " WHERE id <> (SELECT min(d.id) FROM devices d JOIN sites s ON s.id = d.site_id"
                     " WHERE s.code = 'FX-CH-004')")
        devices = {r[0]: r[1] for r in conn.execute("SELECT mn, id FROM devices")}
        site_ids = {r[0]: r[1] for r in conn.execute("SELECT code, id FROM sites")}
    state_dir = tempfile.mkdtemp(prefix="envmon-dashboard-test-")
    settings = load_settings(environment="test", database_url=database_url, secret_key=SECRET, state_dir=state_dir)
    return World(database_url, settings, devices, site_ids)


def store_readings(database_url: str, rows: list[tuple[datetime, int, str, float, str]]) -> None:
    """Readings as ingest stores them (time, device id, pollutant, value, flag), with their notification."""
    with psycopg.connect(database_url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (time, device_id, pollutant, basis, value, flag, seq, received_at)"
                " VALUES (%s, %s, %s, 'instant', %s, %s, 0, now()) ON CONFLICT DO NOTHING", rows)
        devices = sorted({r[1] for r in rows})
        conn.execute(
            "INSERT INTO device_state (device_id, last_seen_at, last_reading_at, online) SELECT d, now(), now(), true"
            " FROM unnest(%s::int[]) d ON CONFLICT (device_id) DO UPDATE SET last_seen_at = now()", [devices])
        conn.execute("SELECT pg_notify('envmon_events', json_build_object('kind', 'readings', 'devices', %s::int[])"
                     "::text)", [devices])


def raise_alert(world: World, mn: str = GAS, pollutant: str = "s02001", value: float = 20.0, samples: int = 1) -> int:
    """An alert through the alert path: stored readings evaluated by the alert processor (which notifies).

    The gas rule opens on one sample; the instantaneous discharge rule holds for three.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    device_id = world.devices[mn]
    times = [now - timedelta(seconds=samples - 1 - i) for i in range(samples)]
    store_readings(world.database_url, [(t, device_id, pollutant, value, "N") for t in times])
    processor = AlertProcessor(world.settings, load_policy(""))
    try:
        processor.connect()
        rows = [(t, device_id, pollutant, "instant", value, "N", i, t) for i, t in enumerate(times)]
        result = processor.evaluate(ReadingColumns.from_rows(rows), now)
    finally:
        processor.close()
    assert result.opened, f"no alert opened for {mn} {pollutant}={value}"
    return int(result.opened[0])


def water_history(world: World, *, hours: int, step_seconds: int = 60, mn: str = WATER) -> None:
    """Normal Cr(VI) readings over the last hours, for charts."""
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [(now - timedelta(seconds=s), world.devices[mn], "w20117", 0.02 + 0.01 * ((s // 600) % 3), "N")
            for s in range(0, hours * 3600, step_seconds)]
    store_readings(world.database_url, rows)


@contextmanager
def client(world: World, config: DashboardConfig | None = None, base_url: str = "https://testserver") -> Iterator[TestClient]:
    """The app in process (lifespan run), over https by default so the cookie is the __Host- one."""
    with TestClient(create_app(world.settings, config), base_url=base_url) as c:
        yield c


def login(c: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = c.get("/login")
    token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
    r = c.post("/login", data={"username": username, "password": password, "login_csrf": token},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    me = c.get("/api/me")
    assert me.status_code == 200
    return str(me.json()["csrf_token"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """The app under uvicorn on 127.0.0.1 in a thread of its own (for the browser)."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        # Open event streams end at the lifespan's shutdown, which uvicorn runs after connections close: cap the wait.
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "dashboard did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        hub = getattr(self.app.state, "hub", None)
        if self.loop is not None and hub is not None:
            self.loop.call_soon_threadsafe(hub.close_streams)  # as DashboardService does before stopping
        self.server.should_exit = True
        self.thread.join(10)


def read_events(base: str, cookie: str, out: queue.Queue[tuple[float, dict[str, Any]]], stop: threading.Event) -> None:
    """Read /api/events as a browser would, putting (arrival time, event) on `out`; ends with the stream or stop."""
    timeout = httpx.Timeout(5, read=30)
    with httpx.Client(base_url=base, cookies={"envmon_session": cookie}, timeout=timeout) as h, \
            h.stream("GET", "/api/events") as r:
        assert r.status_code == 200
        kind = ""
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.put((time.monotonic(), {"event": kind, **json.loads(line[6:])}))
            elif line == ": connected":
                out.put((time.monotonic(), {"event": "connected"}))


def session_cookie(base: str, username: str) -> str:
    """Sign in over plain http on loopback; the session cookie's value."""
    with httpx.Client(base_url=base) as h:
        page = h.get("/login")
        token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
        r = h.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": token})
        assert r.status_code == 303
        return str(h.cookies["envmon_session"])


def sign_in(
    page: Page, base: str, username: str, locale: str | None = None, then: str = "/", password: str = PASSWORD
) -> None:
    """Sign in through the login form in Chromium (in `locale`, else the server's default) and wait for `then`."""
    page.goto(f"{base}/login" if locale is None else f"{base}/login?lang={locale}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{base}{then}")
