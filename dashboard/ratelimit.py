"""Login rate limiting: a pure decision over recent failures, and the queries that count and reserve them.

An attempt is reserved before its password is checked: under a lock per username and per client
address, the recent failures are counted and, when under the limits, a failed attempt is recorded in
the same transaction. Concurrent logins therefore see each other, and no more passwords are checked
than the limit allows (11 were checked with a limit of 5 when the count and the record were apart).
A reservation whose password turns out right is marked succeeded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from dashboard.config import DashboardConfig

# First keys of the two-key advisory locks (second key: hashtext of the username or the address).
# "LGNU"/"LGNC": distinct from the alert engine's "ALRT" namespace (alerts/leader.py).
USER_LOCK_NAMESPACE = 0x4C474E55
CLIENT_LOCK_NAMESPACE = 0x4C474E43


def is_login_allowed(user_failures: int, client_failures: int, config: DashboardConfig) -> bool:
    """True while both the username and the client address are under their failure limits."""
    return (
        user_failures < config.login_max_failures_per_user and client_failures < config.login_max_failures_per_client
    )


def recent_failures(conn: psycopg.Connection, *, username: str, client: str, since: datetime) -> tuple[int, int]:
    """Failed attempts (reservations included) since `since` for the username and for the client address."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE username = %(u)s), count(*) FILTER (WHERE client = %(c)s)"
        " FROM login_attempts WHERE time >= %(since)s AND NOT succeeded AND (username = %(u)s OR client = %(c)s)",
        {"u": username, "c": client, "since": since},
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def reserve_attempt(
    conn: psycopg.Connection, *, username: str, client: str, now: datetime, config: DashboardConfig
) -> int | None:
    """The id of a new attempt, recorded as failed until `mark_succeeded`; None when rate limited."""
    since = now - timedelta(seconds=config.login_window_seconds)
    with conn.transaction():
        # Always the username's lock before the address's: two logins never wait on each other in a cycle.
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (USER_LOCK_NAMESPACE, username))
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (CLIENT_LOCK_NAMESPACE, client))
        user_failures, client_failures = recent_failures(conn, username=username, client=client, since=since)
        if not is_login_allowed(user_failures, client_failures, config):
            return None
        row = conn.execute(
            "INSERT INTO login_attempts (time, username, client, succeeded) VALUES (%s, %s, %s, false) RETURNING id",
            (now, username, client),
        ).fetchone()
    assert row is not None
    return int(row[0])


def mark_succeeded(conn: psycopg.Connection, attempt_id: int) -> None:
    """The reserved attempt's password was right (committed by the caller's transaction)."""
    conn.execute("UPDATE login_attempts SET succeeded = true WHERE id = %s", (attempt_id,))
