"""The login limit under concurrent requests, and whose X-Forwarded-For the dashboard believes: real server."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from dashboard.config import DashboardConfig
from dashboard.service import DashboardService
from envmon.stack.processes import free_port, wait_for_port
from tests.browser.world import PASSWORD, World, build_world

FORGED_CLIENT = "203.0.113.9"
Serve = Callable[..., str]


@pytest.fixture
def serve(database_url: str) -> Iterator[Serve]:
    """Start the dashboard as `envmon dashboard` does (uvicorn, a free loopback port); returns its base URL."""
    stops: list[tuple[asyncio.AbstractEventLoop, asyncio.Event, threading.Thread]] = []
    worlds: list[World] = []

    def start(**settings: object) -> str:
        world = build_world(database_url, **settings) if not worlds else worlds[0]
        worlds.append(world)
        port = free_port()
        loop, stop = asyncio.new_event_loop(), asyncio.Event()
        service = DashboardService(world.settings, DashboardConfig.from_settings(world.settings, port=port))
        thread = threading.Thread(target=loop.run_until_complete, args=(service.run(stop),), daemon=True)
        thread.start()
        stops.append((loop, stop, thread))
        assert wait_for_port(port, timeout_seconds=30), "dashboard did not start"
        return f"http://127.0.0.1:{port}"

    yield start
    for loop, stop, thread in stops:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
    for world in worlds:
        shutil.rmtree(world.settings.state_dir, ignore_errors=True)


def login_form(client: httpx.Client) -> str:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    return page.text.split('name="login_csrf" value="')[1].split('"')[0]


def post_login(client: httpx.Client, token: str, password: str, headers: dict[str, str] | None = None) -> int:
    data = {"username": "operator", "password": password, "login_csrf": token}
    return client.post("/login", data=data, headers=headers or {}).status_code


def test_parallel_wrong_logins_check_exactly_the_limit_of_passwords(serve: Serve, database_url: str) -> None:
    base = serve(dashboard_login_max_failures_per_user=5)
    clients = [httpx.Client(base_url=base, timeout=60) for _ in range(20)]
    tokens = [login_form(c) for c in clients]
    start = threading.Barrier(20)

    def attempt(i: int) -> int:
        start.wait(30)
        return post_login(clients[i], tokens[i], "wrong password!")

    with ThreadPoolExecutor(20) as pool:
        answers = Counter(pool.map(attempt, range(20)))
    for c in clients:
        c.close()
    # 401: the password was checked and was wrong; 429: refused before any check.
    assert answers == {401: 5, 429: 15}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM login_attempts").fetchone() == (5,)


def test_a_right_password_after_a_reservation_is_recorded_as_a_success(serve: Serve, database_url: str) -> None:
    with httpx.Client(base_url=serve(), timeout=60) as client:
        assert post_login(client, login_form(client), "wrong password!") == 401
        assert post_login(client, login_form(client), PASSWORD) == 303
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT succeeded FROM login_attempts ORDER BY id").fetchall()
    assert rows == [(False,), (True,)]


@pytest.mark.parametrize(
    ("trusted", "recorded"),
    [
        pytest.param("", "127.0.0.1", id="no-proxy-configured-header-ignored"),
        pytest.param("192.0.2.10", "127.0.0.1", id="header-from-an-untrusted-address-ignored"),
        pytest.param("127.0.0.1", FORGED_CLIENT, id="header-from-the-configured-proxy-believed"),
    ],
)
def test_x_forwarded_for_is_believed_only_from_a_configured_proxy(
    serve: Serve, database_url: str, trusted: str, recorded: str
) -> None:
    with httpx.Client(base_url=serve(dashboard_trusted_proxies=trusted), timeout=60) as client:
        assert post_login(client, login_form(client), "wrong password!", {"X-Forwarded-For": FORGED_CLIENT}) == 401
    with psycopg.connect(database_url) as conn:
        assert [r[0] for r in conn.execute("SELECT client FROM login_attempts")] == [recorded]
