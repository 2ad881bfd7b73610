"""A plant's enterprise file (企业档案): permit and limits in force, EIA, enforcement, documents, alert history.

Every read goes through the plant row found under `scope_clause`, so a person sees the file of a
plant they may see, or nothing. Edits (enforcement records, permit limits) are audited and permit
limits are re-derived at once (envmon/registry/permits.py), so the engine judges by them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard.access import User, scope_clause
from dashboard.admin_store import AdminError, check_bounds
from dashboard.audit import write_audit
from envmon.registry.in_force import limit_in_force
from envmon.registry.permits import derive_permit_limits

ALERT_HISTORY_DAYS = 365
ENFORCEMENT_KINDS = ("inspection", "warning", "order_to_correct", "penalty", "daily_penalty", "seizure",
                     "production_limit", "referral")
ENFORCEMENT_STATUSES = ("open", "rectifying", "closed", "appealed")

_SITE = "SELECT s.id, s.code, s.district FROM sites s WHERE s.code = %(code)s AND {scope}"

_PERMITS = """
SELECT p.id, p.number, p.issued_by, p.valid_from, p.valid_to, o.code AS outlet, o.name_zh, o.name_en,
       pl.pollutant, pol.name_zh AS pollutant_zh, pol.name_en AS pollutant_en, pol.canonical_unit AS unit,
       pl.basis, pl.direction, pl.lower_value, pl.upper_value
FROM permits p
LEFT JOIN permit_outlets o ON o.permit_id = p.id
LEFT JOIN permit_limits pl ON pl.outlet_id = o.id
LEFT JOIN pollutants pol ON pol.code = pl.pollutant
WHERE p.site_id = %(site_id)s
ORDER BY p.valid_from DESC, o.code, pl.pollutant, pl.basis
"""

# Per device and pollutant, the discharge limit in force now and where it comes from (the plant page's order, but
# a daily limit first: permits state daily ones).
_IN_FORCE = """
SELECT d.mn, dp.code AS pollutant, l.basis, l.direction, l.lower_value, l.upper_value, l.source,
       l.permit_id IS NOT NULL AS from_permit
FROM devices d
CROSS JOIN LATERAL unnest(d.pollutants) AS dp(code)
JOIN LATERAL {limit} l ON true
WHERE d.site_id = %(site_id)s AND d.active
ORDER BY d.mn, dp.code
""".format(limit=limit_in_force(("day", "hour", "instant"), condition="lim.scheme = 'discharge'"))

_ALERTS = """
SELECT a.id, a.code, a.severity, a.state, a.pollutant, a.opened_at, a.peak_value, d.mn, l.source AS limit_source
FROM alerts a JOIN devices d ON d.id = a.device_id LEFT JOIN limits l ON l.id = a.limit_id
WHERE d.site_id = %(site_id)s AND a.opened_at >= %(since)s
ORDER BY a.opened_at DESC LIMIT 50
"""


def find_site(conn: psycopg.Connection, user: User, code: str) -> dict[str, Any] | None:
    """The plant row (id, code, district) when the user may see it."""
    scope, params = scope_clause(user, "s")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_SITE.format(scope=scope), {**params, "code": code}).fetchone()


def load_file(conn: psycopg.Connection, site_id: int, *, now: datetime) -> dict[str, Any]:
    """Everything the plant page shows of the file, for a plant already checked against the user's scope."""
    since = now - timedelta(days=ALERT_HISTORY_DAYS)
    with conn.cursor(row_factory=dict_row) as cur:
        q = {"site_id": site_id, "now": now, "since": since}
        return {
            "permits": group_permits(cur.execute(_PERMITS, q).fetchall()),
            "in_force": cur.execute(_IN_FORCE, q).fetchall(),
            "eia": cur.execute("SELECT kind, number, authority, decided_on, note FROM eia_records "
                               "WHERE site_id = %(site_id)s ORDER BY decided_on DESC", q).fetchall(),
            "enforcement": cur.execute("SELECT decided_on, kind, case_number, penalty_yuan, status, summary "
                                       "FROM enforcement_records WHERE site_id = %(site_id)s "
                                       "ORDER BY decided_on DESC, id DESC", q).fetchall(),
            "documents": cur.execute("SELECT id, category, filename, content_type, size_bytes, sha256, uploaded_by,"
                                     " uploaded_at FROM site_documents WHERE site_id = %(site_id)s "
                                     "ORDER BY uploaded_at DESC", q).fetchall(),
            "alerts": cur.execute(_ALERTS, q).fetchall(),
        }


