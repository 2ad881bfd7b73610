"""Write a validated registry into the database in one transaction; loading twice changes nothing.

Rows are upserted by their natural keys (codes, MN, the limit key); a row whose values did not
change is not touched. Rows absent from the file are left as they are (deactivation is a separate,
audited act). Each load that changes something leaves one `audit_log` row with the counts.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from envmon.catalogue import Catalogue, load_catalogue
from envmon.registry.enterprise_store import store_enterprise_file
from envmon.registry.load import Registry
from envmon.registry.model import Device, Limit, Preset, PresetLimit, Site
from envmon.registry.rows import Kept, LoadCounts, applies_at, upsert_row

__all__ = ["LoadCounts", "applies_at", "upsert_row", "store_registry", "sync_catalogue", "limit_rows",
           "limit_point_kinds", "registry_summary", "as_json"]

# A limit an administrator ended on the admin page (`ended_by`) stays ended: a load writes its end (and clears the
# mark) only when the file changes another of that limit's values; the file may still end it earlier, never reopen
# it (issue 18 leftover: `registry apply` reopened it).
ENDED_ON_PAGE = Kept(("valid_to", "ended_by"), "limits.ended_by IS NOT NULL"
                     " AND (EXCLUDED.valid_to IS NULL OR EXCLUDED.valid_to >= limits.valid_to)")


def sync_catalogue(conn: psycopg.Connection, catalogue: Catalogue | None = None) -> LoadCounts:
    """Make the `pollutants` table match the shipped catalogue."""
    counts = LoadCounts()
    for p in (catalogue or load_catalogue()).pollutants:
        upsert_row(
            conn,
            "pollutants",
            ["code"],
            {
                "code": p.code,
                "name_zh": p.name_zh,
                "name_en": p.name_en,
                "kind": p.kind,
                "canonical_unit": p.canonical_unit,
                "protocol_unit": p.protocol_unit,
                "protocol_factor": p.protocol_factor,
            },
            counts,
        )
    return counts


def store_registry(conn: psycopg.Connection, registry: Registry, *, actor: str) -> LoadCounts:
    """Upsert the whole registry in the caller's transaction and audit the change."""
    counts = LoadCounts()
    reg = registry.file
    sync_catalogue(conn)
    for d in reg.districts:
        upsert_row(conn, "districts", ["code"], d.model_dump(), counts)
    site_ids = {s.code: upsert_row(conn, "sites", ["code"], _site_row(s), counts) for s in reg.sites}
    device_ids = {d.mn: upsert_row(conn, "devices", ["mn"], _device_row(d, site_ids[d.site]), counts)
                  for d in reg.devices}
    for device in reg.devices:
        _store_ranges(conn, device_ids[device.mn], device, counts)
    for row in limit_rows(registry, site_ids, device_ids):
        upsert_row(
            conn,
            "limits",
            ["scope", "site_id", "device_id", "pollutant", "basis", "valid_from"],
            {**row, "ended_by": None},
            counts,
            conflict="(scope, coalesce(site_id, 0), coalesce(device_id, 0), pollutant, basis, valid_from)",
            kept=ENDED_ON_PAGE,
        )
    recipient_ids = {r.code: upsert_row(conn, "recipients", ["code"], r.model_dump(), counts) for r in reg.recipients}
    for chain in reg.escalation_chains:
        _store_chain(conn, chain, recipient_ids, counts)
    store_enterprise_file(conn, reg, site_ids, device_ids, counts)
    if counts.changed:
        conn.execute(
            "INSERT INTO audit_log (actor, action, entity, entity_key, detail) "
            "VALUES (%s, 'registry.load', 'registry', %s, %s)",
            (actor, registry.source, Jsonb({"inserted": counts.inserted, "updated": counts.updated})),
        )
    return counts


def _device_row(d: Device, site_id: Any) -> dict[str, Any]:
    row = d.model_dump(exclude={"site", "units", "measuring_ranges"})
    row["units"] = Jsonb(d.units)
    row["site_id"] = site_id
    return row


# ----- measuring ranges (issue 16 finding 1) -----------------------------------------------------------------
def _store_ranges(conn: psycopg.Connection, device_id: Any, device: Device, counts: LoadCounts) -> None:
    """Upsert the device's measuring ranges; channels no longer listed lose theirs."""
    for code, r in device.measuring_ranges.items():
        upsert_row(conn, "device_ranges", ["device_id", "pollutant"],
                {"device_id": device_id, "pollutant": code, "range_lower": r.lower, "range_upper": r.upper}, counts)
    dropped = conn.execute("DELETE FROM device_ranges WHERE device_id = %s AND NOT (pollutant = ANY(%s))",
                           (device_id, list(device.measuring_ranges)))
    if dropped.rowcount:
        counts.add("device_ranges", False)


