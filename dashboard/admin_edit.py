"""Editing what administrators created: plants, devices, recipients and escalation chains; deactivation.

Rows that history refers to (readings, alerts, notifications, reports) are never deleted: deactivating one
takes it out of ingest, the engine and routing (they read active rows only) and keeps every old record
readable. Each change writes its audit entry, with the values before and after, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from dashboard.admin_registry import (
    check_chain,
    check_plant,
    parse_steps,
    recipient_ids,
    steps_text,
    write_steps,
)
from dashboard.admin_store import NewDevice, check_device, check_recipient, refuse_unknown_district
from dashboard.audit import AuditAction, AuditEntity, write_audit
from dashboard.plant import Plant
from dashboard.repeat import already

Entity = Literal["sites", "devices", "recipients"]
# Each table's natural key, as people name a row (plant code, device MN, recipient code).
KEYS: dict[Entity, str] = {"sites": "code", "devices": "mn", "recipients": "code"}
# How the audit log names a row of each table.
AUDITED: dict[Entity, AuditEntity] = {"sites": "site", "devices": "device", "recipients": "recipient"}
_EDITABLE = ("name_zh", "name_en", "district", "industry", "latitude", "longitude")


def edit_plant(conn: psycopg.Connection, p: Plant, *, actor: str, now: datetime) -> None:
    """Change a plant's names, district, industry and position (its code is its identity and stays)."""
    check_plant(p)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        before = cur.execute(f"SELECT {', '.join(_EDITABLE)} FROM sites WHERE code = %s FOR UPDATE",
                             (p.code,)).fetchone()
        if before is None:
            raise LookupError(p.code)
        refuse_unknown_district(conn, p.district)
        after = {k: v for k, v in asdict(p).items() if k in _EDITABLE}
        cur.execute(f"UPDATE sites SET {', '.join(f'{k} = %({k})s' for k in _EDITABLE)}, updated_at = %(now)s"
                    " WHERE code = %(code)s", {**after, "code": p.code, "now": now})
        changed = {k: {"before": before[k], "after": after[k]} for k in _EDITABLE if before[k] != after[k]}
        write_audit(conn, actor=actor, action="update", entity="site", key=p.code, detail=changed, now=now)


def set_active(conn: psycopg.Connection, entity: Entity, key: str, *, active: bool, actor: str,
               now: datetime) -> None:
    """Deactivate (or reactivate) a plant, device or recipient; LookupError when there is no such row."""
    column = KEYS[entity]
    action: AuditAction = "activate" if active else "deactivate"
    with conn.transaction():
        row = conn.execute(f"SELECT active FROM {entity} WHERE {column} = %s FOR UPDATE", (key,)).fetchone()
        if row is None:
            raise LookupError(key)
        if row[0] == active:  # a second click or a stale page: say who did it first, write nothing
            key_words = "repeat.already_active" if active else "repeat.already_deactivated"
            raise already(conn, key_words, entity=AUDITED[entity], entity_key=key, actions=(action,))
        conn.execute(f"UPDATE {entity} SET active = %s, updated_at = %s WHERE {column} = %s", (active, now, key))
        write_audit(conn, actor=actor, action=action, entity=AUDITED[entity], key=key, detail={"active": active},
                    now=now)


@dataclass(frozen=True, slots=True)
class DeviceEdit:
    """What an administrator may change on a device: its MN, plant, kind and transport are its identity in the
    readings and the broker, so they stay."""

    point_kind: str
    point_name_zh: str
    point_name_en: str
    pollutants: tuple[str, ...]
    reporting_interval_seconds: int


@dataclass(frozen=True, slots=True)
class RecipientEdit:
    """A recipient's name, phone, language and role (the code is how chains name them, so it stays)."""

    name: str
    phone: str
    locale: str
    role: str


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The audit entry's detail: each field that changed, with its value before and after."""
    return {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}


