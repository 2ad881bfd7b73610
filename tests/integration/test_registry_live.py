"""Registry changes reach the running ingest and alert engine within seconds, without a restart.

The services run for real (ingest on Mosquitto, the engine, the outbox with the fake Twilio); the registry
changes through the registry loader while they run, and the tests wait for rows and messages, never for time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from alerts.notify.fake_twilio import FakeTwilio
from alerts.rules.registry import EngineRegistry
from alerts.service import AlertService
from envmon import topics
from envmon.registry.watch import CHANNEL, REGISTRY_TABLES
from envmon.stack.launcher import StackState
from tests.alert_helpers import (
    ALERT_REGISTRY,
    GAS,
    INSPECTOR_PHONE,
    WATER,
    alert_settings,
    load_alert_registry,
    query,
    start_alerts,
    wait_until,
)
from tests.ingest_helpers import RunningIngest, start_ingest
from tests.mqtt_helpers import ProbeClient
from tests.patience import patience

pytestmark = pytest.mark.services

NEW = "310120T001W09"
NEW_PHONE = "+8613900000009"
NEW_DEVICE = f"""
[[devices]]
mn = "{NEW}"
site = "T-001"
point_kind = "outfall"
point_name_zh = "新排口"
point_name_en = "New outfall"
kind = "water_analyser"
transport = "mqtt"
system_code = "32"
pollutants = ["w20117", "w00000"]
reporting_interval_seconds = 30

[[limits]]
device = "{NEW}"
pollutant = "w20117"
scheme = "discharge"
basis = "instant"
upper = 0.05
severe_multiple = 3.0
source = "排污许可证 (test)"
"""
# Cr(VI) travels in µg/L: 250 µg/L is 0.25 mg/L, five times the new device's limit of 0.05 mg/L.
FIVE_TIMES_NEW_LIMIT_UG_L = 250.0


def reading(device: str, seq: int, values: dict[str, object]) -> bytes:
    return json.dumps({"device": device, "seq": seq, "time": datetime.now(UTC).isoformat(), "values": values}).encode()


def send(publisher: ProbeClient, device: str, seq: int, values: dict[str, object]) -> None:
    reason = publisher.publish(topics.device_topic(device, topics.UP), reading(device, seq, values))
    assert not reason.is_failure, reason


@pytest.fixture
def running(
    stack: StackState, alert_db: str, fake: FakeTwilio, request: pytest.FixtureRequest
) -> Iterator[tuple[RunningIngest, AlertService]]:
    ingest = start_ingest(stack, alert_db, client_id=f"envmon-ingest-{request.node.name[:40]}")
    service = start_alerts(alert_settings(stack, alert_db, fake))
    ingest.pipeline.subscribe(service)
    assert ingest.pipeline.registry_watch.listening.wait(patience(10)) and service.registry_watch.listening.wait(patience(10))
    yield ingest, service
    service.shutdown()
    ingest.shutdown()


def change_registry(database_url: str, text: str) -> float:
    """Load a registry through the loader (committed on return); the monotonic time of the commit."""
    load_alert_registry(database_url, text)
    return time.monotonic()


def engine_knows(service: AlertService, mn: str) -> bool:
    registry = service.processor.registry
    return registry is not None and mn in registry.device_ids_by_mn()


def test_a_device_added_while_running_raises_its_alert(
    running: tuple[RunningIngest, AlertService], publisher: ProbeClient, fake: FakeTwilio, alert_db: str
) -> None:
    ingest, service = running
    engine = service.processor.engine
    assert engine is not None
    took_on: list[str] = []
    set_registry = engine.set_registry

    def spy(registry: EngineRegistry) -> None:
        took_on.append(threading.current_thread().name)
        set_registry(registry)

    engine.set_registry = spy  # type: ignore[method-assign]
    committed = change_registry(alert_db, ALERT_REGISTRY + NEW_DEVICE)
    assert wait_until(lambda: engine_knows(service, NEW), timeout=10), "the engine never took the new device"
    assert took_on == ["alerts-engine"], "the engine's state changes on its own thread only"
    engine_delay = time.monotonic() - committed
    assert wait_until(lambda: ingest.pipeline.directory.get(NEW) is not None, timeout=10)
    ingest_delay = time.monotonic() - committed
    print(f"registry commit -> engine {engine_delay * 1000:.0f} ms, -> ingest {ingest_delay * 1000:.0f} ms")
    assert engine_delay < 5 and ingest_delay < 5
    for seq in range(1, 4):
        send(publisher, NEW, seq, {"w20117": FIVE_TIMES_NEW_LIMIT_UG_L, "w00000": 3.0})
    rows = wait_until(lambda: query(alert_db, "SELECT a.severity, a.limit_value FROM alerts a"
                                              " JOIN devices d ON d.id = a.device_id WHERE d.mn = %s", NEW))
    assert rows == [("severe", 0.05)]
    assert fake.wait_for_messages(1)[0].to == INSPECTOR_PHONE
    assert query(alert_db, "SELECT count(*) FROM readings r JOIN devices d ON d.id = r.device_id WHERE d.mn = %s",
                 NEW) == [(6,)]
    assert query(alert_db, "SELECT count(*) FROM quarantine") == [(0,)]


def test_a_lowered_limit_of_an_existing_device_is_used_at_once(
    running: tuple[RunningIngest, AlertService], publisher: ProbeClient, alert_db: str
) -> None:
    _, service = running
    send(publisher, WATER, 1, {"w20117": 50.0, "w00000": 3.0})  # 0.05 mg/L: below the plant's limit of 0.1
    assert wait_until(lambda: query(alert_db, "SELECT count(*) FROM readings") == [(2,)])
    before = service.processor.registry_loaded_at
    lowered = ALERT_REGISTRY + f"""
