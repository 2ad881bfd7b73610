"""Request plumbing shared by the routes: the connection, the session, CSRF checks and form bodies."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

import psycopg
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from dashboard.access import Action, User, can
from dashboard.config import DashboardConfig
from dashboard.cookies import CookiePolicy, cookie_policy
from dashboard.errors import DashboardError
from dashboard.sessions import Session, load_session
from envmon.settings import Settings

MAX_FORM_BYTES = 64 * 1024


class NotSignedIn(DashboardError):
    """No live session: pages redirect to the login, the API answers 401."""


class Forbidden(DashboardError):
    """Signed in, but the role may not do this (403)."""


class NotFound(DashboardError):
    """Missing, or outside the user's scope (404: the answer does not tell which)."""


class Conflict(DashboardError):
    """The action does not fit the thing's state (409)."""


class BadRequest(DashboardError):
    """Malformed input the routes check themselves (400)."""


@dataclass(frozen=True)
class AppState:
    """What the app holds for its lifetime."""

    settings: Settings
    config: DashboardConfig
    pool: ConnectionPool


def utc_now() -> datetime:
    """The current time (the only place routes read the clock)."""
    return datetime.now(UTC)


def app_state(request: Request) -> AppState:
    """The app's state object."""
    state: AppState = request.app.state.dashboard
    return state


def connection(request: Request) -> Iterator[psycopg.Connection]:
    """An autocommit connection from the pool for one request."""
    with app_state(request).pool.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection, Depends(connection)]


def policy_for(request: Request) -> CookiePolicy | None:
    """The session cookie this request's scheme and host allow."""
    host = request.url.hostname or ""
    allow = app_state(request).config.allow_http_on_loopback
    return cookie_policy(request.url.scheme, host, allow_http_on_loopback=allow)


def session_token(request: Request) -> str | None:
    """The session token of the cookie this connection may carry."""
    policy = policy_for(request)
    return request.cookies.get(policy.name) if policy else None


def optional_session(request: Request, conn: Conn) -> Session | None:
    """The live session, or None."""
    token = session_token(request)
    if not token:
        return None
    return load_session(conn, token, now=utc_now(), config=app_state(request).config)


def current_session(session: Annotated[Session | None, Depends(optional_session)]) -> Session:
    """The live session, or NotSignedIn."""
    if session is None:
        raise NotSignedIn()
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def require(session: Session, action: Action) -> User:
    """The user, when their role allows the action; Forbidden otherwise."""
    if not can(session.user.role, action):
        raise Forbidden(action)
    return session.user


async def form_fields(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (the last value of a repeated field wins)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest("form too large")
    fields = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    if any("\x00" in v for v in fields.values()):
        raise BadRequest("NUL character in a form field")
    return fields


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another origin (Origin, else Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)


def check_csrf(request: Request, session: Session, form: dict[str, str]) -> None:
    """Every state change carries the session's CSRF token (form field or X-CSRF-Token) from our own origin."""
    given = request.headers.get("x-csrf-token") or form.get("csrf_token") or ""
    if not (same_origin(request) and hmac.compare_digest(given.encode(), session.csrf_token.encode())):
        raise Forbidden("csrf")


def csrf_session(request: Request, session: SessionDep, form: FormDep) -> Session:
    """The session of a state-changing request whose CSRF token checks out."""
    check_csrf(request, session, form)
    return session


CsrfSessionDep = Annotated[Session, Depends(csrf_session)]
