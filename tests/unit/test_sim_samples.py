"""A device's stream: determinism, sequence numbers through outages and losses, protocol units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_sim.payloads import encode_sample, malformed_payloads, stored_payloads
from device_sim.plans import DevicePlan, build_plans
from device_sim.samples import DeviceStream, Sample
from device_sim.scenario import Incident, load_scenario
from envmon.catalogue import load_catalogue
from envmon.protocols.errors import RejectedMessage
from envmon.protocols.mqtt_json import decode_payload
from envmon.registry.load import load_registry_file

REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "fengxian.toml"
START = 1_795_000_000.0
WATER = "310120EP001W01"


@pytest.fixture(scope="module")
def plans() -> dict[str, DevicePlan]:
    return {p.mn: p for p in build_plans(load_registry_file(REGISTRY), seed=11)}


def _incident(kind: str, at: float, duration: float, **kw: object) -> Incident:
    return Incident.model_validate({"device": WATER, "kind": kind, "at_seconds": at, "duration_seconds": duration} | kw)


def _run(plan: DevicePlan, incidents: tuple[Incident, ...], steps: int) -> list[tuple[str, int | None, float]]:
    stream = DeviceStream(plan, incidents, START)
    out = []
    for _ in range(steps):
        action, sample = stream.advance()
        out.append((action, sample.seq if sample else None, sample.time_s - START if sample else -1.0))
    return out


def test_same_seed_and_scenario_give_byte_identical_messages() -> None:
    registry = load_registry_file(REGISTRY)
    scenario = load_scenario("demo")

    def messages(seed: int) -> list[bytes]:
        streams = [DeviceStream(p, scenario.for_device(p.mn), START) for p in build_plans(registry, seed)[:40]]
        made = []
        for _ in range(30):
            for stream in streams:
                _, sample = stream.advance()
                if sample is not None:
                    made.append(encode_sample(sample))
        return made

    first = messages(5)
    assert first == messages(5)
    assert first != messages(6)


def test_samples_come_every_reporting_interval_with_seq_counting_up(plans: dict[str, DevicePlan]) -> None:
    assert _run(plans[WATER], (), 4) == [("send", 1, 0.0), ("send", 2, 30.0), ("send", 3, 60.0), ("send", 4, 90.0)]


def test_offline_device_makes_no_messages_and_uses_no_seq(plans: dict[str, DevicePlan]) -> None:
    steps = _run(plans[WATER], (_incident("offline", 30, 60),), 5)
    assert steps == [("send", 1, 0.0), ("offline", None, -1.0), ("offline", None, -1.0), ("send", 2, 90.0),
                     ("send", 3, 120.0)]


def test_store_and_forward_device_keeps_measuring_through_an_outage(plans: dict[str, DevicePlan]) -> None:
    steps = _run(plans[WATER], (_incident("offline", 30, 60, store_and_forward=True),), 4)
    assert [(a, s) for a, s, _ in steps] == [("send", 1), ("stored", 2), ("stored", 3), ("send", 4)]


def test_stored_samples_are_cut_at_ingests_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = [Sample("G", n, START + 5 * n, ("s01001",), (0.5,), ("N",)) for n in range(1, 2501)]
    by_size = stored_payloads(samples)
    assert all(len(p) <= 64 * 1024 for p in by_size) and len(by_size) == 3
    monkeypatch.setattr("device_sim.payloads.MAX_SAMPLES", 1000)
    monkeypatch.setattr("device_sim.payloads.MAX_PAYLOAD_BYTES", 10**9)
    assert [len(json.loads(p)["samples"]) for p in stored_payloads(samples)] == [1000, 1000, 500]


def test_stored_samples_travel_as_samples_messages_ingest_accepts(plans: dict[str, DevicePlan]) -> None:
    stream = DeviceStream(plans[WATER], (), START)
    samples = [s for _, s in (stream.advance() for _ in range(1500)) if s is not None]
    payloads = stored_payloads(samples)
    assert len(payloads) >= 5 and all(len(p) <= 64 * 1024 for p in payloads)  # ingest's size limit
    decoded = [decode_payload(p, now=samples[-1].time) for p in payloads]
    seqs = [s.seq for m in decoded for s in m.samples]
    assert seqs == list(range(1, 1501)) and {m.device for m in decoded} == {WATER}
    assert decoded[0].samples[0].time == samples[0].time


@pytest.mark.parametrize(("answer", "action"), [pytest.param(True, "hold", id="kept"),
                                                 pytest.param(False, "lose", id="lost")])
def test_dropped_messages_use_their_seq(plans: dict[str, DevicePlan], answer: bool, action: str) -> None:
    steps = _run(plans[WATER], (_incident("drop", 30, 60, answer_resend=answer),), 4)
    assert [(a, s) for a, s, _ in steps] == [("send", 1), (action, 2), (action, 3), ("send", 4)]


def test_values_travel_in_protocol_units(plans: dict[str, DevicePlan]) -> None:
    plan = plans[WATER]
    stream = DeviceStream(plan, (_incident("spike", 0, 60, pollutant="w20117", peak_value=0.25),), START)
    _, sample = stream.advance()
    assert sample is not None
    cr6 = sample.values[plan.index("w20117")]
    assert load_catalogue().get("w20117").protocol_unit == "ug/L"
    assert cr6 == pytest.approx(250, rel=0.1)  # 0.25 mg/L sent as ug/L


def test_payload_is_what_ingest_accepts(plans: dict[str, DevicePlan]) -> None:
    plan = plans[WATER]
    stream = DeviceStream(plan, (_incident("over_range", 0, 60, pollutant="w20117"),), START)
    _, sample = stream.advance()
    assert sample is not None
    decoded = decode_payload(encode_sample(sample), now=sample.time)
    assert decoded.device == WATER
    (one,) = decoded.samples
    assert one.seq == 1 and one.time == sample.time
    assert dict((c, (v, f)) for c, v, f in one.values)["w20117"] == (sample.values[0], "T")


def test_each_malformed_message_is_rejected_by_ingest_for_its_own_reason(plans: dict[str, DevicePlan]) -> None:
    _, sample = DeviceStream(plans[WATER], (), START).advance()
    assert sample is not None
    reasons = []
    for payload in malformed_payloads(sample, 7):
        with pytest.raises(RejectedMessage) as info:
            decode_payload(payload, now=sample.time)
        reasons.append(info.value.reason)
    assert reasons == ["malformed_json", "invalid_schema", "malformed_json", "invalid_time", "invalid_flag",
                       "time_in_future", "malformed_json"]
