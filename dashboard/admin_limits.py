"""Changing and ending limits without rewriting what was judged against them.

A limit in force is never changed in place: alerts, reports and hourly/daily judgments name the limit row
they were judged against, so an edit ends the old row at `now` (valid_to) and adds a new version from `now`
with the new values. Ending a limit sets its valid_to and keeps the row. A limit not yet in force has judged
nothing and is changed in place. Each change writes its audit entry with the values before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard.admin_registry import NewLimit, check_limit
from dashboard.admin_store import AdminError
from dashboard.audit import write_audit
from dashboard.repeat import AlreadyDone, Notice

_VALUES = ("direction", "lower_value", "upper_value", "source")
# Every column a new version copies from the old one (the values changed are set after the copy). Not the preset
# or the permit it came from: its values are no longer theirs, and a report must not say "limit from the permit".
_COPIED = ("scope", "site_id", "device_id", "pollutant", "scheme", "basis", "direction", "lower_value", "upper_value",
           "warning_ratio", "severe_multiple", "level2_lower_value", "level2_upper_value", "decimals", "unit", "source",
           "point_kinds")


@dataclass(frozen=True, slots=True)
class LimitEdit:
    """What an administrator changes on a limit: its direction, values and legal source."""

    direction: str
    lower_value: float | None
    upper_value: float | None
    source: str


def edit_limit(conn: psycopg.Connection, limit_id: int, e: LimitEdit, *, actor: str, now: datetime) -> int:
    """Change a limit's values; returns the id of the row that holds them (a new version when it was in force)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        before = _current(cur, limit_id, now)
        check_limit(NewLimit(site_code="-", device_mn=None, pollutant=before["pollutant"], basis=before["basis"],
                             direction=e.direction, lower_value=e.lower_value, upper_value=e.upper_value,
                             source=e.source))
        after = {"direction": e.direction, "lower_value": e.lower_value, "upper_value": e.upper_value,
                 "source": e.source}
        changed = {k: {"before": before[k], "after": after[k]} for k in _VALUES if before[k] != after[k]}
        if not changed:
            return limit_id
        kept = limit_id if before["valid_from"] >= now else _new_version(cur, before, now)
        cur.execute(f"UPDATE limits SET {''.join(f'{k} = %({k})s, ' for k in _VALUES)}preset = NULL, permit_id = NULL,"
                    " updated_at = %(now)s WHERE id = %(id)s", {**after, "id": kept, "now": now})
        write_audit(conn, actor=actor, action="update", entity="limit", key=str(limit_id),
                    detail={**changed, "limit_id": {"before": limit_id, "after": kept}}, now=now)
    return kept


def end_limit(conn: psycopg.Connection, limit_id: int, *, actor: str, now: datetime) -> None:
    """End a limit now: the row stays for what was judged against it."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        before = _current(cur, limit_id, now)
        if before["valid_from"] >= now:
            raise AdminError("admin_error_limit_future")
        cur.execute("UPDATE limits SET valid_to = %(now)s, ended_by = %(actor)s, updated_at = %(now)s"
                    " WHERE id = %(id)s", {"id": limit_id, "now": now, "actor": actor})
        write_audit(conn, actor=actor, action="deactivate", entity="limit", key=str(limit_id),
                    detail={"valid_to": {"before": _iso(before["valid_to"]), "after": now.isoformat()}}, now=now)


def _current(cur: psycopg.Cursor[dict[str, Any]], limit_id: int, now: datetime) -> dict[str, Any]:
    """The limit row, locked; LookupError when there is none, AdminError when it has already ended."""
    row = cur.execute("SELECT * FROM limits WHERE id = %s FOR UPDATE", (limit_id,)).fetchone()
    if row is None:
        raise LookupError(limit_id)
    if row["valid_to"] is not None and row["valid_to"] <= now:
        raise AlreadyDone(Notice("repeat.limit_ended", row["ended_by"], row["valid_to"], id=limit_id))
    return row


def _new_version(cur: psycopg.Cursor[dict[str, Any]], before: dict[str, Any], now: datetime) -> int:
    """Copy the row into a new version from `now` (to the old row's end), and end the old row at `now`."""
    columns = ", ".join(_COPIED)
    row = cur.execute(f"INSERT INTO limits ({columns}, valid_from, valid_to) SELECT {columns}, %(now)s, %(end)s"
                      " FROM limits WHERE id = %(id)s RETURNING id",
                      {"id": before["id"], "now": now, "end": before["valid_to"]}).fetchone()
    assert row is not None
    cur.execute("UPDATE limits SET valid_to = %(now)s, updated_at = %(now)s WHERE id = %(id)s",
                {"id": before["id"], "now": now})
    return int(row["id"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
