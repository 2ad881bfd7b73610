"""MQTT JSON payloads (docs/mqtt.md) for samples, and the malformed messages of a `malformed` burst."""

from __future__ import annotations

import json

from device_sim.samples import Sample
from envmon.protocols.hj212.times import CST
from envmon.protocols.mqtt_json import MAX_PAYLOAD_BYTES, MAX_SAMPLES, sample_object


def sample_body(sample: Sample) -> dict[str, object]:
    """The JSON object of one sample; times carry the +08:00 offset devices in China use."""
    values = zip(sample.codes, sample.values, sample.flags, strict=True)
    return sample_object(device=sample.device, seq=sample.seq, time=sample.time.astimezone(CST), values=values)


def encode_sample(sample: Sample) -> bytes:
    """The payload of one reading message."""
    return json.dumps(sample_body(sample), separators=(",", ":")).encode()


def stored_payloads(samples: list[Sample]) -> list[bytes]:
    """Store and forward: what a device stored during an outage, as `samples` messages within ingest's limits."""
    if not samples:
        return []
    parts = [json.dumps(_without_device(sample_body(s)), separators=(",", ":")).encode() for s in samples]
    return samples_payloads(samples[0].device, parts)


def samples_payloads(device: str, parts: list[bytes]) -> list[bytes]:
    """Encoded sample objects (without the device) packed into `samples` messages within ingest's limits
    (at most MAX_SAMPLES samples and MAX_PAYLOAD_BYTES bytes each), in order."""
    if not parts:
        return []
    head = f'{{"device":{json.dumps(device)},"samples":['.encode()
    payloads: list[bytes] = []
    chunk: list[bytes] = []
    size = len(head) + 2
    for part in parts:
        if chunk and (size + len(part) + 1 > MAX_PAYLOAD_BYTES or len(chunk) == MAX_SAMPLES):
            payloads.append(head + b",".join(chunk) + b"]}")
            chunk, size = [], len(head) + 2
        chunk.append(part)
        size += len(part) + 1
    payloads.append(head + b",".join(chunk) + b"]}")
    return payloads


def _without_device(body: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in body.items() if k != "device"}


def malformed_payloads(sample: Sample, count: int) -> list[bytes]:
    """`count` bad messages cycling through the ways devices get it wrong; ingest must quarantine each."""
    body = sample_body(sample)
    good = json.dumps(body)
    code = sample.codes[0]
    variants = [
        good[: len(good) // 2].encode(),  # cut short: malformed_json
        json.dumps({**body, "firmware": "v2.3"}).encode(),  # unknown field: invalid_schema
        good.replace(f'"{code}": ', f'"{code}": NaN, "x{code}": ').encode(),  # NaN is not JSON
        json.dumps({**body, "time": str(body["time"])[:19]}).encode(),  # no UTC offset: invalid_time
        json.dumps({**body, "values": {code: [1.0, "N\x00"]}}).encode(),  # not a flag letter: invalid_flag
        json.dumps({**body, "time": "2099-01-01T00:00:00+08:00"}).encode(),  # time_in_future
        b"\xff\xfe not even text",
    ]
    return [variants[i % len(variants)] for i in range(count)]
