"""The dashboard application: routes, error pages, static files, the pool and the live event listener."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool

from dashboard import (
    admin_edit_routes,
    admin_routes,
    answer_routes,
    api,
    auth_routes,
    export_routes,
    file_routes,
    forwarding_routes,
    pages,
    report_view,
    review_routes,
)
from dashboard.auth_routes import safe_next
from dashboard.config import DashboardConfig
from dashboard.deps import AppState, BadRequest, Conflict, Forbidden, NotFound, NotSignedIn, optional_session
from dashboard.events import EventHub, load_device_sites
from dashboard.render import page
from dashboard.sessions import Session
from envmon import db
from envmon.settings import Settings

ROUTERS: tuple[APIRouter, ...] = (
    auth_routes.router, pages.router, api.router, admin_routes.router, admin_edit_routes.router, report_view.router,
    file_routes.router,
    answer_routes.router, review_routes.pages, review_routes.api,
    export_routes.router, forwarding_routes.router,
)


def route_table() -> set[tuple[str, str]]:
    """Every (method, path) the dashboard serves, for the access matrix."""
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    return {(method, r.path) for r in routes for method in r.methods or ()}


def static_dir() -> Path:
    """The packaged static files (our script and styles, the vendored chart library)."""
    return Path(str(resources.files("dashboard") / "static"))


def open_pool(settings: Settings, *, max_size: int) -> ConnectionPool:
    """Autocommit connections: each action opens its own transaction, reads never hold one."""
    # Never prepared: on TimescaleDB the 6th 30-day chart on a connection (psycopg prepares it then) took 243 ms
    # and the prepared ones after it 36-42 ms, against 30-35 ms planned each time with the request's values
    # (a year of one plant's chunks, `envmon bench history`, 2026-12-05).
    return db.open_pool(settings, max_size=max_size, application="envmon-dashboard", autocommit=True,
                        prepare_threshold=None)


def create_app(settings: Settings, config: DashboardConfig | None = None, *, pool_size: int = 8) -> FastAPI:
    """The app; the pool and the event listener live as long as its lifespan."""
    config = config or DashboardConfig.from_settings(settings)
    settings.require_secret()  # report links are checked with it: refuse to start with a weak one

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = open_pool(settings, max_size=pool_size)
        app.state.dashboard = AppState(settings, config, pool)
        stop = asyncio.Event()

        def devices() -> dict[int, tuple[str, str]]:
            with pool.connection() as conn:
                return load_device_sites(conn)

        hub = EventHub(settings.require_database_url(), devices)
        app.state.hub = hub
        listener = asyncio.create_task(hub.run(stop))
        try:
            yield
        finally:
            stop.set()
            await listener
            pool.close()

    # No Swagger UI: FastAPI's loads its script from a CDN, and nothing here is fetched from the internet.
    app = FastAPI(title="envmon dashboard", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    _error_handlers(app)

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # PostgreSQL text cannot hold NUL: a NUL in the path or query is malformed input, not a server error.
        if is_nul_in(request.url.path, request.url.query):
            return JSONResponse({"detail": "NUL character in the request"}, status_code=400)
        return await call_next(request)

    return app


def is_nul_in(path: str, query: str) -> bool:
    """True when the decoded path or the raw query carries a NUL character."""
    return "\x00" in path or "%00" in query or "\x00" in query


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_handlers(app: FastAPI) -> None:
    async def not_signed_in(request: Request, exc: Exception) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "not signed in"}, status_code=401)
        # Back where the person was going once signed in (the SMS link's "act on this alert").
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/login" if wanted == "/" else "/login?" + urlencode({"next": safe_next(wanted)})
        return RedirectResponse(target, status_code=303)

    def _simple(status: int, key: str, detail: str) -> object:
        async def handler(request: Request, exc: Exception) -> Response:
            if _wants_json(request):
                return JSONResponse({"detail": detail}, status_code=status)
            session = await asyncio.to_thread(_session_of, request)
            return page(request, "message.html", session, status_code=status, message_key=key)
        return handler

    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(Forbidden, _simple(403, "forbidden", "forbidden"))  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _simple(404, "not_found", "not found"))  # type: ignore[arg-type]
    app.add_exception_handler(Conflict, _simple(409, "forbidden", "conflict"))  # type: ignore[arg-type]
    app.add_exception_handler(BadRequest, _simple(400, "bad_request", "bad request"))  # type: ignore[arg-type]


def _session_of(request: Request) -> Session | None:
    state: AppState = request.app.state.dashboard
    with state.pool.connection() as conn:
        return optional_session(request, conn)
