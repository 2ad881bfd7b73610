"""The dashboard as a component: uvicorn in the caller's event loop (demo) or on its own (`envmon dashboard`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import uvicorn

from dashboard.access import ROLES
from dashboard.app import create_app
from dashboard.config import DashboardConfig
from dashboard.passwords import generate_password
from dashboard.users import create_user
from envmon.db import connect
from envmon.ports import listen_socket
from envmon.settings import Settings

log = logging.getLogger(__name__)


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the runtime owns SIGINT/SIGTERM and sets `stop`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class DashboardService:
    """Serves the dashboard until `stop` is set."""

    name = "dashboard"

    def __init__(self, settings: Settings, config: DashboardConfig | None = None) -> None:
        self._settings = settings
        self._config = config or DashboardConfig.from_settings(settings)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve in this event loop; a graceful shutdown when stop is set."""
        app = create_app(self._settings, self._config)
        # X-Forwarded-* only from the configured proxies: any local process could forge them otherwise.
        trusted = self._config.trusted_proxies
        config = uvicorn.Config(app, host=self._config.host, port=self._config.port, log_level="warning",
                                proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None,
                                timeout_graceful_shutdown=5)
        server = EmbeddedServer(config)
        # Bound here, not by uvicorn: a busy port is a PortInUseError naming it (uvicorn would sys.exit).
        sock = listen_socket(self._config.host, self._config.port, "dashboard, ENVMON_DASHBOARD_PORT")
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        log.info("dashboard on http://%s:%d", self._config.host, self._config.port)
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait([serving, waiting], return_when=asyncio.FIRST_COMPLETED)
        hub = getattr(app.state, "hub", None)
        if hub is not None:
            hub.close_streams()  # uvicorn waits for open connections before it ends the app's lifespan
        server.should_exit = True
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


def run_dashboard(settings: Settings, config: DashboardConfig) -> int:
    """`envmon dashboard`: serve until Ctrl-C."""
    from envmon.runtime import run_components

    asyncio.run(run_components([DashboardService(settings, config)]))
    return 0


DEMO_USERS: tuple[tuple[str, str], ...] = tuple((f"demo-{role}", role) for role in ROLES)


def create_demo_users(settings: Settings, *, districts: tuple[str, ...] = ("fengxian",)) -> list[tuple[str, str, str]]:
    """One user per role for the demo (username, role, password); existing demo users get a new password."""
    made: list[tuple[str, str, str]] = []
    now = datetime.now(UTC)
    with connect(settings, autocommit=True, application="envmon-dashboard") as conn:
        for username, role in DEMO_USERS:
            password = generate_password()
            conn.execute("DELETE FROM dashboard_sessions WHERE user_id IN (SELECT id FROM users WHERE username = %s)",
                         (username,))
            conn.execute("DELETE FROM users WHERE username = %s", (username,))
            scope = () if role == "admin" else districts
            create_user(conn, username=username, role=role, password=password, actor="demo", now=now,
                        districts=scope, display_name=f"Demo {role}")
            made.append((username, role, password))
    return made
