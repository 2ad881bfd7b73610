"""The engine registry read from PostgreSQL equals the one built from the same file without a database."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg

from alerts.model import LimitSpec
from alerts.rules.registry import EngineRegistry, from_registry, load_engine_registry
from envmon.registry.load import load_registry_file, parse_registry
from envmon.registry.store import store_registry
from tests.conftest import EXAMPLE_REGISTRY


def _limits_by_mn(reg: EngineRegistry) -> list[tuple[Any, ...]]:
    mn = {d.device_id: d.mn for d in reg.devices.values()}

    def row(lim: LimitSpec) -> tuple[Any, ...]:
        return (mn[lim.device_id], lim.pollutant, lim.basis, lim.scope, lim.valid_from, lim.valid_to, lim.scheme,
                lim.direction, lim.lower, lim.upper, lim.warning_ratio, lim.severe_multiple, lim.level2_upper,
                lim.unit, lim.source)

    return sorted((row(lim) for lim in reg.limits), key=repr)


def test_database_registry_matches_the_file(db: psycopg.Connection) -> None:
    registry = load_registry_file(EXAMPLE_REGISTRY)
    store_registry(db, registry, actor="test")
    db.commit()
    loaded = load_engine_registry(db)
    offline = from_registry(registry)
    assert len(loaded.devices) == len(offline.devices) == 208
    by_mn = {d.mn: d for d in offline.devices.values()}
    for spec in loaded.devices.values():
        assert spec == replace(by_mn[spec.mn], device_id=spec.device_id)
    assert _limits_by_mn(loaded) == _limits_by_mn(offline)
    assert {lim.limit_id for lim in loaded.limits} <= {r[0] for r in db.execute("SELECT id FROM limits")}


def test_inactive_devices_are_left_out(db: psycopg.Connection) -> None:
    store_registry(db, load_registry_file(EXAMPLE_REGISTRY), actor="test")
    mn = db.execute("SELECT mn FROM devices ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
    db.execute("UPDATE devices SET active = false WHERE mn = %s", (mn,))
    db.commit()
    loaded = load_engine_registry(db)
    assert mn not in loaded.device_ids_by_mn() and len(loaded.devices) == 207


def test_measuring_ranges_and_limit_decimals_round_trip(db: psycopg.Connection) -> None:
    text = EXAMPLE_REGISTRY.read_text(encoding="utf-8")
    first_water = text.index('kind = "water_analyser"')
    text = text[:first_water] + 'measuring_ranges = { w20117 = { lower = 0.0, upper = 0.5 } }\n' + text[first_water:]
    registry = parse_registry(text, "ranged")
    device = next(d for d in registry.file.devices if d.measuring_ranges)
    store_registry(db, registry, actor="test")
    db.commit()
    loaded = load_engine_registry(db)
    [device_id] = [d.device_id for d in loaded.devices.values() if d.mn == device.mn]
    assert loaded.ranges == {(device_id, "w20117"): (0.0, 0.5)}
    assert list(from_registry(registry).ranges.values()) == list(loaded.ranges.values())
