"""Which bound is in force where a permit and the national preset both limit an outlet, and file checks."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from alerts.model import LimitSpec
from alerts.rules.limits import LimitTable, SeriesLayout
from alerts.rules.registry import from_registry
from envmon.errors import RegistryError
from envmon.registry.load import parse_registry
from envmon.registry.permits import Bounds, InForce, day_start, is_permit_binding, limit_in_force
from tests.unit.test_registry_load import VALID

GB = "GB 21900-2008 表3"
PERMIT = "排污许可证 X DW001"


@pytest.mark.parametrize(
    ("national", "permit", "expected"),
    [
        pytest.param(Bounds(None, 0.1, GB), Bounds(None, 0.05, PERMIT), InForce(None, 0.05, None, PERMIT),
                     id="stricter-permit-upper-wins"),
        pytest.param(Bounds(None, 0.1, GB), Bounds(None, 0.2, PERMIT), InForce(None, 0.1, None, GB),
                     id="looser-permit-national-stays"),
        pytest.param(Bounds(None, 0.1, GB), Bounds(None, 0.1, PERMIT), InForce(None, 0.1, None, GB),
                     id="equal-bound-names-the-standard"),
        pytest.param(None, Bounds(None, 0.3, PERMIT), InForce(None, 0.3, None, PERMIT),
                     id="no-national-limit-permit-alone"),
        pytest.param(Bounds(6.0, 9.0, GB), Bounds(6.5, 9.5, PERMIT), InForce(6.5, 9.0, PERMIT, GB),
                     id="range-takes-each-stricter-bound"),
        pytest.param(Bounds(6.0, 9.0, GB), Bounds(6.5, 8.5, PERMIT), InForce(6.5, 8.5, PERMIT, PERMIT),
                     id="range-both-bounds-from-permit"),
        pytest.param(Bounds(5.0, None, GB), Bounds(4.0, None, PERMIT), InForce(5.0, None, GB, None),
                     id="lower-limit-higher-is-stricter"),
        pytest.param(Bounds(6.0, 9.0, GB), Bounds(None, 8.0, PERMIT), InForce(6.0, 8.0, GB, PERMIT),
                     id="permit-upper-only-against-national-range"),
    ],
)
def test_limit_in_force_takes_the_stricter_bound(national: Bounds | None, permit: Bounds, expected: InForce) -> None:
    assert limit_in_force(national, permit) == expected


@pytest.mark.parametrize(
    ("national", "permit", "binding", "direction", "sources"),
    [
        pytest.param(Bounds(None, 0.1, GB), Bounds(None, 0.05, PERMIT), True, "upper", [PERMIT], id="permit"),
        pytest.param(Bounds(None, 0.1, GB), Bounds(None, 0.5, PERMIT), False, "upper", [GB], id="national"),
        pytest.param(Bounds(6.0, 9.0, GB), Bounds(6.5, 9.5, PERMIT), True, "range", [GB, PERMIT], id="mixed"),
        pytest.param(Bounds(5.0, None, GB), Bounds(5.5, None, PERMIT), True, "lower", [PERMIT], id="lower"),
    ],
)
def test_binding_direction_and_sources(national: Bounds, permit: Bounds, binding: bool, direction: str,
                                       sources: list[str]) -> None:
    chosen = limit_in_force(national, permit)
    assert (is_permit_binding(chosen, permit), chosen.direction, chosen.sources()) == (binding, direction, sources)


def test_permit_days_start_at_china_midnight() -> None:
    assert day_start(date(2026, 1, 1)) == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


FILE = VALID + """
[[permits]]
site = "FX-EP-001"
number = "91310120700547736C001P"
valid_from = 2026-01-01
valid_to = 2030-12-31

[[permits.outlets]]
code = "DW001"
name_zh = "总排口"
name_en = "Main outfall"
devices = ["310120EP001W01"]
limits = [{ pollutant = "w20117", upper = 0.05 }, { pollutant = "w01001", direction = "range", lower = 6.5, upper = 9.5 }]

[[eia_records]]
site = "FX-EP-001"
kind = "approval"
number = "沪奉环保许评〔2011〕155号"
decided_on = 2011-06-01

[[enforcement_records]]
site = "FX-EP-001"
decided_on = 2025-03-02
kind = "penalty"
case_number = "第2125000123号"
penalty_yuan = 200000
status = "closed"
"""


def test_enterprise_file_parses() -> None:
    reg = parse_registry(FILE, "file.toml").file
    assert reg.permits[0].outlets[0].limits[1].lower == 6.5
    assert reg.enforcement_records[0].penalty_yuan == 200000


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param('site = "FX-EP-001"\nnumber', 'site = "FX-EP-404"\nnumber', "unknown site 'FX-EP-404'",
                     id="unknown-site"),
        pytest.param('devices = ["310120EP001W01"]', 'devices = ["310120XX"]', "is not a device of FX-EP-001",
                     id="foreign-device"),
        pytest.param('pollutant = "w20117", upper = 0.05', 'pollutant = "w99999", upper = 0.05',
                     "unknown pollutant 'w99999'", id="unknown-pollutant"),
        pytest.param("valid_to = 2030-12-31", "valid_to = 2020-12-31", "valid_to must not be before valid_from",
                     id="validity-reversed"),
        pytest.param('status = "closed"', 'status = "forgotten"', "status", id="unknown-status"),
        pytest.param('{ pollutant = "w20117", upper = 0.05 }', '{ pollutant = "w20117", direction = "range", upper = 1.0 }',
                     "needs lower", id="range-without-lower"),
    ],
)
def test_enterprise_file_errors_name_the_place(old: str, new: str, problem: str) -> None:
    assert old in FILE
    with pytest.raises(RegistryError) as info:
        parse_registry(FILE.replace(old, new, 1), "file.toml")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("from_permit", "words"),
    [
        pytest.param(True, {"limit_from": "permit", "prewarning_of": "day"}, id="permit-limit-named-in-the-judgement"),
        pytest.param(False, {"prewarning_of": "day"}, id="standard-limit-carries-no-mark"),
    ],
)
def test_engine_judgement_carries_the_limit_source(from_permit: bool, words: dict[str, object]) -> None:
    spec = LimitSpec(limit_id=1, device_id=1, pollutant="w20117", scheme="discharge", basis="day", direction="upper",
                     lower=None, upper=0.05, warning_ratio=None, severe_multiple=None, level2_lower=None,
                     level2_upper=None, unit="mg/L", source=PERMIT, valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                     valid_to=None, from_permit=from_permit)
    table = LimitTable([spec], SeriesLayout((1,), ("w20117",)))
    assert table.words[0] == words


def test_offline_engine_registry_applies_permit_limits_as_the_database_does() -> None:
    specs = from_registry(parse_registry(FILE, "file.toml")).limits
    ph = [(s.lower, s.upper, s.source) for s in specs if s.from_permit and s.pollutant == "w01001"]
    assert ph == [(6.5, 9.0, "GB 21900-2008 表3 / 排污许可证 91310120700547736C001P DW001")]
    # The explicit device limit at the derived row's key (Cr(VI) at W01 from 2026-01-01) wins.
    assert not any(s.from_permit for s in specs if s.pollutant == "w20117")
