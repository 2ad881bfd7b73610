"""Login rate limiting: a pure decision over recent failures, and the queries that count them."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from dashboard.config import DashboardConfig


def is_login_allowed(user_failures: int, client_failures: int, config: DashboardConfig) -> bool:
    """True while both the username and the client address are under their failure limits."""
    return (
        user_failures < config.login_max_failures_per_user and client_failures < config.login_max_failures_per_client
    )


def recent_failures(conn: psycopg.Connection, *, username: str, client: str, since: datetime) -> tuple[int, int]:
    """Failed attempts since `since` for the username and for the client address."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE username = %(u)s), count(*) FILTER (WHERE client = %(c)s)"
        " FROM login_attempts WHERE time >= %(since)s AND NOT succeeded AND (username = %(u)s OR client = %(c)s)",
        {"u": username, "c": client, "since": since},
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def check_login_allowed(
    conn: psycopg.Connection, *, username: str, client: str, now: datetime, config: DashboardConfig
) -> bool:
    """True when a login attempt may be checked at all (not rate limited)."""
    since = now - timedelta(seconds=config.login_window_seconds)
    user_failures, client_failures = recent_failures(conn, username=username, client=client, since=since)
    return is_login_allowed(user_failures, client_failures, config)


def record_attempt(conn: psycopg.Connection, *, username: str, client: str, now: datetime, succeeded: bool) -> None:
    """Store one attempt (committed by the caller's transaction)."""
    conn.execute(
        "INSERT INTO login_attempts (time, username, client, succeeded) VALUES (%s, %s, %s, %s)",
        (now, username, client, succeeded),
    )
