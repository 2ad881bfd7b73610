"""The bulk generators: load mode's messages (valid, the same signal as normal mode, deterministic) and the demo
backfill's history (the per-sample path's JSON, made in bulk, sent oldest first)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device_sim.fastgen import LOAD_CODES, LoadBlock, history_parts
from device_sim.history import DeviceHistory, blocks
from device_sim.payloads import sample_body
from device_sim.plans import build_plans
from device_sim.samples import DeviceStream
from envmon.protocols.hj212.times import CST
from envmon.protocols.mqtt_json import decode_payload
from envmon.registry.load import load_registry_file
from tests.conftest import EXAMPLE_REGISTRY

T = 1_795_000_000.0


def test_each_round_gives_one_valid_message_per_device_with_seq_counting_rounds() -> None:
    block = LoadBlock([f"LOAD{n:05d}" for n in range(50)], LOAD_CODES, seed=1)
    first, second = block.round(T), block.round(T + 1)
    assert len(first) == 50
    from datetime import datetime

    now = datetime.fromtimestamp(T + 1, CST)
    for k, payload in enumerate(first):
        message = decode_payload(payload, now=now)
        assert message.device == f"LOAD{k:05d}"
        assert message.samples[0].seq == 1 and len(message.samples[0].values) == len(LOAD_CODES)
    assert json.loads(second[0])["seq"] == 2


def test_values_are_plausible_and_deterministic() -> None:
    mns = [f"LOAD{n:05d}" for n in range(20)]
    a, b = LoadBlock(mns, LOAD_CODES, seed=4).round(T), LoadBlock(mns, LOAD_CODES, seed=4).round(T)
    assert a == b
    values = np.array([[v for v in json.loads(p)["values"].values()] for p in a])
    cr6_ug_l = values[:, LOAD_CODES.index("w20117")]
    assert ((cr6_ug_l > 5) & (cr6_ug_l < 80)).all()  # below the 0.1 mg/L limit, in ug/L
    ph = values[:, LOAD_CODES.index("w01001")]
    assert ((ph > 6.5) & (ph < 8.0)).all()


def test_history_parts_are_what_the_per_sample_path_sends() -> None:
    """The demo's bulk history (fastgen.history_parts) and a device without incidents sample by sample
    (DeviceStream, payloads.sample_body) give the same JSON, byte for byte: values, rounding, times, seq."""
    registry = load_registry_file(EXAMPLE_REGISTRY)
    plans = [p for p in build_plans(registry, 0, None) if p.transport == "mqtt"]
    start_s = 1_796_000_000.0
    for plan in (plans[0], plans[1], plans[-1]):  # nine, two and two pollutants; 30 s and 5 s
        stream = DeviceStream(plan, (), start_s, phase_s=plan.phase_s, first_seq=7)
        slow = []
        for _ in range(300):
            _, sample = stream.advance()
            assert sample is not None
            body = {k: v for k, v in sample_body(sample).items() if k != "device"}
            slow.append(json.dumps(body, separators=(",", ":")).encode())
        times = start_s + plan.phase_s + plan.interval_seconds * np.arange(300)
        assert history_parts(plan, times, 7) == slow, plan.mn


@pytest.mark.parametrize(("lengths", "firsts", "expected"), [
    pytest.param((2500, 10), (0.0, 5.0), [(0, 0, 1000), (1, 0, 10), (0, 1000, 2000), (0, 2000, 2500)],
                 id="oldest-first-across-devices"),
    pytest.param((0, 3), (0.0, 0.0), [(1, 0, 3)], id="a-device-with-nothing-to-send"),
])
def test_history_blocks_go_oldest_first(lengths: tuple[int, ...], firsts: tuple[float, ...],
                                        expected: list[tuple[int, int, int]]) -> None:
    plan = build_plans(load_registry_file(EXAMPLE_REGISTRY), 0, ("310120EP001W01",))[0]
    # Device 0 samples every second from 0 s, device 1 from `firsts[1]`: block k of device 0 starts at 1,000 k s.
    histories = [DeviceHistory(plan, first + np.arange(n, dtype=np.float64)) for n, first in zip(lengths, firsts,
                                                                                                  strict=True)]
    assert blocks(histories) == expected
