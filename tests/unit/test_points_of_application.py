"""Where a limit applies: first-class metals at workshop outlets only (GB 8978-1996 4.2.1.1, GB 21900-2008
Tables 1-3), flue-gas presets on the corrected series at the device's reference O2."""

from __future__ import annotations

import pytest

from alerts.rules.registry import from_registry
from device_sim.limits import device_limits
from envmon.errors import RegistryError
from envmon.registry.load import load_presets, parse_presets, parse_registry

SITE = """
version = 1

[[districts]]
code = "fx"
name_zh = "奉贤区"
name_en = "Fengxian"

[[sites]]
code = "EP"
name_zh = "电镀厂"
name_en = "Plating plant"
district = "fx"
industry = "electroplating"
limit_presets = ["{preset}"]
"""
WATER = """
[[devices]]
mn = "{mn}"
site = "EP"
point_kind = "{point}"
point_name_zh = "排口"
point_name_en = "Outlet"
kind = "water_analyser"
transport = "mqtt"
system_code = "32"
pollutants = ["w20117", "w20115", "w01018", "w01001"]
reporting_interval_seconds = 30
"""
STACK = """
[[devices]]
mn = "STACK"
site = "EP"
point_kind = "stack"
point_name_zh = "锅炉排气筒"
point_name_en = "Boiler stack"
kind = "cems"
transport = "mqtt"
system_code = "31"
pollutants = ["a21026", "a21002", "a34013", "a19001", "a21026z", "a21002z", "a34013z"]
reporting_interval_seconds = 30
{extra}
"""


def _registry(preset: str, devices: str) -> str:
    return SITE.format(preset=preset) + devices


def _limited(registry_text: str) -> dict[str, set[str]]:
    """Pollutants each device has an engine limit for."""
    engine = from_registry(parse_registry(registry_text))
    found: dict[str, set[str]] = {d.mn: set() for d in engine.devices.values()}
    for lim in engine.limits:
        found[engine.devices[lim.device_id].mn].add(lim.pollutant)
    return found


@pytest.mark.parametrize(
    ("preset", "point", "expected"),
    [
        pytest.param("GB21900-2008-T3", "workshop_outlet", {"w20117", "w20115", "w01018", "w01001"},
                     id="gb21900-metals-and-the-rest-at-a-workshop-outlet"),
        pytest.param("GB21900-2008-T3", "outfall", {"w01018", "w01001"}, id="gb21900-no-metals-at-the-main-outfall"),
        pytest.param("GB8978-1996-C1", "outfall", set(), id="gb8978-first-class-never-at-the-main-outfall"),
        pytest.param("GB8978-1996-C1", "workshop_outlet", {"w20117", "w20115"}, id="gb8978-first-class-at-the-workshop"),
    ],
)
def test_a_site_preset_puts_each_row_only_where_it_applies(preset: str, point: str, expected: set[str]) -> None:
    text = _registry(preset, WATER.format(mn="W", point=point))
    assert _limited(text)["W"] == expected
    registry = parse_registry(text)
    assert set(device_limits(registry, registry.file.devices[0])) == expected


def test_an_explicit_site_limit_names_its_points_and_replaces_the_preset_row() -> None:
    # One site limit per pollutant and basis: the explicit one replaces the preset's row everywhere.
    explicit = """
[[limits]]
site = "EP"
pollutant = "w20117"
scheme = "discharge"
basis = "day"
upper = 0.05
source = "排污许可证"
point_kinds = ["outfall"]
"""
    text = _registry("GB8978-1996-C1", WATER.format(mn="OUT", point="outfall") + WATER.format(mn="WS", point="workshop_outlet")
                     + explicit)
    limited = _limited(text)
    assert limited["OUT"] == {"w20117"}
    assert limited["WS"] == {"w20115"}


def test_gb21900_rows_cite_table_and_item_and_metals_name_the_workshop_outlet() -> None:
    presets = load_presets()
    for preset_id in ("GB21900-2008-T2", "GB21900-2008-T3"):
        rows = {r.pollutant: r for r in presets[preset_id].limits}
        assert {"w01018", "w21003", "w21001", "w21011", "w21016", "w21017"} <= set(rows)
        assert all(r.citation for r in rows.values())
        metals = {"w20111", "w20115", "w20116", "w20117", "w20120", "w20121"}
        assert {c for c, r in rows.items() if r.point_kinds == ["workshop_outlet"]} == metals


@pytest.mark.parametrize(
    ("preset", "extra", "problem"),
    [
        pytest.param("GB13271-2014-T2-gas", "", "devices[0] (STACK).o2_reference_percent: needed for the corrected channels",
                     id="corrected-channels-need-a-reference-o2"),
        pytest.param("GB13271-2014-T2-gas", "o2_reference_percent = 9.0",
                     "devices[0] (STACK).o2_reference_percent: 9.0 %, but the site's preset GB13271-2014-T2-gas judges",
                     id="reference-o2-of-the-preset-and-the-device-differ"),
    ],
)
def test_corrected_channels_and_their_reference_o2_are_checked(preset: str, extra: str, problem: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_registry(_registry(preset, STACK.format(extra=extra)), "case.toml")
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_a_boiler_preset_limits_the_corrected_series_of_the_stack_only() -> None:
    text = _registry("GB13271-2014-T2-gas", STACK.format(extra="o2_reference_percent = 3.5")
                     + WATER.format(mn="W", point="outfall"))
    limited = _limited(text)
    assert limited["STACK"] == {"a21026z", "a21002z", "a34013z"}
    assert limited["W"] == set()


def test_only_a_stack_monitor_has_a_reference_o2() -> None:
    text = _registry("GB21900-2008-T3", WATER.format(mn="W", point="outfall") + "o2_reference_percent = 3.5\n")
    with pytest.raises(RegistryError, match=r"devices\[0\] \(W\): o2_reference_percent is for stack monitors"):
        parse_registry(text)


def test_a_cems_cannot_stand_at_a_workshop_outlet() -> None:
    text = _registry("GB16297-1996-T2", STACK.format(extra="").replace('point_kind = "stack"', 'point_kind = "workshop_outlet"'))
    with pytest.raises(RegistryError, match="a cems stands at an 'stack' point, not 'workshop_outlet'"):
        parse_registry(text)


def test_a_preset_with_corrected_rows_names_its_reference_o2() -> None:
    text = """
[[presets]]
id = "X"
name_zh = "x"
name_en = "x"
source = "GB x"
scheme = "discharge"
basis = "hour"
limits = [{ pollutant = "a21026z", upper = 50.0, confidence = "U" }]
"""
    with pytest.raises(RegistryError, match=r"presets\[0\] \(X\).o2_reference_percent: needed for the corrected rows a21026z"):
        parse_presets(text)
    assert parse_presets(text.replace('basis = "hour"', 'basis = "hour"\no2_reference_percent = 3.5'))["X"]


def test_the_simulator_places_measured_flue_gas_below_the_corrected_limit_and_sends_no_corrected_series() -> None:
    from device_sim.plans import sent_codes

    registry = parse_registry(_registry("GB13271-2014-T2-gas", STACK.format(extra="o2_reference_percent = 3.5")))
    device = registry.file.devices[0]
    limits = device_limits(registry, device)
    # At the simulated O2 of 10 %, a measured 50 x 11 / 17.5 mg/m3 corrects to the 50 mg/m3 SO2 limit.
    assert limits["a21026"].upper == pytest.approx(50.0 * 11 / 17.5)
    assert limits["a21026z"].upper == 50.0
    assert sent_codes(device) == ("a21026", "a21002", "a34013", "a19001")