def edit_device(conn: psycopg.Connection, mn: str, e: DeviceEdit, *, actor: str, now: datetime) -> None:
    """Change a device's point, pollutants and reporting interval, validated as on registration."""
    known = {r[0] for r in conn.execute("SELECT code FROM pollutants").fetchall()}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        before = cur.execute(
            "SELECT s.code AS site_code, d.kind, d.point_kind, d.point_name_zh, d.point_name_en, d.pollutants,"
            " d.reporting_interval_seconds FROM devices d JOIN sites s ON s.id = d.site_id WHERE d.mn = %s"
            " FOR UPDATE OF d", (mn,)).fetchone()
        if before is None:
            raise LookupError(mn)
        check_device(NewDevice(site_code=before["site_code"], mn=mn, kind=before["kind"], **asdict(e)), known)
        after = {**asdict(e), "pollutants": list(e.pollutants)}
        _update(conn, "devices", "mn", mn, changes(before, after), actor=actor, entity="device", now=now)


def edit_recipient(conn: psycopg.Connection, code: str, e: RecipientEdit, *, actor: str, now: datetime) -> None:
    """Change a recipient's name, phone, language or role; notifications already sent keep the phone they used."""
    check_recipient(code, e.name, e.phone, e.locale, e.role)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        before = cur.execute("SELECT name, phone, locale, role FROM recipients WHERE code = %s FOR UPDATE",
                             (code,)).fetchone()
        if before is None:
            raise LookupError(code)
        after = {**asdict(e), "role": e.role or before["role"]}
        _update(conn, "recipients", "code", code, changes(before, after), actor=actor, entity="recipient", now=now)


def _update(conn: psycopg.Connection, table: str, column: str, key: str, changed: dict[str, dict[str, Any]], *,
            actor: str, entity: AuditEntity, now: datetime, audited: dict[str, dict[str, Any]] | None = None) -> None:
    """Write the changed columns and the audit entry (of `audited`, else of the columns); no change writes nothing."""
    detail = changed if audited is None else audited
    if not detail:
        return
    values = {k: v["after"] for k, v in changed.items()}
    conn.execute(f"UPDATE {table} SET {''.join(f'{k} = %({k})s, ' for k in values)}updated_at = %(now)s"
                 f" WHERE {column} = %(key)s", {**values, "key": key, "now": now})
    write_audit(conn, actor=actor, action="update", entity=entity, key=key, detail=detail, now=now)


@dataclass(frozen=True, slots=True)
class ChainEdit:
    """An escalation chain's name, categories, steps (as typed: RECIPIENT:DELAY_SECONDS) and repeat interval."""

    name: str
    categories: tuple[str, ...]
    steps_text: str
    repeat_interval_seconds: int


def edit_chain(conn: psycopg.Connection, code: str, e: ChainEdit, *, actor: str, now: datetime) -> None:
    """Change a chain's name, categories, steps and repeat interval; its code (the chain's name in logs) stays.
    Notifications already queued keep their recipient and phone; the next escalation step follows the new steps."""
    steps = parse_steps(e.steps_text)
    check_chain(code, e.name, e.categories, steps, e.repeat_interval_seconds)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        before = cur.execute(_CHAIN, (code,)).fetchone()
        if before is None:
            raise LookupError(code)
        ids = recipient_ids(conn, steps)
        after = {"name": e.name, "categories": list(e.categories), "repeat_interval_seconds": e.repeat_interval_seconds,
                 "steps": steps_text(steps)}
        changed = changes(before, after)
        if "steps" in changed:
            conn.execute("DELETE FROM escalation_steps WHERE chain_id = %s", (before["id"],))
            write_steps(conn, int(before["id"]), steps, ids)
        columns = {k: v for k, v in changed.items() if k != "steps"}
        _update(conn, "escalation_chains", "code", code, columns, actor=actor, entity="escalation_chain", now=now,
                audited=changed)


_CHAIN = ("SELECT c.id, c.name, c.categories, c.repeat_interval_seconds, coalesce((SELECT string_agg(step, ', '"
          " ORDER BY position) FROM (SELECT st.position, string_agg(r.code, '+' ORDER BY r.code) || ':'"
          " || min(st.delay_seconds) AS step FROM escalation_steps st JOIN recipients r ON r.id = st.recipient_id"
          " WHERE st.chain_id = c.id GROUP BY st.position) s), '') AS steps"
          " FROM escalation_chains c WHERE c.code = %s FOR UPDATE")
