"""Every incident of every shipped scenario produces the readings and flags it describes (no network:
each device's stream is run through the incident's window)."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_sim.plans import DevicePlan, build_plans
from device_sim.samples import Action, DeviceStream, Sample
from device_sim.scenario import Incident, load_scenario, scenario_names
from envmon.registry.load import load_registry_file

REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "fengxian.toml"
START = 1_795_000_000.0


@pytest.fixture(scope="module")
def plans() -> dict[str, DevicePlan]:
    return {p.mn: p for p in build_plans(load_registry_file(REGISTRY), seed=0)}


def _window(plan: DevicePlan, incidents: tuple[Incident, ...], inc: Incident) -> list[tuple[Action, Sample | None]]:
    """What the device did from its first sample until the end of the incident's window."""
    stream = DeviceStream(plan, incidents, START, phase_s=plan.phase_s)
    seen = []
    while stream.next_s < START + inc.end_seconds:
        t = stream.next_s
        action, sample = stream.advance()
        if t >= START + inc.at_seconds:
            seen.append((action, sample))
    return seen


def _canonical(plan: DevicePlan, sample: Sample, code: str) -> float:
    j = plan.index(code)
    return sample.values[j] * float(plan.protocol_factor[j])


def _check(plan: DevicePlan, inc: Incident, seen: list[tuple[Action, Sample | None]]) -> None:
    samples = [s for a, s in seen if s is not None and a == "send"]
    code = inc.pollutant or plan.codes[0]
    values = [_canonical(plan, s, code) for s in samples]
    flags = [s.flags[plan.index(code)] for s in samples]
    limit = plan.limits.get(code)
    upper = limit.upper if limit is not None and limit.upper is not None else None
    if inc.kind == "offline":
        assert seen and {a for a, _ in seen} == {"stored" if inc.store_and_forward else "offline"}
        return
    if inc.kind == "drop":
        assert seen and {a for a, _ in seen} == {"hold" if inc.answer_resend else "lose"}
        return
    if inc.kind == "malformed":
        return  # a burst at one instant, made by the engine (see test_sim_samples and the MQTT tests)
    assert len(samples) >= 2, "the window holds too few samples to show anything"
    expected_flag = {"over_range": "T", "calibration": "C", "maintenance": "M", "fault": inc.flag}.get(inc.kind, "N")
    assert set(flags) == {expected_flag}
    if inc.kind == "spike" and upper is not None:
        assert min(values) > upper * min(1.0, (inc.peak_ratio or 2.0) * 0.95)
    elif inc.kind == "ramp" and upper is not None:
        assert values[0] < 0.8 * upper < upper < values[-1]  # through the warning line to an exceedance
    elif inc.kind == "gas_leak":
        assert limit is not None and limit.upper is not None and limit.level2_upper is not None
        assert any(limit.upper <= v < limit.level2_upper for v in values) and max(values) > limit.level2_upper
    elif inc.kind == "stuck":
        assert len(set(values)) == 1
    elif inc.kind == "zero":
        assert set(values) == {0.0}
        if "w00000" in plan.codes:
            assert min(_canonical(plan, s, "w00000") for s in samples) > 0.5  # the flow runs on
    elif inc.kind == "negative":
        assert max(values) < 0
    elif inc.kind == "flapping" and upper is not None:
        assert {v > upper for v in values} == {True, False}
        assert {b.time_s - a.time_s for a, b in zip(samples, samples[1:], strict=False)} == {inc.interval_seconds}


CASES = [
    pytest.param(name, i, id=f"{name}-{i}-{inc.kind}")
    for name in scenario_names()
    for i, inc in enumerate(load_scenario(name).incidents)
]


@pytest.mark.parametrize(("name", "index"), CASES)
def test_incident_shows_in_the_readings(plans: dict[str, DevicePlan], name: str, index: int) -> None:
    scenario = load_scenario(name)
    inc = scenario.incidents[index]
    plan = plans[inc.device]
    _check(plan, inc, _window(plan, scenario.for_device(inc.device), inc))
