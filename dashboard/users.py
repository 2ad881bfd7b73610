"""Dashboard users: creation with an argon2id hash, password check, listing and disabling."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard.access import ROLES
from dashboard.audit import write_audit
from dashboard.errors import Refused
from dashboard.passwords import MIN_PASSWORD_CHARS, hash_password, needs_rehash, verify_password
from dashboard.repeat import already
from dashboard.sessions import delete_user_sessions

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class UserError(Refused):
    """A user that cannot be created or changed as asked (`page.<key>` in the catalogue says why)."""


def check_new_user(username: str, role: str) -> None:
    """Refuse a malformed username or an unknown role."""
    if not USERNAME.match(username):
        raise UserError("user_error_username")
    if role not in ROLES:
        raise UserError("user_error_role", roles=", ".join(ROLES))


def create_user(
    conn: psycopg.Connection, *, username: str, role: str, password: str, actor: str, now: datetime,
    districts: tuple[str, ...] = (), site_codes: tuple[str, ...] = (), display_name: str | None = None,
) -> int:
    """Store a new user with an argon2id hash of the password; returns the id."""
    check_new_user(username, role)
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise UserError("user_error_password", chars=MIN_PASSWORD_CHARS) from exc
    with conn.transaction():
        if conn.execute("SELECT 1 FROM users WHERE username = %s", (username,)).fetchone():
            raise UserError("user_error_exists", username=username)
        row = conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, districts, site_codes, created_at,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (username, display_name or username, password_hash, role, list(districts), list(site_codes), now, now),
        ).fetchone()
        detail = {"role": role, "districts": list(districts), "site_codes": list(site_codes)}
        write_audit(conn, actor=actor, action="create", entity="user", key=username, detail=detail, now=now)
    assert row is not None
    return int(row[0])


def authenticate(conn: psycopg.Connection, username: str, password: str) -> int | None:
    """The user id when the password matches an enabled user; rehashes an outdated hash."""
    row = conn.execute(
        "SELECT id, password_hash FROM users WHERE username = %s AND NOT disabled", (username,)
    ).fetchone()
    if not verify_password(row[1] if row else None, password) or row is None:
        return None
    if needs_rehash(row[1]):
        conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (hash_password(password), row[0]))
    return int(row[0])


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every user without the hash."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, username, display_name, role, districts, site_codes, disabled, created_at FROM users"
            " ORDER BY username"
        ).fetchall()


def set_user_disabled(conn: psycopg.Connection, user_id: int, disabled: bool, *, actor: str, now: datetime) -> None:
    """Disable (ending their sessions) or enable a user."""
    with conn.transaction():
        row = conn.execute("SELECT username, disabled FROM users WHERE id = %s FOR UPDATE", (user_id,)).fetchone()
        if row is None:
            raise UserError("user_error_missing", id=user_id)
        if row[1] == disabled:  # a second click or a stale page: say who did it first, write nothing
            raise already(conn, "repeat.already_disabled" if disabled else "repeat.already_enabled", entity="user",
                          entity_key=row[0], actions=("disable" if disabled else "enable",))
        conn.execute("UPDATE users SET disabled = %s, updated_at = %s WHERE id = %s", (disabled, now, user_id))
        delete_user_sessions(conn, user_id)
        write_audit(conn, actor=actor, action="disable" if disabled else "enable", entity="user", key=row[0],
                    detail={}, now=now)


def set_user_role(
    conn: psycopg.Connection, user_id: int, *, role: str, districts: tuple[str, ...], site_codes: tuple[str, ...],
    actor: str, now: datetime,
) -> None:
    """Change a user's role and scope; their sessions end, so the change applies at once."""
    if role not in ROLES:
        raise UserError("user_error_role", roles=", ".join(ROLES))
    with conn.transaction():
        row = conn.execute(
            "UPDATE users SET role = %s, districts = %s, site_codes = %s, updated_at = %s WHERE id = %s"
            " RETURNING username", (role, list(districts), list(site_codes), now, user_id)).fetchone()
        if row is None:
            raise UserError("user_error_missing", id=user_id)
        delete_user_sessions(conn, user_id)
        detail = {"role": role, "districts": list(districts), "site_codes": list(site_codes)}
        write_audit(conn, actor=actor, action="change_role", entity="user", key=row[0], detail=detail, now=now)
