"""Server-side sessions: a random token in the cookie, its SHA-256 and the CSRF token in `dashboard_sessions`."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from dashboard.access import User
from dashboard.config import DashboardConfig

# last_seen_at is written at most this often, so reading pages does not write a row per request.
TOUCH_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: who, their CSRF token and language."""

    user: User
    csrf_token: str
    locale: str


def token_hash(token: str) -> bytes:
    """What the table stores for a cookie token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def session_expires_at(created_at: datetime, last_seen_at: datetime, config: DashboardConfig) -> datetime:
    """When a session ends: idle timeout from the last request, capped by the absolute lifetime."""
    idle_end = last_seen_at + timedelta(seconds=config.session_idle_seconds)
    return min(idle_end, created_at + timedelta(seconds=config.session_max_seconds))


def create_session(
    conn: psycopg.Connection, user_id: int, *, locale: str, now: datetime, config: DashboardConfig
) -> str:
    """A new session for the user; returns the cookie token (a fresh one at every login: no fixation)."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO dashboard_sessions (token_hash, user_id, csrf_token, locale, created_at, last_seen_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (token_hash(token), user_id, secrets.token_urlsafe(32), locale, now, now, session_expires_at(now, now, config)),
    )
    return token


_LOAD = """
SELECT u.id, u.username, u.display_name, u.role, u.districts, u.site_codes,
       s.csrf_token, s.locale, s.created_at, s.last_seen_at
FROM dashboard_sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %s AND s.expires_at > %s AND NOT u.disabled
"""


def load_session(conn: psycopg.Connection, token: str, *, now: datetime, config: DashboardConfig) -> Session | None:
    """The live session of a cookie token, or None (unknown, expired, or the user was disabled)."""
    row = conn.execute(_LOAD, (token_hash(token), now)).fetchone()
    if row is None:
        return None
    user = User(int(row[0]), row[1], row[2], row[3], tuple(row[4]), tuple(row[5]))
    if (now - row[9]).total_seconds() >= TOUCH_SECONDS:
        conn.execute(
            "UPDATE dashboard_sessions SET last_seen_at = %s, expires_at = %s WHERE token_hash = %s",
            (now, session_expires_at(row[8], now, config), token_hash(token)),
        )
    return Session(user, row[6], row[7])


def set_session_locale(conn: psycopg.Connection, token: str, locale: str) -> None:
    """Remember the language the person chose."""
    conn.execute("UPDATE dashboard_sessions SET locale = %s WHERE token_hash = %s", (locale, token_hash(token)))


def delete_session(conn: psycopg.Connection, token: str) -> None:
    """Log out: the token opens nothing any more."""
    conn.execute("DELETE FROM dashboard_sessions WHERE token_hash = %s", (token_hash(token),))


def delete_user_sessions(conn: psycopg.Connection, user_id: int) -> None:
    """End every session of a user (disabled, role or password changed)."""
    conn.execute("DELETE FROM dashboard_sessions WHERE user_id = %s", (user_id,))
