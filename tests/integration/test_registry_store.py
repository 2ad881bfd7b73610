"""Loading registry files into PostgreSQL: contents, idempotence, updates, audit, broker logins."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from envmon.registry.load import load_registry_file, parse_registry
from envmon.registry.service import apply_registry_file
from envmon.registry.store import store_registry
from envmon.settings import load_settings
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from tests.conftest import EXAMPLE_REGISTRY
from tests.mqtt_helpers import wait_for_logins
from tests.unit.test_registry_load import VALID


def _load(conn: psycopg.Connection, text: str) -> dict[str, int]:
    counts = store_registry(conn, parse_registry(text, "t.toml"), actor="test")
    conn.commit()
    return {**counts.inserted, **{f"{k}~": v for k, v in counts.updated.items()}}


def test_registry_rows_land_with_their_references(db: psycopg.Connection) -> None:
    _load(db, VALID)
    site = db.execute("SELECT s.name_en, s.district, jsonb_array_length(s.contacts) FROM sites s").fetchone()
    assert site == ("Shanghai Jia Electroplating Co.", "fx", 1)
    devices = db.execute(
        "SELECT d.mn, s.code, d.pollutants FROM devices d JOIN sites s ON s.id = d.site_id ORDER BY d.mn"
    ).fetchall()
    assert devices == [
        ("310120EP001G01", "FX-EP-001", ["s02002"]),
        ("310120EP001W01", "FX-EP-001", ["w20117", "w20116", "w01001"]),
    ]
    steps = db.execute(
        "SELECT c.code, st.delay_seconds, r.code FROM escalation_steps st JOIN escalation_chains c ON c.id = st.chain_id "
        "JOIN recipients r ON r.id = st.recipient_id"
    ).fetchall()
    assert steps == [("hm", 0, "insp-a")]


def test_site_presets_expand_and_explicit_limits_keep_their_values(db: psycopg.Connection) -> None:
    _load(db, VALID)
    t3 = db.execute(
        "SELECT upper_value, warning_ratio, severe_multiple, source, basis, unit FROM limits "
        "WHERE scope = 'site' AND pollutant = 'w20117'"
    ).fetchone()
    assert t3 == (0.1, 0.8, 3.0, "GB 21900-2008 表3", "day", "mg/L")
    assert db.execute("SELECT count(*) FROM limits WHERE scope = 'site' AND preset = 'GB21900-2008-T3'").fetchone() == (
        15,  # metals, pH, COD, NH3-N, TN, TP, fluoride, cyanide
    )
    assert db.execute("SELECT point_kinds FROM limits WHERE scope = 'site' AND pollutant = 'w20117'").fetchone() == (
        ["workshop_outlet"],
    )
    dev = db.execute(
        "SELECT upper_value, source, valid_from FROM limits WHERE scope = 'device' AND pollutant = 'w20117'"
    ).fetchone()
    assert dev is not None and dev[:2] == (0.05, "排污许可证")
    assert dev[2] == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 +08:00
    gas = db.execute(
        "SELECT scheme, upper_value, level2_upper_value FROM limits WHERE pollutant = 's02002' AND scope = 'site'"
    ).fetchone()
    assert gas == ("gas_alarm", 0.3, 0.6)


def test_loading_twice_changes_nothing(db: psycopg.Connection) -> None:
    first = _load(db, VALID)
    assert first["sites"] == 1 and first["devices"] == 2
    snapshot = db.execute("SELECT max(updated_at) FROM sites").fetchone()
    assert _load(db, VALID) == {}
    assert db.execute("SELECT max(updated_at) FROM sites").fetchone() == snapshot
    assert db.execute("SELECT count(*) FROM audit_log WHERE action = 'registry.load'").fetchone() == (1,)


def test_changed_values_update_in_place_and_are_audited(db: psycopg.Connection) -> None:
    _load(db, VALID)
    changed = _load(db, VALID.replace("upper = 0.05", "upper = 0.04").replace('name = "张伟"', 'name = "张伟伟"'))
    assert changed == {"limits~": 1, "recipients~": 1}
    assert db.execute("SELECT count(*) FROM limits WHERE scope = 'device'").fetchone() == (1,)
    detail = db.execute("SELECT detail FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert detail == ({"inserted": {}, "updated": {"limits": 1, "recipients": 1}},)


def test_pollutant_catalogue_is_synced(db: psycopg.Connection) -> None:
    _load(db, VALID)
    row = db.execute(
        "SELECT canonical_unit, protocol_unit, protocol_factor FROM pollutants WHERE code = 'w20120'"
    ).fetchone()
    assert row == ("mg/L", "ug/L", 0.001)


def test_example_district_loads(db: psycopg.Connection) -> None:
    registry = load_registry_file(EXAMPLE_REGISTRY)
    store_registry(db, registry, actor="test")
    db.commit()
    by_industry = dict(db.execute("SELECT industry, count(*) FROM sites GROUP BY industry").fetchall())
    heavy = by_industry.get("electroplating", 0) + by_industry.get("lead_acid_battery", 0)
    assert 14 <= heavy <= 18
    assert by_industry.get("chemical", 0) + by_industry.get("pharmaceutical", 0) == 40
    kinds = dict(db.execute("SELECT kind, count(*) FROM devices GROUP BY kind").fetchall())
    assert set(kinds) == {"water_analyser", "cems", "gas_detector"}
    assert db.execute("SELECT count(*) FROM sites WHERE latitude IS NULL OR permit_number IS NULL").fetchone() == (0,)


def test_apply_gives_mqtt_devices_broker_logins(
    stack: StackState, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("DATABASE_URL", "MQTT_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(state_dir=stack.state_dir, database_url=database_url, environment="test")
    registry_file = tmp_path / "r.toml"
    registry_file.write_text(VALID)
    result = apply_registry_file(settings, registry_file, actor="test")
    assert result.broker_logins == 1  # the gas detector; the HJ 212 logger does not use MQTT
    # The broker re-reads its password file on SIGHUP in its own time: wait for it to accept the login.
    wait_for_logins(stack.mqtt_port, {"310120EP001G01": mosquitto.device_secret(stack.secret_key, "310120EP001G01")})
