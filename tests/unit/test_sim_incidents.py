"""Each incident kind produces the readings and flags it describes (pure, a table of cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device_sim.incidents import disturb, interval_at, next_sample_offset
from device_sim.plans import DevicePlan, build_plans
from device_sim.scenario import Incident
from device_sim.signal import base_values
from envmon.registry.load import load_registry_file

REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "fengxian.toml"
START = 1_795_000_000.0
WATER, GAS = "310120EP001W01", "310120CH001S01"  # Cr(VI) limit 0.1 mg/L; LEL 25 / 50 %


@pytest.fixture(scope="module")
def plans() -> dict[str, DevicePlan]:
    return {p.mn: p for p in build_plans(load_registry_file(REGISTRY), seed=3)}


def inc(kind: str, pollutant: str | None = "w20117", device: str = WATER, **kw: object) -> Incident:
    fields: dict[str, object] = {"device": device, "kind": kind, "at_seconds": 100.0, "duration_seconds": 200.0}
    if pollutant is not None:
        fields["pollutant"] = pollutant
    return Incident.model_validate(fields | kw)


def report(plan: DevicePlan, incident: Incident, offset: float) -> tuple[float, str, bool]:
    """The canonical value and flag of the incident's pollutant (or the first) and whether it is sent."""
    t = START + offset
    out = disturb(plan, (incident,), START, t, base_values(plan.channels, t))
    j = plan.index(incident.pollutant) if incident.pollutant else 0
    return float(out.values[j]), out.flags[j], out.send


@pytest.mark.parametrize(
    ("incident", "offset", "low", "high", "flag"),
    [
        pytest.param(inc("spike", peak_ratio=2.5), 150, 0.24, 0.26, "N", id="spike-2.5x-limit"),
        pytest.param(inc("spike", peak_value=0.7), 150, 0.68, 0.72, "N", id="spike-absolute"),
        pytest.param(inc("spike"), 99, 0.0, 0.08, "N", id="before-the-incident"),
        pytest.param(inc("spike"), 300, 0.0, 0.08, "N", id="after-the-incident"),
        pytest.param(inc("ramp", peak_ratio=1.5, rise_seconds=100), 150, 0.06, 0.11, "N", id="ramp-halfway"),
        pytest.param(inc("ramp", peak_ratio=1.5, rise_seconds=100), 250, 0.145, 0.155, "N", id="ramp-at-peak"),
        pytest.param(inc("zero"), 150, 0.0, 0.0, "N", id="zero"),
        pytest.param(inc("negative"), 150, -1.0, -1e-6, "N", id="negative-default"),
        pytest.param(inc("negative", value=0.02), 150, -0.02, -0.02, "N", id="negative-given"),
        pytest.param(inc("over_range"), 150, 0.5, 0.5, "T", id="over-range-T"),
        pytest.param(inc("calibration", value=0.08), 150, 0.08, 0.08, "C", id="calibration-C-span-value"),
        pytest.param(inc("maintenance"), 150, 0.0, 0.08, "M", id="maintenance-M"),
        pytest.param(inc("fault", flag="D"), 150, 0.0, 0.08, "D", id="fault-D"),
        pytest.param(inc("flapping"), 100, 0.105, 0.105, "N", id="flapping-above"),
        pytest.param(inc("flapping"), 101, 0.095, 0.095, "N", id="flapping-below-a-second-later"),
        pytest.param(inc("gas_leak", "s01001", GAS, level1_seconds=100), 150, 29.0, 31.5, "N", id="leak-level1"),
        pytest.param(inc("gas_leak", "s01001", GAS, level1_seconds=100), 250, 63.0, 67.0, "N", id="leak-level2"),
    ],
)
def test_incident_gives_the_value_and_flag_it_describes(
    plans: dict[str, DevicePlan], incident: Incident, offset: float, low: float, high: float, flag: str
) -> None:
    value, got_flag, sent = report(plans[incident.device], incident, offset)
    assert low - 1e-9 <= value <= high + 1e-9
    assert got_flag == flag
    assert sent


def test_stuck_sensor_repeats_the_value_it_had_when_it_stuck(plans: dict[str, DevicePlan]) -> None:
    plan, stuck = plans[WATER], inc("stuck")
    values = {report(plan, stuck, offset)[0] for offset in range(100, 300, 30)}
    assert len(values) == 1
    assert values == {float(base_values(plan.channels, START + 100)[plan.index("w20117")])}


def test_zero_leaves_the_flow_running(plans: dict[str, DevicePlan]) -> None:
    plan = plans[WATER]
    out = disturb(plan, (inc("zero"),), START, START + 150, base_values(plan.channels, START + 150))
    assert out.values[plan.index("w20117")] == 0.0 and out.values[plan.index("w00000")] > 1.0


@pytest.mark.parametrize(
    ("incident", "send", "keep", "offline"),
    [
        pytest.param(inc("offline", None), False, False, True, id="offline"),
        pytest.param(inc("offline", None, store_and_forward=True), False, True, True, id="offline-store-and-forward"),
        pytest.param(inc("drop", None), False, True, False, id="drop-kept-for-resend"),
        pytest.param(inc("drop", None, answer_resend=False), False, False, False, id="drop-lost"),
        pytest.param(inc("malformed", None, duration_seconds=0.0), True, True, False, id="malformed-is-an-event"),
    ],
)
def test_device_wide_incidents(plans: dict[str, DevicePlan], incident: Incident, send: bool, keep: bool,
                               offline: bool) -> None:
    plan = plans[WATER]
    out = disturb(plan, (incident,), START, START + 150, base_values(plan.channels, START + 150))
    assert (out.send, out.keep_for_resend, out.offline) == (send, keep, offline)


def test_maintenance_without_pollutant_flags_every_value(plans: dict[str, DevicePlan]) -> None:
    plan = plans[WATER]
    out = disturb(plan, (inc("maintenance", None),), START, START + 150, base_values(plan.channels, START + 150))
    assert set(out.flags) == {"M"}


def test_flapping_reports_at_1_hz_and_starts_on_time(plans: dict[str, DevicePlan]) -> None:
    plan, flap = plans[WATER], (inc("flapping"),)
    assert interval_at(plan, flap, 50) == 30 and interval_at(plan, flap, 150) == 1
    assert next_sample_offset(plan, flap, 90) == 100  # not 120: the flapping starts at 100
    assert next_sample_offset(plan, flap, 150) == 151
    offsets = [100.0]
    while offsets[-1] < 300:
        offsets.append(next_sample_offset(plan, flap, offsets[-1]))
    assert offsets[1:4] == [101.0, 102.0, 103.0] and offsets[-1] == 300
    assert next_sample_offset(plan, flap, 300) == 330  # back to the device's 30 s


def test_a_later_incident_wins_over_an_earlier_one(plans: dict[str, DevicePlan]) -> None:
    plan = plans[WATER]
    both = (inc("spike", peak_ratio=2.0), inc("zero"))
    out = disturb(plan, both, START, START + 150, base_values(plan.channels, START + 150))
    assert out.values[plan.index("w20117")] == 0.0
    assert np.isfinite(out.values).all()
