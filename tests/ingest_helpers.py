"""Helpers for ingest tests: a registry of MQTT devices, payloads, a running pipeline."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from envmon import topics
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from ingest.mqtt_source import MqttSource
from ingest.pipeline import Pipeline, PipelineConfig, StoredBatch
from tests.mqtt_helpers import ProbeClient
from tests.patience import patience

DEVICES = [f"310120T{n:03d}W01" for n in range(1, 6)]
POLLUTANTS = ["w20117", "w20116", "w01001", "w00000"]

TEST_SITE = """
[[districts]]
code = "t"
name_zh = "测试区"
name_en = "Test district"

[[sites]]
code = "T-001"
name_zh = "测试厂"
name_en = "Test plant"
district = "t"
industry = "electroplating"
"""


def registry_with(devices: str) -> str:
    """A registry of one test plant with these [[devices]] tables."""
    return TEST_SITE + devices


REGISTRY = registry_with(
    "".join(
        f"""
[[devices]]
mn = "{mn}"
site = "T-001"
point_kind = "outfall"
point_name_zh = "总排口"
point_name_en = "Outfall"
kind = "water_analyser"
transport = "mqtt"
system_code = "32"
pollutants = {json.dumps(POLLUTANTS)}
reporting_interval_seconds = 30
"""
        for mn in DEVICES
    )
)


def load_test_registry(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "test-registry"), actor="test")


def payload(device: str, seq: int, *, when: datetime | None = None, values: dict[str, object] | None = None) -> bytes:
    """A JSON reading message; values default to one per test pollutant (Cr(VI) in ug/L)."""
    t = (when or datetime(2026, 11, 22, 4, 0, tzinfo=UTC)).timestamp() + seq
    body = {
        "device": device,
        "seq": seq,
        "time": datetime.fromtimestamp(t, UTC).isoformat(),
        "values": values
        if values is not None
        else {"w20117": 42.5, "w20116": [0.31, "N"], "w01001": 7.2, "w00000": 3.4},
    }
    return json.dumps(body).encode()


class Collector:
    """A batch subscriber that remembers what it was handed."""

    def __init__(self) -> None:
        self.batches: list[StoredBatch] = []

    def on_batch(self, batch: StoredBatch) -> None:
        self.batches.append(batch)


@dataclass
class RunningIngest:
    pipeline: Pipeline
    source: MqttSource
    stop: threading.Event
    thread: threading.Thread
    collector: Collector

    def shutdown(self) -> None:
        self.source.stop()
        self.stop.set()
        self.thread.join(timeout=30)


def start_ingest(
    stack: StackState, database_url: str, *, client_id: str = "envmon-ingest-test", config: PipelineConfig | None = None
) -> RunningIngest:
    pipeline = Pipeline(database_url, config=config or PipelineConfig(batch_max_seconds=0.02))
    collector = Collector()
    pipeline.subscribe(collector)
    stop = threading.Event()
    thread = threading.Thread(target=pipeline.run, args=(stop,), daemon=True)
    thread.start()
    assert pipeline.ready.wait(patience(10))
    source = MqttSource(stack.mqtt_url_for(mosquitto.SERVICE_USER), pipeline, client_id=client_id)
    source.start()
    assert source.connected.wait(patience(10)), "ingest did not connect to the broker"
    return RunningIngest(pipeline, source, stop, thread, collector)


def publish(client: ProbeClient, device: str, body: bytes, topic_device: str | None = None) -> None:
    reason = client.publish(topics.device_topic(topic_device or device, topics.UP), body)
    assert not reason.is_failure, reason


def wait_for_count(database_url: str, sql: str, expected: int, timeout: float = 15) -> int:
    deadline = time.monotonic() + patience(timeout)
    count = -1
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            count = conn.execute(sql).fetchone()[0]  # type: ignore[index]
        if count >= expected:
            return count
        time.sleep(0.1)
    return count
