"""Which limit is in force where a discharge permit and a national preset both limit one outlet.

A plant must meet both its permit (排污许可管理条例 2021, art. 13: what the permit records [V], among it
each outlet and its permitted concentrations [S]; art. 34: discharging above them is an offence [V], item (一)
[S]; sources in docs/enterprise-file.md) and the national discharge standard, so the stricter bound is in force,
bound by bound (a pH range may take its lower bound from one and its upper from the other). A permit
bound equal to the national one restates it: the standard is named as the source. The stricter
combination becomes a device-scoped row of `limits` with `permit_id` set, so every reader of `limits`
judges and names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from envmon.catalogue import load_catalogue
from envmon.registry.load import Registry
from envmon.registry.rows import LoadCounts, applies_at

# Permits state their validity in Chinese calendar days.
CHINA_TIME = timezone(timedelta(hours=8))
Direction = Literal["upper", "lower", "range"]


@dataclass(frozen=True, slots=True)
class Bounds:
    """A limit's bounds and the legal source that sets them."""

    lower: float | None
    upper: float | None
    source: str


@dataclass(frozen=True, slots=True)
class InForce:
    """The bounds in force, and the source of each bound."""

    lower: float | None
    upper: float | None
    lower_source: str | None
    upper_source: str | None

    @property
    def direction(self) -> Direction:
        """upper, lower or range, from the bounds present."""
        if self.lower is not None and self.upper is not None:
            return "range"
        return "lower" if self.lower is not None else "upper"

    def sources(self) -> list[str]:
        """The distinct sources, upper bound's first."""
        found = [s for s in (self.upper_source, self.lower_source) if s is not None]
        return list(dict.fromkeys(found))


def _stricter(national: float | None, permit: float | None, *, upper: bool) -> tuple[float | None, str]:
    """The stricter of two bounds and who set it ('national' on a tie or when the permit is silent)."""
    if permit is None:
        return national, "national"
    if national is None:
        return permit, "permit"
    tighter = permit < national if upper else permit > national
    return (permit, "permit") if tighter else (national, "national")


def limit_in_force(national: Bounds | None, permit: Bounds) -> InForce:
    """The stricter bound of a permit limit and the national one, each named by its source."""
    base = national or Bounds(None, None, "")
    upper, upper_by = _stricter(base.upper, permit.upper, upper=True)
    lower, lower_by = _stricter(base.lower, permit.lower, upper=False)
    name = {"national": base.source, "permit": permit.source}
    return InForce(lower, upper, name[lower_by] if lower is not None else None,
                   name[upper_by] if upper is not None else None)


def is_permit_binding(in_force: InForce, permit: Bounds) -> bool:
    """Whether any bound in force comes from the permit (else the national row stays in force alone)."""
    return permit.source in (in_force.lower_source, in_force.upper_source)


def permit_source(number: str, outlet_code: str) -> str:
    """The legal source text of a permit limit: '排污许可证 <number> <outlet>'."""
    return f"排污许可证 {number} {outlet_code}"


def day_start(day: date) -> datetime:
    """The first instant of a Chinese calendar day, in UTC."""
    return datetime.combine(day, time(0), CHINA_TIME).astimezone(UTC)


_PERMIT_LIMITS = """
SELECT p.id AS permit_id, p.number, p.valid_from, p.valid_to, o.code AS outlet, d.id AS device_id,
       d.point_kind, pl.pollutant, pl.basis, pl.lower_value, pl.upper_value, pl.decimals, pol.canonical_unit AS unit
FROM permits p
JOIN permit_outlets o ON o.permit_id = p.id
JOIN permit_limits pl ON pl.outlet_id = o.id
JOIN devices d ON d.id = ANY(o.device_ids) AND d.site_id = p.site_id
JOIN pollutants pol ON pol.code = pl.pollutant
WHERE p.site_id = %(site_id)s
ORDER BY p.id, o.code, d.id, pl.pollutant, pl.basis
"""

# The national row a permit limit competes with: site scope beats default, the newest valid_from in
# force when the permit starts (the order alerts/limits.py applies among non-device rows).
_NATIONAL = """
SELECT id, lower_value, upper_value, source, warning_ratio, severe_multiple, decimals, point_kinds
FROM limits
WHERE permit_id IS NULL AND pollutant = %(pollutant)s AND basis = %(basis)s AND scheme = 'discharge'
  AND (scope = 'default' OR (scope = 'site' AND site_id = %(site_id)s))
  AND valid_from <= %(at)s AND (valid_to IS NULL OR valid_to > %(at)s)
ORDER BY CASE scope WHEN 'site' THEN 0 ELSE 1 END, valid_from DESC
"""


def _national(cur: psycopg.Cursor[dict[str, Any]], site_id: int, row: dict[str, Any], at: datetime
              ) -> dict[str, Any] | None:
    """The national (preset or explicit site/default) row applying at the device's point, if any."""
    params = {"pollutant": row["pollutant"], "basis": row["basis"], "site_id": site_id, "at": at}
    for candidate in cur.execute(_NATIONAL, params).fetchall():
        if applies_at(candidate["point_kinds"], row["point_kind"]):
            return candidate
    return None


def _rank(row: dict[str, Any]) -> tuple[int, datetime]:
    return (1 if row["scope"] == "site" else 0, row["valid_from"])


