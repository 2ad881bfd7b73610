"""Sign in and out, and the language switch."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dashboard.cookies import LOGIN_CSRF_NAME
from dashboard.deps import (
    Conn,
    CsrfSessionDep,
    FormDep,
    app_state,
    optional_session,
    policy_for,
    session_token,
    utc_now,
)
from dashboard.ratelimit import mark_succeeded, reserve_attempt
from dashboard.render import page
from dashboard.sessions import create_session, delete_session, set_session_locale
from dashboard.users import authenticate
from envmon.words import pick_locale

router = APIRouter(include_in_schema=False)


def _login_page(request: Request, error: str | None, status_code: int = 200, lang: str | None = None) -> Response:
    """The login form with a fresh double-submit token (there is no session to hold one yet), in `lang` (the
    refused form's language) or `?lang=`."""
    token = secrets.token_urlsafe(24)
    locale = pick_locale(lang or request.query_params.get("lang"), app_state(request).settings.locale)
    response = page(request, "login.html", None, status_code=status_code, locale=locale, login_csrf=token,
                    error=error, https_needed=policy_for(request) is None,
                    next_path=safe_next(request.query_params.get("next")))
    policy = policy_for(request)
    response.set_cookie(LOGIN_CSRF_NAME, token, httponly=True, samesite="strict", path="/login",
                        secure=bool(policy and policy.secure))
    return response


@router.get("/login")
def login_form(request: Request, conn: Conn) -> Response:
    """The login page (or the overview when already signed in)."""
    if optional_session(request, conn) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_page(request, None)


@router.post("/login")
def login(request: Request, conn: Conn, form: FormDep) -> Response:
    """Check the password (rate limited); on success a new session and its cookie."""
    state = app_state(request)
    policy = policy_for(request)
    if policy is None:
        return _login_page(request, "login_needs_https", 400)
    expected = request.cookies.get(LOGIN_CSRF_NAME, "")
    if not expected or not hmac.compare_digest(expected.encode(), form.get("login_csrf", "").encode()):
        return _login_page(request, "login_failed", 403, form.get("lang"))
    username, client, now = form.get("username", "").strip().lower(), _client(request), utc_now()
    attempt = reserve_attempt(conn, username=username, client=client, now=now, config=state.config)
    if attempt is None:
        return _login_page(request, "login_limited", 429, form.get("lang"))
    user_id = authenticate(conn, username, form.get("password", ""))
    if user_id is None:
        return _login_page(request, "login_failed", 401, form.get("lang"))  # the reservation stays a failure
    with conn.transaction():
        mark_succeeded(conn, attempt)
        locale = pick_locale(form.get("lang"), state.settings.locale)
        token = create_session(conn, user_id, locale=locale, now=now, config=state.config)
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(policy.name, token, httponly=True, secure=policy.secure, samesite="lax", path="/",
                        max_age=state.config.session_max_seconds)
    response.delete_cookie(LOGIN_CSRF_NAME, path="/login")
    return response


def safe_next(wanted: str | None) -> str:
    """A path of this site to go to after signing in; "/" for anything else (no open redirect)."""
    if not wanted or not wanted.startswith("/") or wanted.startswith("//") or "\\" in wanted or len(wanted) > 500:
        return "/"
    return wanted if all(32 < ord(ch) < 127 for ch in wanted) else "/"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/logout")
def logout(request: Request, conn: Conn, session: CsrfSessionDep) -> Response:
    """End the session and drop its cookie."""
    token = session_token(request)
    if token:
        delete_session(conn, token)
    response = RedirectResponse("/login", status_code=303)
    policy = policy_for(request)
    if policy:
        response.delete_cookie(policy.name, path="/", secure=policy.secure, httponly=True, samesite="lax")
    return response


@router.post("/locale")
def switch_locale(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """Switch the session's language and return to the page (a local path only)."""
    token = session_token(request)
    if token:
        set_session_locale(conn, token, pick_locale(form.get("locale"), session.locale))
    back = form.get("back", "/")
    return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", status_code=303)
