"""The admin pages' registry changes refuse what the registry file refuses: non-finite numbers, huge or
control-laden text; and the limits table itself refuses NaN and infinite values from any writer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboard.admin_edit import edit_plant
from dashboard.admin_registry import NewLimit, add_chain, add_limit, add_plant
from dashboard.admin_store import AdminError, NewDevice, add_maintenance, add_recipient, check_device
from dashboard.plant import Plant
from tests.alert_helpers import load_alert_registry

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HUGE = "x" * 5_000_000
Change = Callable[[psycopg.Connection], object]


def plant(**changes: object) -> Change:
    values: dict[str, object] = {"code": "T-002", "name_zh": "新厂", "name_en": "New plant", "district": "t",
                                 "industry": "electroplating", "latitude": 30.9, "longitude": 121.5}
    values.update(changes)
    return lambda conn: add_plant(conn, Plant(**values), actor="admin", now=NOW)  # type: ignore[arg-type]


def limit(**changes: object) -> Change:
    values: dict[str, object] = {"site_code": "T-001", "device_mn": None, "pollutant": "w20117", "basis": "instant",
                                 "direction": "upper", "lower_value": None, "upper_value": 0.05, "source": "permit"}
    values.update(changes)
    return lambda conn: add_limit(conn, NewLimit(**values), actor="admin", now=NOW)  # type: ignore[arg-type]


def recipient(**changes: str) -> Change:
    values = {"code": "insp-z", "name": "王五", "phone": "+8613900000099", "locale": "zh-CN", "role": "inspector"}
    values.update(changes)
    return lambda conn: add_recipient(conn, **values, actor="admin", now=NOW)


def window(reason: str) -> Change:
    return lambda conn: add_maintenance(conn, site_code="T-001", device_mn=None, starts_at=NOW,
                                        ends_at=NOW + timedelta(hours=1), reason=reason, actor="admin", now=NOW)


def chain(name: str, steps: str = "insp-a:0", code: str = "c2") -> Change:
    return lambda conn: add_chain(conn, code=code, name=name, categories=("pollution",), steps_text=steps,
                                  repeat_interval_seconds=600, actor="admin", now=NOW)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(plant(name_zh=HUGE), "name_zh: 5000000 characters", id="plant-5mb-name"),
        pytest.param(plant(longitude=float("nan")), "longitude: must be a finite number", id="plant-nan-longitude"),
        pytest.param(plant(name_en="Plant\u202eA"), "name_en: control character U+202E", id="plant-bidi-name"),
        pytest.param(limit(upper_value=float("inf")), "upper_value: must be a finite number", id="limit-inf"),
        pytest.param(limit(upper_value=float("nan")), "upper_value: must be a finite number", id="limit-nan"),
        pytest.param(limit(lower_value=float("-inf"), direction="range"), "lower_value: must be a finite number",
                     id="range-minus-inf"),
        pytest.param(limit(source="permit\x00"), "source: control character U+0000", id="limit-nul-source"),
        pytest.param(recipient(name=HUGE), "name: 5000000 characters", id="recipient-5mb-name"),
        pytest.param(recipient(role="insp\x1b[2J"), "role: control character U+001B", id="recipient-escape-in-role"),
        pytest.param(window("calibration\x00"), "reason: control character U+0000", id="window-nul-reason"),
        pytest.param(window("r" * 4001), "reason: 4001 characters", id="window-long-reason"),
        pytest.param(chain(HUGE), "name: 5000000 characters", id="chain-5mb-name"),
        pytest.param(chain("Chain", steps=f"{'a' * 300}:0"), "recipients: item 0: 300 characters",
                     id="chain-huge-recipient-code"),
    ],
)
def test_admin_changes_out_of_bounds_are_refused(db: psycopg.Connection, database_url: str, change: Change,
                                                 expected: str) -> None:
    load_alert_registry(database_url)
    with pytest.raises(AdminError) as err:
        change(db)
    assert expected in str(err.value) and len(str(err.value)) < 500


def edited_plant(district: str) -> Change:
    values = {"code": "T-001", "name_zh": "厂", "name_en": "Plant", "district": district, "industry": "electroplating",
              "latitude": 30.9, "longitude": 121.5}
    return lambda conn: edit_plant(conn, Plant(**values), actor="admin", now=NOW)  # type: ignore[arg-type]


# (what, the change, the refusal's key and params); one database for all: a refusal changes nothing.
TAKEN_OR_UNKNOWN: list[tuple[str, Change, str, dict[str, str]]] = [
    ("plant-code-taken", plant(code="T-001"), "admin_error_plant_exists", {"code": "T-001"}),
    ("plant-in-unknown-district", plant(district="nowhere"), "admin_error_no_district", {"district": "nowhere"}),
    ("plant-moved-to-unknown-district", edited_plant("nowhere"), "admin_error_no_district", {"district": "nowhere"}),
    ("recipient-code-taken", recipient(code="insp-a"), "admin_error_recipient_exists", {"code": "insp-a"}),
    ("chain-code-taken", chain("Chain", code="pollution"), "admin_error_chain_exists", {"code": "pollution"}),
]


def test_admin_refuses_a_taken_code_or_an_unknown_district(db: psycopg.Connection, database_url: str) -> None:
    load_alert_registry(database_url)
    for what, change, key, params in TAKEN_OR_UNKNOWN:
        with pytest.raises(AdminError) as err:
            change(db)
        assert (what, err.value.key, err.value.params) == (what, key, params)


def test_a_device_with_a_5mb_point_name_is_refused() -> None:
    device = NewDevice("T-001", "310120T001W09", "water_analyser", "outfall", "排口", HUGE, ("w20117",), 60)
    with pytest.raises(AdminError, match="point_name_en: 5000000 characters"):
        check_device(device, {"w20117"})


def test_a_multi_line_maintenance_reason_is_kept(db: psycopg.Connection, database_url: str) -> None:
    load_alert_registry(database_url)
    window_id = window("更换探头\n校准后恢复")(db)
    assert db.execute("SELECT reason FROM maintenance_windows WHERE id = %s", (window_id,)).fetchone() == (
        "更换探头\n校准后恢复",)


@pytest.mark.parametrize("value", [pytest.param("NaN", id="nan"), pytest.param("Infinity", id="inf"),
                                   pytest.param("-Infinity", id="minus-inf")])
def test_the_limits_table_refuses_non_finite_values(db: psycopg.Connection, database_url: str, value: str) -> None:
    load_alert_registry(database_url)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO limits (scope, site_id, pollutant, scheme, basis, direction, upper_value, unit, source)"
            " SELECT 'site', id, 'w20117', 'discharge', 'instant', 'upper', %s::float8, 'mg/L', 'x' FROM sites",
            (value,),
        )