[[limits]]
device = "{WATER}"
pollutant = "w20117"
scheme = "discharge"
basis = "instant"
upper = 0.01
severe_multiple = 3.0
source = "排污许可证 (test)"
"""
    committed = change_registry(alert_db, lowered)
    assert wait_until(lambda: service.processor.registry_loaded_at > before, timeout=10)
    print(f"registry commit -> engine {(service.processor.registry_loaded_at - committed) * 1000:.0f} ms")
    for seq in range(2, 5):
        send(publisher, WATER, seq, {"w20117": 50.0, "w00000": 3.0})  # now five times the device's limit
    rows = wait_until(lambda: query(alert_db, "SELECT severity, limit_value FROM alerts"))
    assert rows == [("severe", 0.01)]


def test_a_recipient_added_to_a_chain_in_use_is_texted(
    running: tuple[RunningIngest, AlertService], publisher: ProbeClient, fake: FakeTwilio, alert_db: str
) -> None:
    send(publisher, GAS, 1, {"s02001": 20.0})  # a gas alarm first: the engine has routed, its chains are loaded
    fake.wait_for_messages(1)
    with_new_inspector = ALERT_REGISTRY.replace(
        '{ delay_seconds = 0, recipients = ["insp-a"] }', '{ delay_seconds = 0, recipients = ["insp-a", "insp-d"] }'
    ) + f"""
[[recipients]]
code = "insp-d"
name = "李娜"
phone = "{NEW_PHONE}"
role = "inspector"
"""
    assert with_new_inspector.count("insp-d") == 2
    _, service = running
    before = service.processor.registry_loaded_at
    change_registry(alert_db, with_new_inspector)
    assert wait_until(lambda: service.processor.registry_loaded_at > before, timeout=10)
    for seq in range(1, 4):
        send(publisher, WATER, seq, {"w20117": 450.0, "w00000": 3.2})  # 4.5x of 0.1 mg/L
    messages = fake.wait_for_messages(3)
    assert {m.to for m in messages[1:3]} == {INSPECTOR_PHONE, NEW_PHONE}


def test_one_bulk_load_sends_one_notification_per_table(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        load_alert_registry(database_url)
        tables = [n.payload for n in listener.notifies(timeout=2)]
    assert sorted(tables) == sorted(set(tables)), "one notification per table, not per row or statement"
    assert {"sites", "devices", "limits", "recipients", "escalation_chains", "escalation_steps"} <= set(tables)
    assert set(tables) <= REGISTRY_TABLES
