"""Scenario files: strict parsing (unknown keys named), checks against the registry, shipped scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_sim.errors import ScenarioError
from device_sim.scenario import check_scenario, load_scenario, parse_scenario, scenario_names
from envmon.registry.load import Registry, load_registry_file

REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "fengxian.toml"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry_file(REGISTRY)


def _one(incident: str, head: str = 'name = "t"') -> str:
    return f"{head}\n[[incidents]]\n{incident}\n"


SPIKE = 'device = "310120EP001W01"\nkind = "spike"\npollutant = "w20117"\nat_seconds = 30\nduration_seconds = 60'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(_one(SPIKE, 'name = "t"\ncolour = "red"'), "colour: unknown key", id="unknown-top-level-key"),
        pytest.param(_one(SPIKE + "\nmagnitude = 3"), "incidents[0].magnitude: unknown key", id="unknown-incident-key"),
        pytest.param(_one(SPIKE + "\ncount = 3"), "count: unknown key for kind 'spike'", id="key-of-another-kind"),
        pytest.param(_one(SPIKE + "\nstore_and_forward = true"), "store_and_forward: unknown key for kind 'spike'",
                     id="store-and-forward-only-for-outages"),
        pytest.param(_one('device = "X"\nkind = "stuck"\nat_seconds = 0\nduration_seconds = 5'),
                     "missing key 'pollutant'", id="missing-required-key"),
        pytest.param(_one(SPIKE.replace("spike", "explode")), "incidents[0].kind", id="unknown-kind"),
        pytest.param(_one(SPIKE.replace("at_seconds = 30", "at_seconds = -1")), "at_seconds", id="negative-offset"),
        pytest.param(_one(SPIKE.replace("at_seconds = 30", 'at_seconds = "30"')), "at_seconds", id="wrong-type"),
        pytest.param("name = ", "not valid TOML", id="not-toml"),
    ],
)
def test_invalid_scenarios_are_refused_with_the_key_named(text: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.toml")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("incident", "problem"),
    [
        pytest.param(SPIKE.replace("310120EP001W01", "NOPE"), "'NOPE' is not in the registry", id="unknown-device"),
        pytest.param(SPIKE.replace("w20117", "w21003"), "does not measure w21003", id="pollutant-not-measured"),
        pytest.param(SPIKE.replace("w20117", "w00000"), "no upper limit here; give peak_value", id="no-limit"),
        pytest.param('device = "310120EP001W01"\nkind = "gas_leak"\npollutant = "w20117"\nat_seconds = 0\n'
                     "duration_seconds = 60", "gas_leak needs a gas alarm limit", id="leak-without-levels"),
    ],
)
def test_scenarios_that_do_not_fit_the_registry_are_refused(registry: Registry, incident: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        check_scenario(parse_scenario(_one(incident)), registry, "t.toml")
    assert problem in str(info.value)


def test_peak_value_makes_a_limitless_channel_usable(registry: Registry) -> None:
    text = _one(SPIKE.replace("w20117", "w00000") + "\npeak_value = 50.0")
    check_scenario(parse_scenario(text), registry)


def test_times_are_offsets_and_incidents_are_kept_per_device_in_order() -> None:
    text = (
        'name = "t"\n[[incidents]]\n' + SPIKE.replace("at_seconds = 30", "at_seconds = 90")
        + '\n[[incidents]]\ndevice = "310120EP001W01"\nkind = "offline"\nat_seconds = 10\nduration_seconds = 5\n'
    )
    incidents = parse_scenario(text).for_device("310120EP001W01")
    assert [i.kind for i in incidents] == ["offline", "spike"]
    assert incidents[0].covers(10) and incidents[0].covers(14.9) and not incidents[0].covers(15)


SHIPPED = [
    "demo", "instant_exceedance", "hourly_exceedance", "gas_levels", "flags", "silent_device", "zero_flow",
    "constant", "negative", "seq_gaps", "flapping", "malformed", "chaos", "review", "plant_answer",
]


def test_a_scenario_ships_for_the_demo_and_every_alert_rule() -> None:
    assert set(SHIPPED) <= set(scenario_names())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_fit_the_example_district(registry: Registry, name: str) -> None:
    scenario = load_scenario(name)
    check_scenario(scenario, registry, name)
    assert scenario.incidents and scenario.description


def test_demo_incidents_start_within_the_first_minutes() -> None:
    starts = sorted(i.at_seconds for i in load_scenario("demo").incidents)
    assert starts[0] <= 60 and sum(s <= 300 for s in starts) >= 10


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="shipped: backfill, chaos, constant, demo"):
        load_scenario("nope")
