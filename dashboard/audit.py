"""The audit log: every change people make through the dashboard or its commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

# Every action and entity an audit entry names (the registry load and `envmon silence`/`maintenance` write theirs in
# SQL of their own). The administration page shows each in words (`audit_action.*`, `audit_entity.*` in the
# catalogue; tests/unit/test_words.py holds both lists to it), so a new one needs its words too.
AuditAction = Literal["create", "update", "activate", "deactivate", "enable", "disable", "change_role", "end",
                      "upload", "upsert", "set", "registry.load", "review.propose", "review.approve",
                      "review.reject", "review.withdraw"]
AuditEntity = Literal["user", "site", "device", "recipient", "limit", "escalation_chain", "maintenance_window",
                      "maintenance", "silence", "site_document", "data_mark", "enforcement_record", "permit",
                      "permit_limit", "registry"]


def write_audit(
    conn: psycopg.Connection, *, actor: str, action: AuditAction, entity: AuditEntity, key: str | None,
    detail: dict[str, Any],
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