def national_row(rows: list[dict[str, Any]], *, site_id: Any, pollutant: str, basis: str, point_kind: str,
                 at: datetime) -> dict[str, Any] | None:
    """Among registry limit rows, the national one a permit limit competes with (the order of _NATIONAL)."""
    candidates = [
        r for r in rows
        if r.get("permit_id") is None and r["pollutant"] == pollutant and r["basis"] == basis
        and r["scheme"] == "discharge"
        and (r["scope"] == "default" or (r["scope"] == "site" and r["site_id"] == site_id))
        and r["valid_from"] <= at and (r["valid_to"] is None or r["valid_to"] > at)
        and applies_at(r.get("point_kinds"), point_kind)
    ]
    return max(candidates, key=_rank, default=None)


def permit_rows(registry: Registry, rows: list[dict[str, Any]], site_ids: dict[str, Any],
                device_ids: dict[str, Any]) -> list[dict[str, Any]]:
    """The derived rows of a parsed registry's permits, without a database (the engine's offline registry)."""
    devices = {d.mn: d for d in registry.file.devices}
    catalogue = load_catalogue()
    taken = {(r["scope"], r["device_id"], r["pollutant"], r["basis"], r["valid_from"]) for r in rows}
    derived: list[dict[str, Any]] = []
    for permit in registry.file.permits:
        start = day_start(permit.valid_from)
        for outlet in permit.outlets:
            for mn in outlet.devices:
                for lim in outlet.limits:
                    given = {"permit_id": None, "number": permit.number, "outlet": outlet.code,
                             "device_id": device_ids[mn], "pollutant": lim.pollutant, "basis": lim.basis,
                             "lower_value": lim.lower, "upper_value": lim.upper, "decimals": lim.decimals,
                             "unit": catalogue.get(lim.pollutant).canonical_unit, "valid_from": permit.valid_from,
                             "valid_to": permit.valid_to}
                    national = national_row(rows, site_id=site_ids[permit.site], pollutant=lim.pollutant,
                                            basis=lim.basis, point_kind=devices[mn].point_kind, at=start)
                    row = _derived_row(site_ids[permit.site], given, national)
                    key = row and ("device", row["device_id"], row["pollutant"], row["basis"], row["valid_from"])
                    if row is not None and key not in taken:
                        derived.append({**row, "from_permit": True})
    return derived


def _derived_row(site_id: int, row: dict[str, Any], national: dict[str, Any] | None) -> dict[str, Any] | None:
    """The device-scoped limit row a permit limit yields, or None when the national one is as strict."""
    permit = Bounds(row["lower_value"], row["upper_value"], permit_source(row["number"], row["outlet"]))
    base = Bounds(national["lower_value"], national["upper_value"], national["source"]) if national else None
    chosen = limit_in_force(base, permit)
    if not is_permit_binding(chosen, permit):
        return None
    return {
        "scope": "device", "site_id": None, "device_id": row["device_id"], "pollutant": row["pollutant"],
        "scheme": "discharge", "basis": row["basis"], "direction": chosen.direction,
        "lower_value": chosen.lower, "upper_value": chosen.upper, "level2_lower_value": None,
        "level2_upper_value": None, "point_kinds": [],
        "warning_ratio": national["warning_ratio"] if national else None,
        "severe_multiple": national["severe_multiple"] if national else None,
        "decimals": row["decimals"] if row["decimals"] is not None else (national or {}).get("decimals"),
        "unit": row["unit"], "source": " / ".join(chosen.sources()), "permit_id": row["permit_id"],
        "valid_from": day_start(row["valid_from"]), "valid_to": day_start(row["valid_to"] + timedelta(days=1)),
    }


def derive_permit_limits(conn: psycopg.Connection, site_id: int, counts: LoadCounts | None = None) -> int:
    """Rewrite a site's permit-derived limit rows from its permits; returns how many are in force."""
    counts = counts if counts is not None else LoadCounts()
    with conn.cursor(row_factory=dict_row) as cur:
        wanted = []
        for row in cur.execute(_PERMIT_LIMITS, {"site_id": site_id}).fetchall():
            derived = _derived_row(site_id, row, _national(cur, site_id, row, day_start(row["valid_from"])))
            if derived is not None:
                wanted.append(derived)
    kept = [k for k in (_upsert_derived(conn, row, counts) for row in wanted) if k is not None]
    stale = conn.execute(
        "DELETE FROM limits WHERE permit_id IN (SELECT id FROM permits WHERE site_id = %s) AND NOT (id = ANY(%s))",
        (site_id, kept))
    if stale.rowcount:
        counts.add("limits", False)
    return len(kept)


def _upsert_derived(conn: psycopg.Connection, row: dict[str, Any], counts: LoadCounts) -> int | None:
    """Insert or refresh one derived row; an explicit registry row at the same key wins (None)."""
    cols = list(row)
    updates = [c for c in cols if c not in ("scope", "site_id", "device_id", "pollutant", "basis", "valid_from")]
    differs = " OR ".join(f"limits.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in updates)
    found = conn.execute(
        f"INSERT INTO limits ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        "ON CONFLICT (scope, coalesce(site_id, 0), coalesce(device_id, 0), pollutant, basis, valid_from) "
        f"DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in updates)}, updated_at = now() "
        f"WHERE limits.permit_id IS NOT NULL AND ({differs}) "
        "RETURNING id, (xmax = 0)",
        list(row.values()),
    ).fetchone()
    if found is not None:
        counts.add("limits", bool(found[1]))
        return int(found[0])
    same = conn.execute(
        "SELECT id FROM limits WHERE scope = 'device' AND device_id = %s AND pollutant = %s AND basis = %s "
        "AND valid_from = %s AND permit_id IS NOT NULL",
        (row["device_id"], row["pollutant"], row["basis"], row["valid_from"])).fetchone()
    return int(same[0]) if same else None
