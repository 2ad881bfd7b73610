"""Editing what administrators created: a plant's details, and deactivation of plants, devices and recipients.

Rows that history refers to (readings, alerts, notifications, reports) are never deleted: deactivating one
takes it out of ingest, the engine and routing (they read active rows only) and keeps every old record
readable. Each change writes its audit entry, with the values before and after, in the same transaction.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

import psycopg
from psycopg.rows import dict_row

from dashboard.admin_registry import NewPlant, check_plant
from dashboard.admin_store import AdminError
from dashboard.audit import write_audit

Entity = Literal["sites", "devices", "recipients"]
# Each table's natural key, as people name a row (plant code, device MN, recipient code).
KEYS: dict[Entity, str] = {"sites": "code", "devices": "mn", "recipients": "code"}
_EDITABLE = ("name_zh", "name_en", "district", "industry", "latitude", "longitude")


def edit_plant(conn: psycopg.Connection, p: NewPlant, *, actor: str, now: datetime) -> None:
    """Change a plant's names, district, industry and position (its code is its identity and stays)."""
    check_plant(p)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        before = cur.execute(f"SELECT {', '.join(_EDITABLE)} FROM sites WHERE code = %s FOR UPDATE",
                             (p.code,)).fetchone()
        if before is None:
            raise LookupError(p.code)
        if cur.execute("SELECT 1 FROM districts WHERE code = %s", (p.district,)).fetchone() is None:
            raise AdminError(f"no district {p.district}")
        after = {k: v for k, v in asdict(p).items() if k in _EDITABLE}
        cur.execute(f"UPDATE sites SET {', '.join(f'{k} = %({k})s' for k in _EDITABLE)}, updated_at = %(now)s"
                    " WHERE code = %(code)s", {**after, "code": p.code, "now": now})
        changed = {k: {"before": before[k], "after": after[k]} for k in _EDITABLE if before[k] != after[k]}
        write_audit(conn, actor=actor, action="update", entity="site", key=p.code, detail=changed, now=now)


def set_active(conn: psycopg.Connection, entity: Entity, key: str, *, active: bool, actor: str,
               now: datetime) -> None:
    """Deactivate (or reactivate) a plant, device or recipient; LookupError when there is no such row."""
    column = KEYS[entity]
    with conn.transaction():
        row = conn.execute(f"UPDATE {entity} SET active = %s, updated_at = %s WHERE {column} = %s RETURNING 1",
                           (active, now, key)).fetchone()
        if row is None:
            raise LookupError(key)
        write_audit(conn, actor=actor, action="activate" if active else "deactivate", entity=entity.rstrip("s"),
                    key=key, detail={"active": active}, now=now)
