"""Registry changes made by administrators: plants, limits, escalation chains; each with its audit entry.

The registry file (`envmon registry load`) stays the bulk path; these are the day-to-day edits.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import get_args

import psycopg

from dashboard.admin_store import AdminError, check_bounds, refuse_taken, refuse_unknown_district
from dashboard.audit import write_audit
from dashboard.plant import Plant
from envmon.domain import CATEGORIES, LIMIT_BASES
from envmon.registry.model import Industry

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")
DIRECTIONS = ("upper", "lower", "range")
INDUSTRIES = get_args(Industry)


@dataclass(frozen=True, slots=True)
class NewLimit:
    """A site- or device-scoped limit, in force from now."""

    site_code: str
    device_mn: str | None
    pollutant: str
    basis: str
    direction: str
    lower_value: float | None
    upper_value: float | None
    source: str


def check_plant(p: Plant) -> None:
    """Refuse a plant without a code, both names, a known industry, or with half a position."""
    check_bounds(asdict(p))
    if not CODE.match(p.code) or not p.name_zh or not p.name_en or p.industry not in INDUSTRIES:
        raise AdminError("admin_error_plant")
    if (p.latitude is None) != (p.longitude is None) or not -90 <= (p.latitude or 0) <= 90:
        raise AdminError("admin_error_position")
    if not -180 <= (p.longitude or 0) <= 180:
        raise AdminError("admin_error_longitude")


def add_plant(conn: psycopg.Connection, p: Plant, *, actor: str, now: datetime) -> None:
    """A new plant in an existing district."""
    check_plant(p)
    with conn.transaction():
        refuse_unknown_district(conn, p.district)
        refuse_taken(conn, "sites", p.code)
        conn.execute(
            "INSERT INTO sites (code, name_zh, name_en, district, industry, latitude, longitude)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (p.code, p.name_zh, p.name_en, p.district, p.industry, p.latitude, p.longitude),
        )
        write_audit(conn, actor=actor, action="create", entity="site", key=p.code, detail=asdict(p), now=now)


def check_limit(lim: NewLimit) -> None:
    """Refuse a limit whose values do not fit its direction."""
    check_bounds(asdict(lim))
    if lim.basis not in LIMIT_BASES or lim.direction not in DIRECTIONS or not lim.source.strip():
        raise AdminError("admin_error_limit")
    needs = {"upper": lim.upper_value is not None, "lower": lim.lower_value is not None,
             "range": lim.lower_value is not None and lim.upper_value is not None
             and lim.lower_value < lim.upper_value}
    if not needs[lim.direction]:
        raise AdminError("admin_error_limit_values")


def add_limit(conn: psycopg.Connection, lim: NewLimit, *, actor: str, now: datetime) -> int:
    """A limit for a plant (or one of its devices), valid from now, in the pollutant's canonical unit."""
    check_limit(lim)
    with conn.transaction():
        unit = conn.execute("SELECT canonical_unit FROM pollutants WHERE code = %s", (lim.pollutant,)).fetchone()
        site = conn.execute("SELECT id FROM sites WHERE code = %s", (lim.site_code,)).fetchone()
        if unit is None or site is None:
            raise AdminError("admin_error_limit_target")
        device = None
        if lim.device_mn:
            device = conn.execute("SELECT id FROM devices WHERE mn = %s AND site_id = %s",
                                  (lim.device_mn, site[0])).fetchone()
            if device is None:
                raise AdminError("admin_error_no_device", mn=lim.device_mn, site=lim.site_code)
        scheme = "gas_alarm" if lim.pollutant.startswith("s") else "discharge"
        row = conn.execute(
            "INSERT INTO limits (scope, site_id, device_id, pollutant, scheme, basis, direction, lower_value,"
            " upper_value, unit, source, valid_from) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            ("device" if device else "site", None if device else site[0], device[0] if device else None,
             lim.pollutant, scheme, lim.basis, lim.direction, lim.lower_value, lim.upper_value, unit[0], lim.source,
             now),
        ).fetchone()
        assert row is not None
        write_audit(conn, actor=actor, action="create", entity="limit", key=str(row[0]), detail=asdict(lim), now=now)
    return int(row[0])


