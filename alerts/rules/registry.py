"""The registry as the engine needs it: devices, and every limit expanded to the devices it covers.

`from_registry` works on a parsed registry file (replay needs no database): device ids are 1..n
in file order and limits are resolved from presets exactly as envmon/registry/store.py writes its
`limits` rows. `load_engine_registry` reads the same from the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from alerts.model import DeviceSpec, LimitSpec
from envmon.registry.load import Registry
from envmon.registry.permits import permit_rows
from envmon.registry.store import applies_at, limit_rows


@dataclass(frozen=True)
class EngineRegistry:
    """Active devices by id, and limits as they apply to single devices (with their scope kept)."""

    devices: dict[int, DeviceSpec]
    limits: list[LimitSpec]
    # Measuring range (lower, upper) per (device id, pollutant), canonical unit: T values are judged as at
    # least the upper bound, and normal values outside it are implausible.
    ranges: dict[tuple[int, str], tuple[float | None, float | None]] = field(default_factory=dict)

    def device_ids_by_mn(self) -> dict[str, int]:
        """MN code -> device id."""
        return {d.mn: d.device_id for d in self.devices.values()}


def expand_limit(row: Mapping[str, Any], limit_id: int | None, devices: Iterable[DeviceSpec],
                 site_of: Mapping[int, Any]) -> list[LimitSpec]:
    """One `limits` row as a LimitSpec per device it covers (by scope, measuring the pollutant, and
    standing at a point the limit applies to: first-class metals at workshop outlets, not the outfall)."""
    scope = row["scope"]
    covered = [
        d for d in devices
        if (scope == "device" and d.device_id == row["device_id"])
        or (scope != "device" and row["pollutant"] in d.pollutants
            and (scope == "default" or site_of[d.device_id] == row["site_id"])
            and applies_at(row.get("point_kinds"), d.point_kind))
    ]
    return [_spec(row, limit_id, d.device_id) for d in covered]



def _spec(row: Mapping[str, Any], limit_id: int | None, device_id: int) -> LimitSpec:
    return LimitSpec(
        limit_id=limit_id, device_id=device_id, pollutant=row["pollutant"], scheme=row["scheme"],
        basis=row["basis"], direction=row["direction"], lower=row["lower_value"], upper=row["upper_value"],
        warning_ratio=row["warning_ratio"], severe_multiple=row["severe_multiple"],
        level2_lower=row["level2_lower_value"], level2_upper=row["level2_upper_value"], unit=row["unit"],
        source=row["source"], valid_from=row["valid_from"], valid_to=row["valid_to"], scope=row["scope"],
        decimals=row.get("decimals"), from_permit=bool(row.get("from_permit")),
    )


def from_registry(reg: Registry) -> EngineRegistry:
    """The engine registry of a parsed registry file, with synthetic ids 1..n in file order."""
    sites = {s.code: s for s in reg.file.sites}
    site_ids = {s.code: i + 1 for i, s in enumerate(reg.file.sites)}
    device_ids = {d.mn: i + 1 for i, d in enumerate(reg.file.devices)}
    districts = {d.code: d for d in reg.file.districts}
    devices: dict[int, DeviceSpec] = {}
    for d in reg.file.devices:
        site = sites[d.site]
        devices[device_ids[d.mn]] = DeviceSpec(
            device_id=device_ids[d.mn], mn=d.mn, site_code=site.code, site_name_zh=site.name_zh,
            site_name_en=site.name_en, district=districts[site.district].code, industry=site.industry,
            kind=d.kind, point_name_zh=d.point_name_zh, point_name_en=d.point_name_en,
            pollutants=tuple(d.pollutants), reporting_interval_seconds=d.reporting_interval_seconds,
            transport=d.transport, point_kind=d.point_kind,
        )
    site_of = {device_ids[d.mn]: site_ids[d.site] for d in reg.file.devices}
    rows = limit_rows(reg, site_ids, device_ids)
    rows += permit_rows(reg, rows, site_ids, device_ids)  # what envmon/registry/permits.py stores, offline
    limits = [spec for i, row in enumerate(rows) for spec in expand_limit(row, i + 1, devices.values(), site_of)]
    return EngineRegistry(devices, limits, range_rows_of(reg, device_ids))


# ----- measuring ranges (issue 16 finding 1) -----------------------------------------------------------------
Ranges = dict[tuple[int, str], tuple[float | None, float | None]]


def range_rows_of(reg: Registry, device_ids: Mapping[str, int]) -> Ranges:
    """Measuring ranges of a parsed registry file by (device id, pollutant)."""
    return {(device_ids[d.mn], code): (r.lower, r.upper)
            for d in reg.file.devices for code, r in d.measuring_ranges.items()}


_RANGES_SQL = "SELECT device_id, pollutant, range_lower, range_upper FROM device_ranges"


def load_ranges(conn: psycopg.Connection[Any]) -> Ranges:
    """Measuring ranges from the database by (device id, pollutant)."""
    return {(int(r[0]), str(r[1])): (r[2], r[3]) for r in conn.execute(_RANGES_SQL).fetchall()}


_DEVICES_SQL = """
SELECT d.id, d.mn, s.code, s.name_zh, s.name_en, s.district, s.industry, d.kind, d.point_name_zh,
       d.point_name_en, d.pollutants, d.reporting_interval_seconds, d.transport, d.site_id, d.point_kind
FROM devices d JOIN sites s ON s.id = d.site_id
WHERE d.active AND s.active ORDER BY d.id
"""
_LIMITS_SQL = """
SELECT id, scope, site_id, device_id, pollutant, scheme, basis, direction, lower_value, upper_value,
       warning_ratio, severe_multiple, level2_lower_value, level2_upper_value, unit, source, valid_from, valid_to,
       point_kinds, decimals, permit_id IS NOT NULL AS from_permit
FROM limits ORDER BY id
"""


def load_engine_registry(conn: psycopg.Connection[Any]) -> EngineRegistry:
    """Read active devices and every limit from the database."""
    devices: dict[int, DeviceSpec] = {}
    site_of: dict[int, Any] = {}
    for r in conn.execute(_DEVICES_SQL).fetchall():
        devices[r[0]] = DeviceSpec(
            device_id=r[0], mn=r[1], site_code=r[2], site_name_zh=r[3], site_name_en=r[4], district=r[5],
            industry=r[6], kind=r[7], point_name_zh=r[8], point_name_en=r[9], pollutants=tuple(r[10]),
            reporting_interval_seconds=r[11], transport=r[12], point_kind=r[14],
        )
        site_of[r[0]] = r[13]
    limits: list[LimitSpec] = []
    cur = conn.execute(_LIMITS_SQL)
    names = [c.name for c in cur.description or []]
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        limits += expand_limit(row, row["id"], devices.values(), site_of)
    return EngineRegistry(devices, limits, load_ranges(conn))
