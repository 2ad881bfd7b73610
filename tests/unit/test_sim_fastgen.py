"""Load mode's bulk generator: valid messages, the same signal as normal mode, deterministic."""

from __future__ import annotations

import json

import numpy as np

from device_sim.fastgen import LOAD_CODES, LoadBlock
from envmon.protocols.hj212.times import CST
from envmon.protocols.mqtt_json import decode_payload

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
