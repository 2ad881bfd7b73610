"""Administration changes (plants' devices, maintenance windows, recipients), each with its audit entry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, get_args

import psycopg
from psycopg.rows import dict_row

from dashboard.audit import write_audit
from dashboard.errors import Refused
from dashboard.repeat import already
from envmon.registry.bounds import BoundsError, check_fields
from envmon.registry.model import PointKind
from envmon.registry.service import issue_device_password
from envmon.settings import Settings
from envmon.words import text

PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
MN = re.compile(r"^[0-9A-Za-z]{6,24}$")
DEVICE_KINDS = ("water_analyser", "cems", "gas_detector")
POINT_KINDS: tuple[str, ...] = get_args(PointKind)  # outfall, workshop_outlet, stack, area
SYSTEM_CODES = {"water_analyser": "32", "cems": "31", "gas_detector": "52"}


class AdminError(Refused):
    """A registry change refused because its input is wrong (`page.<key>` in the catalogue says why)."""


# A new record's identifier that another record already has: the column, and the refusal's catalogue key.
_TAKEN = {
    "sites": ("code", "admin_error_plant_exists"),
    "devices": ("mn", "admin_error_device_exists"),
    "recipients": ("code", "admin_error_recipient_exists"),
    "escalation_chains": ("code", "admin_error_chain_exists"),
}


def refuse_taken(conn: psycopg.Connection, table: str, value: str) -> None:
    """Refuse a new record of `table` whose code (a device's MN) is already taken."""
    column, key = _TAKEN[table]
    if conn.execute(f"SELECT 1 FROM {table} WHERE {column} = %s", (value,)).fetchone():
        raise AdminError(key, **{column: value})


def refuse_unknown_district(conn: psycopg.Connection, district: str) -> None:
    """Refuse a plant in a district the registry does not have."""
    if conn.execute("SELECT 1 FROM districts WHERE code = %s", (district,)).fetchone() is None:
        raise AdminError("admin_error_no_district", district=district)


class OutOfBounds(AdminError):
    """A value the registry's bounds refuse, said in the reader's language (field: what is wrong)."""

    def __init__(self, refused: BoundsError) -> None:
        self.refused = refused
        super().__init__("admin_error_bounds")

    def words(self, locale: str) -> str:
        """Where and why, in the locale."""
        return text(locale, "page.admin_error_bounds").format(field=": ".join(self.refused.where),
                                                              detail=self.refused.detail(locale))


def check_bounds(values: Mapping[str, object]) -> None:
    """Refuse what the registry file would refuse too: non-finite or huge numbers, long or control-laden text."""
    try:
        check_fields(values)
    except BoundsError as exc:
        raise OutOfBounds(exc) from None


@dataclass(frozen=True, slots=True)
class NewDevice:
    """What an administrator enters for a device."""

    site_code: str
    mn: str
    kind: str
    point_kind: str
    point_name_zh: str
    point_name_en: str
    pollutants: tuple[str, ...]
    reporting_interval_seconds: int


def load_admin_lists(conn: psycopg.Connection, *, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """What the administration page lists."""
    queries = {
        "plants": "SELECT s.code, s.name_zh, s.name_en, s.district, s.industry, s.active, s.latitude, s.longitude,"
                  " (SELECT count(*) FROM devices d WHERE d.site_id = s.id) AS devices FROM sites s ORDER BY s.code",
        "devices": "SELECT d.mn, s.code AS site_code, d.kind, d.transport, d.pollutants, d.reporting_interval_seconds,"
                   " d.active FROM devices d JOIN sites s ON s.id = d.site_id ORDER BY d.mn",
        "limits": "SELECT l.id, l.scope, coalesce(s.code, dv.mn, '*') AS target, l.pollutant, l.basis, l.direction,"
                  " l.lower_value, l.upper_value, l.unit, l.source FROM limits l LEFT JOIN sites s ON s.id = l.site_id"
                  " LEFT JOIN devices dv ON dv.id = l.device_id WHERE l.valid_to IS NULL OR l.valid_to > %(now)s"
                  " ORDER BY l.pollutant, l.id",
        "recipients": "SELECT id, code, name, phone, locale, role, active FROM recipients ORDER BY code",
        "chains": "SELECT c.code, c.name, c.districts, c.categories, c.severities, c.repeat_interval_seconds,"
                  " (SELECT string_agg(step, ', ' ORDER BY position) FROM (SELECT st.position,"
                  " string_agg(r.code, '+' ORDER BY r.code) || ':' || min(st.delay_seconds) AS step"
                  " FROM escalation_steps st JOIN recipients r ON r.id = st.recipient_id WHERE st.chain_id = c.id"
                  " GROUP BY st.position) s) AS steps FROM escalation_chains c ORDER BY c.code",
        "maintenance": "SELECT m.id, s.code AS site_code, d.mn, m.starts_at, m.ends_at, m.reason, m.created_by"
                       " FROM maintenance_windows m LEFT JOIN sites s ON s.id = m.site_id"
                       " LEFT JOIN devices d ON d.id = m.device_id WHERE m.ends_at > %(now)s ORDER BY m.starts_at",
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return {name: cur.execute(sql, {"now": now}).fetchall() for name, sql in queries.items()}


def add_maintenance(
    conn: psycopg.Connection, *, site_code: str, device_mn: str | None, starts_at: datetime, ends_at: datetime,
    reason: str, actor: str, now: datetime,
) -> int:
    """A maintenance window for a plant (or one of its devices)."""
    check_bounds({"site": site_code, "device": device_mn, "reason": reason})
    if ends_at <= starts_at or not reason.strip():
        raise AdminError("admin_error_window")
    with conn.transaction():
        site = conn.execute("SELECT id FROM sites WHERE code = %s", (site_code,)).fetchone()
        if site is None:
            raise AdminError("admin_error_no_plant", code=site_code)
        device_id = None
        if device_mn:
            dev = conn.execute("SELECT id FROM devices WHERE mn = %s AND site_id = %s", (device_mn, site[0])).fetchone()
            if dev is None:
                raise AdminError("admin_error_no_device", mn=device_mn, site=site_code)
            device_id = dev[0]
        row = conn.execute(
            "INSERT INTO maintenance_windows (site_id, device_id, starts_at, ends_at, reason, created_by)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (None if device_id else site[0], device_id, starts_at, ends_at, reason, actor),
        ).fetchone()
        assert row is not None
        detail = {"site": site_code, "device": device_mn, "starts_at": starts_at.isoformat(),
                  "ends_at": ends_at.isoformat(), "reason": reason}
        write_audit(conn, actor=actor, action="create", entity="maintenance_window", key=str(row[0]), detail=detail,
                    now=now)
    return int(row[0])


def end_maintenance(conn: psycopg.Connection, window_id: int, *, actor: str, now: datetime) -> None:
    """End a window now (a future one is shortened to start and end now)."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE maintenance_windows SET starts_at = least(starts_at, %(now)s - interval '1 second'),"
            " ends_at = %(now)s WHERE id = %(id)s AND ends_at > %(now)s RETURNING id", {"now": now, "id": window_id},
        ).fetchone()
        if row is None:
            if conn.execute("SELECT 1 FROM maintenance_windows WHERE id = %s", (window_id,)).fetchone():
                raise already(conn, "repeat.window_ended", entity="maintenance_window", entity_key=str(window_id),
                              actions=("end",))
            raise AdminError("admin_error_no_window", id=window_id)
        write_audit(conn, actor=actor, action="end", entity="maintenance_window", key=str(window_id), detail={},
                    now=now)


def check_recipient(code: str, name: str, phone: str, locale: str, role: str) -> None:
    """Refuse a recipient without a code and a name, or with a phone not in E.164 or an unknown language."""
    check_bounds({"code": code, "name": name, "phone": phone, "locale": locale, "role": role})
    if not PHONE.match(phone) or locale not in ("zh-CN", "en") or not code.strip() or not name.strip():
        raise AdminError("admin_error_recipient")


def add_recipient(
    conn: psycopg.Connection, *, code: str, name: str, phone: str, locale: str, role: str, actor: str, now: datetime
) -> int:
    """A person who receives SMS (escalation chains name them by code)."""
    check_recipient(code, name, phone, locale, role)
    with conn.transaction():
        refuse_taken(conn, "recipients", code)
        row = conn.execute(
            "INSERT INTO recipients (code, name, phone, locale, role) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (code, name, phone, locale, role or "inspector"),
        ).fetchone()
        assert row is not None
        write_audit(conn, actor=actor, action="create", entity="recipient", key=code,
                    detail={"name": name, "phone": phone, "locale": locale, "role": role}, now=now)
    return int(row[0])


def check_device(d: NewDevice, known_pollutants: set[str]) -> None:
    """Refuse a device whose fields are malformed."""
    check_bounds(asdict(d))
    if not MN.match(d.mn) or d.kind not in DEVICE_KINDS or d.point_kind not in POINT_KINDS:
        raise AdminError("admin_error_device")
    unknown = [p for p in d.pollutants if p not in known_pollutants]
    if not d.pollutants or unknown:
        raise AdminError("admin_error_pollutants", unknown=" ".join(unknown) or "-")
    if not 1 <= d.reporting_interval_seconds <= 86400 or not d.point_name_zh or not d.point_name_en:
        raise AdminError("admin_error_interval")


def add_device(conn: psycopg.Connection, settings: Settings, d: NewDevice, *, actor: str, now: datetime) -> str:
    """Register an MQTT device and issue its broker password, which is shown once and stored nowhere here."""
    known = {r[0] for r in conn.execute("SELECT code FROM pollutants").fetchall()}
    check_device(d, known)
    with conn.transaction():
        site = conn.execute("SELECT id FROM sites WHERE code = %s", (d.site_code,)).fetchone()
        if site is None:
            raise AdminError("admin_error_no_plant", code=d.site_code)
        refuse_taken(conn, "devices", d.mn)
        conn.execute(
            "INSERT INTO devices (mn, site_id, point_kind, point_name_zh, point_name_en, kind, transport, system_code,"
            " pollutants, reporting_interval_seconds) VALUES (%s, %s, %s, %s, %s, %s, 'mqtt', %s, %s, %s)",
            (d.mn, site[0], d.point_kind, d.point_name_zh, d.point_name_en, d.kind, SYSTEM_CODES[d.kind],
             list(d.pollutants), d.reporting_interval_seconds),
        )
        detail = {"site": d.site_code, "kind": d.kind, "pollutants": list(d.pollutants)}
        write_audit(conn, actor=actor, action="create", entity="device", key=d.mn, detail=detail, now=now)
    return issue_device_password(conn, settings, d.mn)
