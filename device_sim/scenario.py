"""Scenarios: strict TOML timelines of incidents per device, checked against a registry.

    name = "demo"
    description = "..."
    duration_seconds = 1800          # optional: how long the scenario runs
    [[incidents]]
    device = "310120EP001W01"        # MN code
    kind = "spike"                   # see KIND_FIELDS
    pollutant = "w20117"
    at_seconds = 30                  # offset from the scenario start
    duration_seconds = 120
    peak_ratio = 2.5                 # times the channel's upper limit (or peak_value, canonical unit)

Unknown keys, and keys that a kind does not use, are errors naming the key.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from device_sim.errors import ScenarioError
from envmon.registry.load import Registry
from envmon.strict_toml import read_text_file, read_toml, validation_problems

Kind = Literal[
    "spike", "ramp", "gas_leak", "stuck", "zero", "negative", "over_range", "calibration", "maintenance",
    "fault", "offline", "flapping", "malformed", "drop",
]  # fmt: skip
_COMMON = {"device", "kind", "at_seconds", "note"}
# The keys each kind may use besides the common ones; the first set is required.
KIND_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "spike": ({"pollutant", "duration_seconds"}, {"peak_ratio", "peak_value"}),
    "ramp": ({"pollutant", "duration_seconds"}, {"peak_ratio", "peak_value", "rise_seconds"}),
    "gas_leak": ({"pollutant", "duration_seconds"}, {"level1_seconds"}),
    "stuck": ({"pollutant", "duration_seconds"}, set()),
    "zero": ({"pollutant", "duration_seconds"}, set()),
    "negative": ({"pollutant", "duration_seconds"}, {"value"}),
    "over_range": ({"pollutant", "duration_seconds"}, {"value"}),
    "calibration": ({"duration_seconds"}, {"pollutant", "value"}),
    "maintenance": ({"duration_seconds"}, {"pollutant"}),
    "fault": ({"duration_seconds", "flag"}, {"pollutant"}),
    "offline": ({"duration_seconds"}, {"store_and_forward"}),
    "flapping": ({"pollutant", "duration_seconds"}, {"amplitude_ratio", "interval_seconds"}),
    "malformed": (set(), {"count"}),
    "drop": ({"duration_seconds"}, {"answer_resend"}),
}
# Kinds whose magnitude is relative to the channel's limit unless given in absolute terms.
_NEEDS_UPPER = {"spike", "ramp", "flapping"}


class Incident(BaseModel):
    """One scripted incident on one device; times are offsets from the scenario start."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    device: str
    kind: Kind
    at_seconds: float = Field(ge=0)
    note: str | None = None
    pollutant: str | None = None
    duration_seconds: float = Field(default=0.0, ge=0)
    peak_ratio: float | None = Field(default=None, gt=0)
    peak_value: float | None = None
    rise_seconds: float | None = Field(default=None, gt=0)
    level1_seconds: float | None = Field(default=None, gt=0)
    value: float | None = None
    flag: Literal["F", "M", "S", "D", "C", "T", "B"] | None = None
    amplitude_ratio: float = Field(default=0.05, gt=0, lt=1)
    interval_seconds: float = Field(default=1.0, gt=0)
    count: int = Field(default=5, gt=0, le=1000)
    answer_resend: bool = True
    store_and_forward: bool = False

    @property
    def end_seconds(self) -> float:
        """Offset at which the incident is over."""
        return self.at_seconds + self.duration_seconds

    def covers(self, offset_s: float) -> bool:
        """Whether the incident is under way at this offset (start inclusive, end exclusive)."""
        return self.at_seconds <= offset_s < self.end_seconds


class Scenario(BaseModel):
    """A named timeline of incidents."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    description: str = ""
    description_zh: str = ""
    duration_seconds: float | None = Field(default=None, gt=0)
    incidents: list[Incident] = []

    def for_device(self, mn: str) -> tuple[Incident, ...]:
        """The incidents of one device, in order of start."""
        return tuple(sorted((i for i in self.incidents if i.device == mn), key=lambda i: i.at_seconds))


def _kind_problems(index: int, item: dict[str, Any]) -> list[str]:
    """Keys a kind requires but lacks, or carries but does not use."""
    kind = item.get("kind")
    if kind not in KIND_FIELDS:
        return []
    required, optional = KIND_FIELDS[kind]
    at = f"incidents[{index}] ({item.get('device', '?')}, {kind})"
    problems = [f"{at}: missing key {key!r}" for key in sorted(required - set(item))]
    unused = set(item) - _COMMON - required - optional
    problems += [f"{at}.{key}: unknown key for kind {kind!r}" for key in sorted(unused)]
    return problems


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse a scenario strictly; ScenarioError lists every problem with its key."""
    data = read_toml(text, source, ScenarioError)
    items = data.get("incidents", [])
    problems = [p for i, item in enumerate(items if isinstance(items, list) else []) for p in _kind_problems(i, item)]
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, validation_problems(exc, data) + problems) from exc
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def check_scenario(scenario: Scenario, registry: Registry, source: str = "<scenario>") -> None:
    """Every incident names a registered device and one of its pollutants, with the limits it needs."""
    from device_sim.limits import device_limits

    devices = {d.mn: d for d in registry.file.devices}
    problems: list[str] = []
    for i, inc in enumerate(scenario.incidents):
        at = f"incidents[{i}] ({inc.device}, {inc.kind})"
        device = devices.get(inc.device)
        if device is None:
            problems.append(f"{at}.device: {inc.device!r} is not in the registry")
            continue
        if inc.pollutant is not None and inc.pollutant not in device.pollutants:
            problems.append(f"{at}.pollutant: {inc.device} does not measure {inc.pollutant}")
            continue
        limit = device_limits(registry, device).get(inc.pollutant or "")
        if inc.kind in _NEEDS_UPPER and inc.peak_value is None and (limit is None or limit.upper is None):
            problems.append(f"{at}: {inc.pollutant} has no upper limit here; give peak_value")
        if inc.kind == "gas_leak" and (limit is None or limit.upper is None or limit.level2_upper is None):
            problems.append(f"{at}: gas_leak needs a gas alarm limit with two levels for {inc.pollutant}")
    if problems:
        raise ScenarioError(source, problems)


def scenario_names() -> list[str]:
    """The scenarios shipped with the simulator."""
    folder = resources.files("device_sim").joinpath("scenarios")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a scenario file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return parse_scenario(read_text_file(path, ScenarioError), str(path))
    resource = resources.files("device_sim").joinpath("scenarios", f"{name_or_path}.toml")
    if not resource.is_file():
        raise ScenarioError(name_or_path, [f"no such scenario; shipped: {', '.join(scenario_names())}"])
    return parse_scenario(resource.read_text(encoding="utf-8"), f"scenarios/{name_or_path}.toml")
