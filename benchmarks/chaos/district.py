"""The chaos run's plants and timeline: MQTT devices of five example plants, and a repeating incident cycle."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from device_sim.scenario import Scenario, load_scenario

EXAMPLE_REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "fengxian.toml"
# Two electroplating/lead plants (instant exceedances, minutes apart) and three chemical plants whose
# gas detectors report every 5 s (gas alarms escalating in seconds): 17 MQTT devices.
SITES = ("FX-EP-001", "FX-PB-001", "FX-CH-001", "FX-CH-002", "FX-CH-003")
SCENARIO = "chaos"


def subset_registry(sites: tuple[str, ...] = SITES, source: Path = EXAMPLE_REGISTRY) -> str:
    """The example district cut down to `sites` and their MQTT devices, as registry TOML."""
    data: dict[str, Any] = tomllib.loads(source.read_text(encoding="utf-8"))
    keep = set(sites)
    data["sites"] = [s for s in data["sites"] if s["code"] in keep]
    data["devices"] = [d for d in data["devices"] if d["site"] in keep and d["transport"] == "mqtt"]
    devices = {d["mn"] for d in data["devices"]}
    data["limits"] = [
        limit for limit in data["limits"]
        if limit.get("site", "") in keep or limit.get("device", "") in devices
        or ("site" not in limit and "device" not in limit)
    ]
    # A plant's file (permits, EIA and enforcement records) belongs to its site: kept with the site only.
    for section in ("permits", "eia_records", "enforcement_records"):
        if section in data:
            data[section] = [record for record in data[section] if record["site"] in keep]
    return tomli_w.dumps(data)


def device_codes(registry_text: str) -> tuple[str, ...]:
    """The MN codes of a registry's devices, in file order."""
    return tuple(d["mn"] for d in tomllib.loads(registry_text)["devices"])


def repeated_scenario(duration_seconds: float, base: Scenario | None = None) -> Scenario:
    """The shipped chaos cycle repeated back to back until `duration_seconds` (one cycle per its duration)."""
    cycle = base or load_scenario(SCENARIO)
    period = cycle.duration_seconds or duration_seconds
    incidents = []
    start = 0.0
    while start < duration_seconds:
        incidents += [i.model_copy(update={"at_seconds": i.at_seconds + start}) for i in cycle.incidents
                      if i.at_seconds + start < duration_seconds]
        start += period
    return cycle.model_copy(update={"incidents": incidents, "duration_seconds": duration_seconds})


def scenario_toml(scenario: Scenario) -> str:
    """A scenario as TOML that `envmon sim --scenario FILE` and `load_scenario` read back."""
    data = scenario.model_dump(exclude_defaults=True)
    data["name"] = scenario.name
    data["incidents"] = [i.model_dump(exclude_defaults=True) | {"device": i.device, "kind": i.kind,
                                                                 "at_seconds": i.at_seconds}
                         for i in scenario.incidents]
    return tomli_w.dumps(data)
