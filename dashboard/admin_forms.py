"""What the administration edit pages show: one device, recipient, escalation chain or limit, as its form reads it."""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

Kind = Literal["devices", "recipients", "chains", "limits"]

_ONE: dict[Kind, str] = {
    "devices": "SELECT d.mn AS key, s.code AS site_code, d.kind, d.transport, d.point_kind, d.point_name_zh,"
               " d.point_name_en, array_to_string(d.pollutants, ' ') AS pollutants,"
               " d.reporting_interval_seconds AS interval, d.active FROM devices d JOIN sites s ON s.id = d.site_id"
               " WHERE d.mn = %s",
    "recipients": "SELECT code AS key, name, phone, locale, role, active FROM recipients WHERE code = %s",
    "chains": "SELECT c.code AS key, c.name, c.categories, c.repeat_interval_seconds AS repeat, coalesce((SELECT"
              " string_agg(step, E'\\n' ORDER BY position) FROM (SELECT st.position, string_agg(r.code, '+'"
              " ORDER BY r.code) || ':' || min(st.delay_seconds) AS step FROM escalation_steps st JOIN recipients r"
              " ON r.id = st.recipient_id WHERE st.chain_id = c.id GROUP BY st.position) s), '') AS steps"
              " FROM escalation_chains c WHERE c.code = %s",
    "limits": "SELECT l.id::text AS key, l.scope, coalesce(s.code, dv.mn, '*') AS target, l.pollutant, l.basis,"
              " l.direction, l.lower_value AS lower, l.upper_value AS upper, l.unit, l.source, l.valid_from,"
              " l.valid_to FROM limits l LEFT JOIN sites s ON s.id = l.site_id LEFT JOIN devices dv"
              " ON dv.id = l.device_id WHERE l.id = %s",
}


def read_one(conn: psycopg.Connection, kind: Kind, key: str) -> dict[str, Any]:
    """The row an edit page shows; LookupError when there is none (or a limit id is not a number)."""
    if kind == "limits" and not key.isdigit():
        raise LookupError(key)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_ONE[kind], (int(key) if kind == "limits" else key,)).fetchone()
    if row is None:
        raise LookupError(key)
    return row


def as_form(row: dict[str, Any]) -> dict[str, str]:
    """A row's values as the form's fields hold them (numbers as typed, none as empty)."""
    shown: dict[str, str] = {}
    for key, value in row.items():
        if isinstance(value, float):
            shown[key] = repr(value).removesuffix(".0") if value.is_integer() else repr(value)
        elif isinstance(value, list):
            shown.update({f"category_{v}": "1" for v in value})
        else:
            shown[key] = "" if value is None else str(value)
    return shown
