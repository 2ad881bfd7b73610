"""The audit log: every change people make through the dashboard or its commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def write_audit(
    conn: psycopg.Connection, *, actor: str, action: str, entity: str, key: str | None, detail: dict[str, Any],
    now: datetime,
) -> None:
    """Append one entry (in the caller's transaction, so the change and its record commit together)."""
    conn.execute(
        "INSERT INTO audit_log (time, actor, action, entity, entity_key, detail) VALUES (%s, %s, %s, %s, %s, %s)",
        (now, actor, action, entity, key, Jsonb(detail)),
    )


def list_audit(conn: psycopg.Connection, *, limit: int = 200) -> list[tuple[Any, ...]]:
    """The newest entries."""
    return conn.execute(
        "SELECT time, actor, action, entity, entity_key, detail FROM audit_log ORDER BY time DESC, id DESC LIMIT %s",
        (limit,),
    ).fetchall()
