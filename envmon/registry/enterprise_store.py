"""Store the enterprise file sections of a registry file: upserts by natural keys, then permit limits.

Like the rest of the registry, rows absent from the file are left as they are.
"""

from __future__ import annotations

from typing import Any

import psycopg

from envmon.registry.model import Permit, RegistryFile
from envmon.registry.permits import derive_permit_limits
from envmon.registry.rows import LoadCounts, upsert_row


def store_enterprise_file(conn: psycopg.Connection, reg: RegistryFile, site_ids: dict[str, Any],
                          device_ids: dict[str, Any], counts: LoadCounts) -> None:
    """Upsert permits (outlets, limits), EIA and enforcement records; then derive the permit limits."""
    for p in reg.permits:
        _store_permit(conn, p, site_ids[p.site], device_ids, counts)
    for r in reg.eia_records:
        row = {**r.model_dump(exclude={"site"}), "site_id": site_ids[r.site]}
        upsert_row(conn, "eia_records", ["site_id", "kind", "number"], row, counts)
    for e in reg.enforcement_records:
        row = {**e.model_dump(exclude={"site"}), "site_id": site_ids[e.site]}
        upsert_row(conn, "enforcement_records", ["site_id", "case_number"], row, counts)
    for code in sorted({p.site for p in reg.permits}):
        derive_permit_limits(conn, site_ids[code], counts)


def _store_permit(conn: psycopg.Connection, p: Permit, site_id: Any, device_ids: dict[str, Any],
                  counts: LoadCounts) -> None:
    row = {**p.model_dump(exclude={"site", "outlets"}), "site_id": site_id}
    permit_id = upsert_row(conn, "permits", ["site_id", "number"], row, counts)
    for outlet in p.outlets:
        orow = {"permit_id": permit_id, "code": outlet.code, "name_zh": outlet.name_zh, "name_en": outlet.name_en,
                "device_ids": [device_ids[mn] for mn in outlet.devices]}
        outlet_id = upsert_row(conn, "permit_outlets", ["permit_id", "code"], orow, counts)
        for lim in outlet.limits:
            lrow = {"outlet_id": outlet_id, "pollutant": lim.pollutant, "basis": lim.basis,
                    "direction": lim.direction, "lower_value": lim.lower, "upper_value": lim.upper,
                    "decimals": lim.decimals}
            upsert_row(conn, "permit_limits", ["outlet_id", "pollutant", "basis"], lrow, counts)
