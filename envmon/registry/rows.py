"""Row-level pieces of the registry store: load counts, the upsert that touches only changed rows, point rules.

Shared by envmon/registry/store.py and the enterprise file's storage (which store.py calls), so neither
imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass
class LoadCounts:
    """How many rows of each kind were inserted or updated."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, inserted: bool) -> None:
        bucket = self.inserted if inserted else self.updated
        bucket[table] = bucket.get(table, 0) + 1

    @property
    def changed(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values())


@dataclass(frozen=True)
class Kept:
    """Columns the stored row keeps while `holds` (SQL on the stored row and EXCLUDED) is true: the load
    rewrites them only together with a change of another value."""

    columns: tuple[str, ...]
    holds: str


def upsert_row(
    conn: psycopg.Connection,
    table: str,
    key: list[str],
    row: dict[str, Any],
    counts: LoadCounts,
    conflict: str | None = None,
    kept: Kept | None = None,
) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE only when a value differs; returns the row id."""
    cols = list(row)
    updates = [c for c in cols if c not in key]
    target = conflict or f"({', '.join(key)})"
    set_clause = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
    differs = _differs(table, [c for c in updates if not kept or c not in kept.columns])
    if kept is not None:
        differs = f"({differs}) OR (NOT ({kept.holds}) AND ({_differs(table, list(kept.columns))}))"
    id_col = "code" if table == "districts" or table == "pollutants" else "id"
    query = (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        f"ON CONFLICT {target} DO UPDATE SET {set_clause}"
        + (", updated_at = now()" if table not in ("districts", "pollutants") else "")
        + f" WHERE {differs} RETURNING {id_col}, (xmax = 0)"
    )
    found = conn.execute(query, list(row.values())).fetchone()
    if found is not None:
        counts.add(table, bool(found[1]))
        return found[0]
    where = " AND ".join(f"{k} IS NOT DISTINCT FROM %s" for k in key)
    existing = conn.execute(f"SELECT {id_col} FROM {table} WHERE {where}", [row[k] for k in key]).fetchone()
    assert existing is not None
    return existing[0]



def _differs(table: str, columns: list[str]) -> str:
    """SQL: some of these columns of the stored row differ from the row offered."""
    return " OR ".join(f"{table}.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in columns) or "false"


def applies_at(point_kinds: Iterable[str] | None, point_kind: str) -> bool:
    """Whether a limit restricted to these point kinds (none: anywhere) covers a device at this point."""
    kinds = list(point_kinds or ())
    return not kinds or point_kind in kinds