def group_permits(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat permit/outlet/limit rows as permits holding their limit rows (outlet named on each)."""
    permits: dict[int, dict[str, Any]] = {}
    for row in rows:
        permit = permits.setdefault(row["id"], {k: row[k] for k in ("number", "issued_by", "valid_from", "valid_to")}
                                    | {"limits": []})
        if row["pollutant"] is not None:
            permit["limits"].append(row)
    return list(permits.values())


def load_document(conn: psycopg.Connection, user: User, code: str, document_id: int) -> tuple[str, str, bytes] | None:
    """(filename, content type, bytes) of a document of a plant the user may see, or None."""
    scope, params = scope_clause(user, "s")
    row = conn.execute(
        "SELECT sd.filename, sd.content_type, sd.content FROM site_documents sd JOIN sites s ON s.id = sd.site_id "
        f"WHERE sd.id = %(id)s AND s.code = %(code)s AND {scope}", {**params, "id": document_id, "code": code},
    ).fetchone()
    return (row[0], row[1], bytes(row[2])) if row else None


@dataclass(frozen=True, slots=True)
class NewEnforcement:
    """An enforcement record as an inspector enters it."""

    decided_on: date
    kind: str
    case_number: str
    penalty_yuan: float | None
    status: str
    summary: str | None


def add_enforcement(conn: psycopg.Connection, site_id: int, rec: NewEnforcement, *, actor: str,
                    now: datetime) -> None:
    """Record an enforcement case (or update the one with this case number), audited."""
    check_bounds({k: v for k, v in asdict(rec).items() if not isinstance(v, date)})
    if rec.kind not in ENFORCEMENT_KINDS or rec.status not in ENFORCEMENT_STATUSES or not rec.case_number.strip():
        raise AdminError("admin_error_enforcement")
    if rec.penalty_yuan is not None and rec.penalty_yuan < 0:
        raise AdminError("admin_error_penalty")
    with conn.transaction():
        conn.execute(
            "INSERT INTO enforcement_records (site_id, decided_on, kind, case_number, penalty_yuan, status, summary)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (site_id, case_number) DO UPDATE SET"
            " decided_on = EXCLUDED.decided_on, kind = EXCLUDED.kind, penalty_yuan = EXCLUDED.penalty_yuan,"
            " status = EXCLUDED.status, summary = EXCLUDED.summary, updated_at = now()",
            (site_id, rec.decided_on, rec.kind, rec.case_number.strip(), rec.penalty_yuan, rec.status, rec.summary),
        )
        write_audit(conn, actor=actor, action="upsert", entity="enforcement_record", key=rec.case_number,
                    detail={**asdict(rec), "decided_on": rec.decided_on.isoformat(), "site_id": site_id}, now=now)


@dataclass(frozen=True, slots=True)
class NewPermit:
    """A permit (or a new outlet on it) as an administrator enters it."""

    number: str
    issued_by: str | None
    valid_from: date
    valid_to: date
    outlet: str
    outlet_name_zh: str
    outlet_name_en: str
    device_mns: tuple[str, ...]


def add_permit(conn: psycopg.Connection, site_id: int, p: NewPermit, *, actor: str, now: datetime) -> None:
    """Create or update a permit and one of its outlets (devices of this plant only), audited."""
    check_bounds({k: v for k, v in asdict(p).items() if isinstance(v, str | None)})
    if not p.number.strip() or not p.outlet.strip() or p.valid_to < p.valid_from:
        raise AdminError("admin_error_permit")
    with conn.transaction():
        ids = [r[0] for r in conn.execute("SELECT id FROM devices WHERE site_id = %s AND mn = ANY(%s)",
                                          (site_id, list(p.device_mns))).fetchall()]
        if len(ids) != len(set(p.device_mns)):
            raise AdminError("admin_error_permit_devices")
        permit = conn.execute(
            "INSERT INTO permits (site_id, number, issued_by, valid_from, valid_to) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (site_id, number) DO UPDATE SET issued_by = EXCLUDED.issued_by, valid_from ="
            " EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to, updated_at = now() RETURNING id",
            (site_id, p.number.strip(), p.issued_by, p.valid_from, p.valid_to)).fetchone()
        assert permit is not None
        conn.execute(
            "INSERT INTO permit_outlets (permit_id, code, name_zh, name_en, device_ids) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (permit_id, code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,"
            " device_ids = EXCLUDED.device_ids, updated_at = now()",
            (permit[0], p.outlet.strip(), p.outlet_name_zh or p.outlet, p.outlet_name_en or p.outlet, ids))
        derive_permit_limits(conn, site_id)  # new validity or devices move the limits in force
        write_audit(conn, actor=actor, action="upsert", entity="permit", key=p.number,
                    detail={**asdict(p), "valid_from": p.valid_from.isoformat(), "valid_to": p.valid_to.isoformat(),
                            "device_mns": list(p.device_mns), "site_id": site_id}, now=now)


@dataclass(frozen=True, slots=True)
class NewPermitLimit:
    """A permitted limit set by an administrator on an outlet of a plant's permit."""

    permit_number: str
    outlet: str
    pollutant: str
    basis: str
    lower_value: float | None
    upper_value: float | None


def set_permit_limit(conn: psycopg.Connection, site_id: int, lim: NewPermitLimit, *, actor: str,
                     now: datetime) -> int:
    """Set one permitted limit and re-derive the plant's limits in force; returns how many come from permits."""
    check_bounds(asdict(lim))
    direction = ("range" if lim.lower_value is not None and lim.upper_value is not None
                 else "lower" if lim.lower_value is not None else "upper")
    if lim.upper_value is None and lim.lower_value is None or lim.basis not in ("instant", "hour", "day"):
        raise AdminError("admin_error_permit_limit")
    with conn.transaction():
        outlet = conn.execute(
            "SELECT o.id FROM permit_outlets o JOIN permits p ON p.id = o.permit_id "
            "WHERE p.site_id = %s AND p.number = %s AND o.code = %s", (site_id, lim.permit_number, lim.outlet),
        ).fetchone()
        if outlet is None:
            raise AdminError("admin_error_no_outlet", outlet=lim.outlet, permit=lim.permit_number)
        try:
            conn.execute(
                "INSERT INTO permit_limits (outlet_id, pollutant, basis, direction, lower_value, upper_value)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (outlet_id, pollutant, basis) DO UPDATE SET"
                " direction = EXCLUDED.direction, lower_value = EXCLUDED.lower_value,"
                " upper_value = EXCLUDED.upper_value, updated_at = now()",
                (outlet[0], lim.pollutant, lim.basis, direction, lim.lower_value, lim.upper_value))
        except (psycopg.errors.ForeignKeyViolation, psycopg.errors.CheckViolation) as exc:
            raise AdminError("admin_error_permit_limit_values") from exc
        in_force = derive_permit_limits(conn, site_id)
        write_audit(conn, actor=actor, action="set", entity="permit_limit", key=f"{lim.permit_number}/{lim.outlet}",
                    detail={**asdict(lim), "site_id": site_id}, now=now)
    return in_force
