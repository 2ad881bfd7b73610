"""The dashboard as a component (the demo runs it beside the others) and its command-line parsers."""

from __future__ import annotations

import argparse
import asyncio
import socket
import time

import httpx
import pytest

from dashboard.cli import add_dashboard_parser, run_dashboard_command, run_user_add
from dashboard.config import DashboardConfig
from dashboard.service import DashboardService
from envmon.errors import ComponentError
from envmon.runtime import run_components
from tests.browser.world import build_world, free_port
from tests.patience import patience


def test_service_serves_in_the_callers_loop_until_stop(database_url: str) -> None:
    world = build_world(database_url)
    port = free_port()
    service = DashboardService(world.settings, DashboardConfig(port=port))
    assert service.name == "dashboard"

    async def scenario() -> tuple[int, int]:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + patience(30)
            while True:
                try:
                    login = (await client.get("/login")).status_code
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the dashboard did not start listening"
                    await asyncio.sleep(0.05)
            openapi = (await client.get("/api/openapi.json")).status_code
        stop.set()
        await asyncio.wait_for(task, 10)
        return login, openapi

    assert asyncio.run(scenario()) == (200, 200)


def test_parsers_for_dashboard_and_user_add() -> None:
    parser = argparse.ArgumentParser()
    add_dashboard_parser(parser.add_subparsers(dest="command"))
    dash = parser.parse_args(["dashboard", "--port", "8181"])
    assert (dash.handler, dash.host, dash.port) == (run_dashboard_command, None, 8181)  # None: from the settings
    add = parser.parse_args(["user", "add", "li", "--role", "inspector", "--district", "fengxian", "--site", "FX-EP-001",
                             "--site", "FX-EP-002", "--password-stdin"])
    assert add.handler is run_user_add
    assert (add.role, add.district, add.site, add.password_stdin) == ("inspector", ["fengxian"],
                                                                      ["FX-EP-001", "FX-EP-002"], True)


def test_a_busy_port_fails_the_component_with_its_number_and_the_run_ends_non_zero(database_url: str) -> None:
    world = build_world(database_url)
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = int(held.getsockname()[1])
        service = DashboardService(world.settings, DashboardConfig(port=port))
        with pytest.raises(ComponentError, match=f"dashboard: port {port} on 127.0.0.1 .* is in use"):
            asyncio.run(asyncio.wait_for(run_components([service]), 60))