Step = tuple[int, tuple[str, ...]]  # (delay in seconds, the recipients told together at that step)


def parse_steps(text: str) -> list[Step]:
    """'insp-a:0, lead-c+lead-d:600' -> [(0, ('insp-a',)), (600, ('lead-c', 'lead-d'))]: recipient codes (several
    joined by '+') and a delay in seconds; steps are separated by commas or lines."""
    steps: list[Step] = []
    for part in (p.strip() for p in text.replace("\n", ",").split(",") if p.strip()):
        codes, _, delay = part.partition(":")
        recipients = tuple(c.strip() for c in codes.split("+"))
        if not all(recipients) or not delay.strip().isdigit():
            raise AdminError("admin_error_step", step=part)
        steps.append((int(delay), recipients))
    if not steps:
        raise AdminError("admin_error_no_steps")
    return steps


def steps_text(steps: list[Step]) -> str:
    """Steps as people type them (parse_steps reads this back)."""
    return ", ".join(f"{'+'.join(sorted(set(codes)))}:{delay}" for delay, codes in steps)


def check_chain(code: str, name: str, categories: tuple[str, ...], steps: list[Step],
                repeat_interval_seconds: int) -> None:
    """Refuse a chain without a code and a name, with unknown categories or no repeat interval."""
    recipients = [c for _, codes in steps for c in codes]
    check_bounds({"code": code, "name": name, "categories": categories, "recipients": recipients})
    if not CODE.match(code) or not name or any(c not in CATEGORIES for c in categories) or repeat_interval_seconds < 1:
        raise AdminError("admin_error_chain")


def recipient_ids(conn: psycopg.Connection, steps: list[Step]) -> dict[str, int]:
    """The ids of the steps' recipients; AdminError naming those that do not exist."""
    codes = {c for _, cs in steps for c in cs}
    rows = conn.execute("SELECT code, id FROM recipients WHERE code = ANY(%s)", (sorted(codes),)).fetchall()
    ids: dict[str, int] = {r[0]: int(r[1]) for r in rows}
    missing = sorted(codes - set(ids))
    if missing:
        raise AdminError("admin_error_recipients", codes=", ".join(missing))
    return ids


def write_steps(conn: psycopg.Connection, chain_id: int, steps: list[Step], ids: dict[str, int]) -> None:
    """A chain's steps, in order (the caller removed the old ones)."""
    for position, (delay, codes) in enumerate(steps):
        for code in dict.fromkeys(codes):  # one row per recipient of a step (the primary key includes it)
            conn.execute("INSERT INTO escalation_steps (chain_id, position, delay_seconds, recipient_id)"
                         " VALUES (%s, %s, %s, %s)", (chain_id, position, delay, ids[code]))


def add_chain(
    conn: psycopg.Connection, *, code: str, name: str, categories: tuple[str, ...], steps_text: str,
    repeat_interval_seconds: int, actor: str, now: datetime,
) -> None:
    """An escalation chain: who is told about which category of alert, after which delay."""
    steps = parse_steps(steps_text)
    check_chain(code, name, categories, steps, repeat_interval_seconds)
    with conn.transaction():
        ids = recipient_ids(conn, steps)
        refuse_taken(conn, "escalation_chains", code)
        row = conn.execute(
            "INSERT INTO escalation_chains (code, name, categories, repeat_interval_seconds) VALUES (%s, %s, %s, %s)"
            " RETURNING id", (code, name, list(categories), repeat_interval_seconds)).fetchone()
        assert row is not None
        write_steps(conn, int(row[0]), steps, ids)
        detail = {"name": name, "categories": list(categories), "steps": steps_text,
                  "repeat_interval_seconds": repeat_interval_seconds}
        write_audit(conn, actor=actor, action="create", entity="escalation_chain", key=code, detail=detail, now=now)