def _site_row(s: Site) -> dict[str, Any]:
    row = s.model_dump(exclude={"limit_presets", "contacts"})
    row["contacts"] = Jsonb([c.model_dump() for c in s.contacts])
    return row


def _store_chain(conn: psycopg.Connection, chain: Any, recipient_ids: dict[str, Any], counts: LoadCounts) -> None:
    chain_id = upsert_row(
        conn,
        "escalation_chains",
        ["code"],
        {
            "code": chain.code,
            "name": chain.name,
            "districts": chain.districts,
            "industries": chain.industries,
            "site_codes": chain.sites,
            "categories": chain.categories,
            "severities": chain.severities,
            "repeat_interval_seconds": chain.repeat_interval_seconds,
        },
        counts,
    )
    wanted = sorted(
        (pos, step.delay_seconds, recipient_ids[code])
        for pos, step in enumerate(chain.steps)
        for code in step.recipients
    )
    current = sorted(
        conn.execute(
            "SELECT position, delay_seconds, recipient_id FROM escalation_steps WHERE chain_id = %s", (chain_id,)
        ).fetchall()
    )
    if [tuple(r) for r in current] != wanted:
        conn.execute("DELETE FROM escalation_steps WHERE chain_id = %s", (chain_id,))
        for pos, delay, rid in wanted:
            conn.execute(
                "INSERT INTO escalation_steps (chain_id, position, delay_seconds, recipient_id) "
                "VALUES (%s, %s, %s, %s)",
                (chain_id, pos, delay, rid),
            )
        counts.add("escalation_steps", not current)


def limit_rows(registry: Registry, site_ids: dict[str, Any], device_ids: dict[str, Any]) -> list[dict[str, Any]]:
    """Preset assignments of sites, then explicit limits (which win at the same key)."""
    catalogue = load_catalogue()
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for site in registry.file.sites:
        for preset_id in site.limit_presets:
            preset = registry.presets[preset_id]
            for prow in preset.limits:
                lim = Limit(site=site.code, pollutant=prow.pollutant, preset=preset_id)
                row = _limit_row(lim, preset, prow, site_ids, device_ids, catalogue)
                rows[_limit_key(row)] = row
    for lim in registry.file.limits:
        chosen = registry.presets[lim.preset] if lim.preset else None
        chosen_row = chosen.row(lim.pollutant) if chosen else None
        row = _limit_row(lim, chosen, chosen_row, site_ids, device_ids, catalogue)
        rows[_limit_key(row)] = row
    return list(rows.values())


def _limit_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["scope"], row["site_id"], row["device_id"], row["pollutant"], row["basis"], row["valid_from"])


def _limit_row(
    lim: Limit,
    preset: Preset | None,
    prow: PresetLimit | None,
    site_ids: dict[str, Any],
    device_ids: dict[str, Any],
    catalogue: Catalogue,
) -> dict[str, Any]:
    values = prow if prow is not None else lim
    return {
        "scope": lim.scope,
        "site_id": site_ids[lim.site] if lim.site else None,
        "device_id": device_ids[lim.device] if lim.device else None,
        "pollutant": lim.pollutant,
        "scheme": preset.scheme if preset else lim.scheme,
        "basis": preset.basis if preset else lim.basis,
        "direction": values.direction,
        "lower_value": values.lower,
        "upper_value": values.upper,
        "warning_ratio": values.warning_ratio
        if values.warning_ratio is not None
        else (preset.warning_ratio if preset else None),
        "severe_multiple": values.severe_multiple,
        "level2_lower_value": values.level2_lower,
        "level2_upper_value": values.level2_upper,
        "decimals": values.decimals,
        "unit": catalogue.get(lim.pollutant).canonical_unit,
        "source": preset.source if preset else lim.source,
        "preset": preset.id if preset else None,
        "valid_from": lim.valid_from,
        "valid_to": lim.valid_to,
        "point_kinds": limit_point_kinds(lim, prow),
        "permit_id": None,  # a registry row, never one derived from a permit (envmon/registry/permits.py)
    }


def limit_point_kinds(lim: Limit, prow: PresetLimit | None) -> list[str]:
    """Where a limit applies: the assignment's own points, else its preset row's; empty means anywhere."""
    return list(lim.point_kinds or (prow.point_kinds if prow is not None else []))


def registry_summary(conn: psycopg.Connection) -> dict[str, int]:
    """Row counts of the registry tables (for CLI output and the demo banner)."""
    tables = ["districts", "sites", "devices", "limits", "recipients", "escalation_chains"]
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]


def as_json(counts: LoadCounts) -> str:
    """The counts as one JSON line."""
    return json.dumps({"inserted": counts.inserted, "updated": counts.updated}, sort_keys=True)
