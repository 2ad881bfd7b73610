"""MQTT JSON intake end to end: real Mosquitto, real PostgreSQL, the real paho pipeline."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.ingest_helpers import DEVICES, RunningIngest, payload, publish, wait_for_count
from tests.mqtt_helpers import ProbeClient


def test_stream_of_messages_arrives_complete_in_canonical_units(
    ingest: RunningIngest, publisher: ProbeClient, ingest_db: str
) -> None:
    for seq in range(1, 201):
        for device in DEVICES:
            publish(publisher, device, payload(device, seq))
    expected = 200 * len(DEVICES) * 4
    assert wait_for_count(ingest_db, "SELECT count(*) FROM readings", expected) == expected
    with psycopg.connect(ingest_db) as conn:
        cr6 = conn.execute("SELECT DISTINCT value FROM readings WHERE pollutant = 'w20117'").fetchall()
        assert cr6 == [(pytest.approx(0.0425),)]  # 42.5 ug/L stored as mg/L
        seqs = conn.execute("SELECT count(DISTINCT seq), min(seq), max(seq) FROM readings").fetchone()
        assert seqs == (200, 1, 200)
    # Device state follows within about a second (ingest/device_state.py).
    online = "SELECT count(*) FROM device_state WHERE online AND last_seq = 200"
    assert wait_for_count(ingest_db, online, len(DEVICES), timeout=5) == len(DEVICES)
    stored = sum(len(b.readings) for b in ingest.collector.batches)
    assert stored == expected  # every committed reading was handed to subscribers


def test_redelivered_messages_are_stored_once(ingest: RunningIngest, publisher: ProbeClient, ingest_db: str) -> None:
    for _ in range(3):
        publish(publisher, DEVICES[0], payload(DEVICES[0], 7))
    publish(publisher, DEVICES[0], payload(DEVICES[0], 8))
    assert wait_for_count(ingest_db, "SELECT count(*) FROM readings", 8) == 8
    wait_for_count(ingest_db, "SELECT count(*) FROM readings WHERE false", 1, timeout=0.5)
    with psycopg.connect(ingest_db) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (8,)


def test_store_and_forward_samples(ingest: RunningIngest, publisher: ProbeClient, ingest_db: str) -> None:
    samples = [json.loads(payload(DEVICES[1], s)) for s in range(1, 11)]
    body = json.dumps(
        {"device": DEVICES[1], "samples": [{k: s[k] for k in ("seq", "time", "values")} for s in samples]}
    )
    publish(publisher, DEVICES[1], body.encode())
    assert wait_for_count(ingest_db, "SELECT count(*) FROM readings", 40) == 40


BAD = [
    pytest.param(b"{not json", None, "malformed_json", id="malformed-json"),
    pytest.param(
        b'{"device": "D", "seq": "1", "time": "2026-11-22T04:00:00Z", "values": {"w20117": 1}}',
        None,
        "invalid_schema",
        id="wrong-type",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {"w20117": NaN}}',
        None,
        "malformed_json",
        id="nan",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {"w20117": 1e999}}',
        None,
        "invalid_schema",
        id="infinity",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {"w20117": [1, "XY"]}}',
        None,
        "invalid_flag",
        id="bad-flag",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2099-01-01T00:00:00Z", "values": {"w20117": 1}}',
        None,
        "time_in_future",
        id="future-time",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2026-11-22T04:00:00", "values": {"w20117": 1}}',
        None,
        "invalid_time",
        id="naive-time",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {"w20117": 1}, "x": 1}',
        None,
        "invalid_schema",
        id="unknown-field",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {"w20117": 1}}',
        "OTHER",
        "topic_mismatch",
        id="topic-mismatch",
    ),
    pytest.param(
        b'{"device": "310120NOPE", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {"w20117": 1}}',
        "310120NOPE",
        "unknown_device",
        id="unknown-device",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {"w99999": 1}}',
        None,
        "unknown_pollutant",
        id="unknown-pollutant",
    ),
    pytest.param(
        b'{"device": "D", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {"w20117": 1, "p": "'
        + b"x" * 70000
        + b'"}}',
        None,
        "oversized",
        id="oversized",
    ),
]


@pytest.mark.parametrize(("body", "topic_device", "reason"), BAD)
def test_bad_input_is_quarantined_and_neighbours_are_stored(
    ingest: RunningIngest, publisher: ProbeClient, ingest_db: str, body: bytes, topic_device: str | None, reason: str
) -> None:
    good, device = DEVICES[2], DEVICES[3]
    publish(publisher, good, payload(good, 1))
    bad = body.replace(b'"device": "D"', f'"device": "{device}"'.encode())
    publish(publisher, device, bad, topic_device=topic_device or device)
    publish(publisher, good, payload(good, 2))
    assert wait_for_count(ingest_db, "SELECT count(*) FROM quarantine", 1) == 1
    assert (
        wait_for_count(
            ingest_db,
            f"SELECT count(*) FROM readings WHERE seq IN (1, 2) AND device_id = "
            f"(SELECT id FROM devices WHERE mn = '{good}')",
            8,
        )
        == 8
    )
    with psycopg.connect(ingest_db) as conn:
        row = conn.execute(
            "SELECT reason, transport, source, length(raw), raw_truncated, detail FROM quarantine"
        ).fetchone()
    assert row is not None
    assert row[0] == reason
    assert row[1] == "mqtt" and row[2].startswith("envmon/v1/")
    assert row[3] == min(len(bad), 4096) and row[4] is (len(bad) > 4096)
    assert row[5]
    samples = ingest.pipeline.metrics.quarantined.labels(reason)._value.get()
    assert samples == 1
