"""The platform watchdog against the real PostgreSQL, Mosquitto and the real twilio client on the fake Twilio
(issue 15 §2): one SMS to the on-call administrator per fault and one per recovery, sent while the alert
engine is down, and per-device silent alerts held back with reason platform_fault."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.notify.fake_twilio import FakeTwilio
from alerts.rules.policy import load_policy
from alerts.service import AlertService
from alerts.watchdog import Watchdog
from envmon import topics
from envmon.stack.launcher import StackState
from tests.alert_helpers import alert_settings, load_alert_registry, query, start_alerts, wait_until
from tests.ingest_helpers import TEST_SITE, start_ingest
from tests.mqtt_helpers import ProbeClient
from tests.patience import patience

pytestmark = pytest.mark.services

ADMIN_PHONE = "+8613900000009"
INSPECTOR_PHONE = "+8613900000001"
DETECTORS = [f"310120T001S{n:02d}" for n in range(1, 4)]

REGISTRY = TEST_SITE + "".join(
    f"""
[[devices]]
mn = "{mn}"
site = "T-001"
point_kind = "area"
point_name_zh = "车间{n}"
point_name_en = "Hall {n}"
kind = "gas_detector"
transport = "mqtt"
system_code = "52"
pollutants = ["s02001"]
reporting_interval_seconds = 1
"""
    for n, mn in enumerate(DETECTORS, 1)
) + f"""
[[recipients]]
code = "insp-a"
name = "张伟"
phone = "{INSPECTOR_PHONE}"
role = "inspector"

[[recipients]]
code = "ops-admin"
name = "Platform on call"
phone = "{ADMIN_PHONE}"
locale = "en"
role = "platform_admin"

[[escalation_chains]]
code = "devices"
name = "设备异常"
categories = ["device", "safety"]
repeat_interval_seconds = 600
steps = [{{ delay_seconds = 0, recipients = ["insp-a"] }}]
"""


@pytest.fixture
def watch_db(database_url: str) -> str:
    load_alert_registry(database_url, REGISTRY)
    return database_url


def settings_for(stack: StackState, database_url: str, fake: FakeTwilio, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "heartbeat_interval_seconds": 0.2, "watchdog_interval_seconds": 0.2, "watchdog_stale_seconds": 1.5,
        "watchdog_recovery_hold_seconds": 0.5, "watchdog_device_silent_seconds": 1.0,
        "watchdog_district_min_silent_devices": 2, "watchdog_district_silent_fraction": 0.5,
    }
    values.update(extra)
    return alert_settings(stack, database_url, fake, **values)


def to(fake: FakeTwilio, phone: str) -> list[str]:
    return [m.body for m in fake.messages if m.to == phone]


def platform_rows(database_url: str) -> list[tuple[Any, ...]]:
    return query(database_url, "SELECT reason, status, source FROM notifications WHERE source = 'watchdog'"
                 " ORDER BY id")


def test_the_engine_down_pages_once_without_the_engine_and_its_return_once(
    stack: StackState, watch_db: str, fake: FakeTwilio
) -> None:
    settings = settings_for(stack, watch_db, fake, watchdog_services=["alerts"])
    watchdog = Watchdog(settings)
    watchdog.start()
    try:
        # No alert service runs at all: the watchdog alone notices, and sends through its own outbox.
        assert wait_until(lambda: to(fake, ADMIN_PHONE), timeout=20)
        [fault] = to(fake, ADMIN_PHONE)
        assert fault.startswith("[PLATFORM FAULT]") and "alerts down (no heartbeat)" in fault
        assert wait_until(lambda: len(query(watch_db, "SELECT 1 FROM platform_faults")) == 1)
        service = start_alerts(settings)
        try:
            assert wait_until(lambda: len(to(fake, ADMIN_PHONE)) == 2, timeout=20), to(fake, ADMIN_PHONE)
            assert to(fake, ADMIN_PHONE)[1].startswith("[RECOVERED]")
        finally:
            watchdog.shutdown()  # before the engine stops: stopping it is a fault the watchdog would page
            service.shutdown()
        assert platform_rows(watch_db) == [("platform_fault", "sent", "watchdog"), ("platform_recovered", "sent",
                                                                                   "watchdog")]
        assert query(watch_db, "SELECT resolved_at IS NOT NULL FROM platform_faults") == [(True,)]
        assert len(to(fake, ADMIN_PHONE)) == 2
    finally:
        watchdog.shutdown()


def publish_all(publisher: ProbeClient, seq: int) -> None:
    for mn in DETECTORS:
        body = {"device": mn, "seq": seq, "time": datetime.now(UTC).isoformat(), "values": {"s02001": 1.0}}
        publisher.publish(topics.device_topic(mn, topics.UP), json.dumps(body).encode())


class Devices:
    """The three detectors reporting once a second on a thread until paused."""

    def __init__(self, publisher: ProbeClient) -> None:
        self.publisher, self.seq = publisher, 0
        self.running = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            if self.running.is_set():
                self.seq += 1
                publish_all(self.publisher, self.seq)
            self.stop.wait(0.5)


def test_a_district_falling_silent_pages_once_and_holds_back_the_per_device_alerts(
    stack: StackState, watch_db: str, fake: FakeTwilio, publisher: ProbeClient
) -> None:
    settings = settings_for(stack, watch_db, fake, watchdog_services=[])
    ingest = start_ingest(stack, watch_db, client_id="envmon-ingest-watchdog")
    # The engine calls a detector silent after 8 s, the watchdog after 3 s (3 reporting intervals).
    service = AlertService(settings, policy=load_policy("[silent]\nmin_seconds = 8"))
    ingest.pipeline.subscribe(service)
    service.start()
    assert service.ready.wait(patience(15))
    devices = Devices(publisher)
    devices.running.set()
    devices.thread.start()
    watchdog = Watchdog(settings)
    try:
        assert wait_until(lambda: query(watch_db, "SELECT count(*) FROM device_state WHERE online") == [(3,)])
        watchdog.start()
        devices.running.clear()  # the network to the district goes down
        assert wait_until(lambda: to(fake, ADMIN_PHONE), timeout=20)
        assert "district t: 3/3 devices silent at once" in to(fake, ADMIN_PHONE)[0]
        silent = "SELECT count(*) FROM alerts WHERE rule = 'silent'"
        assert wait_until(lambda: query(watch_db, silent) == [(3,)], timeout=30)
        held = ("SELECT count(*) FROM notifications n JOIN alerts a ON a.id = ANY(n.alert_ids) WHERE a.rule = 'silent'"
                " AND n.status = 'suppressed' AND n.last_error = 'platform_fault'")
        assert wait_until(lambda: query(watch_db, held) == [(3,)])
        devices.running.set()  # the network comes back
        assert wait_until(lambda: len(to(fake, ADMIN_PHONE)) == 2, timeout=30), to(fake, ADMIN_PHONE)
        assert to(fake, ADMIN_PHONE)[1].startswith("[RECOVERED]")
        assert wait_until(lambda: query(watch_db, "SELECT count(*) FROM alerts WHERE rule = 'silent' AND state"
                                                  " = 'resolved'") == [(3,)])
        assert to(fake, INSPECTOR_PHONE) == []  # not one SMS per device to the inspector
        assert [r[0] for r in platform_rows(watch_db)] == ["platform_fault", "platform_recovered"]
    finally:
        devices.stop.set()
        watchdog.shutdown()
        service.shutdown()
        ingest.shutdown()


def test_ingest_beats_while_it_runs_and_forgets_its_row_on_a_clean_stop(
    stack: StackState, watch_db: str, fake: FakeTwilio
) -> None:
    from ingest.service import IngestService

    settings = settings_for(stack, watch_db, fake, ingest_http_port=0, ingest_client_id="envmon-ingest-beat",
                            ingest_publish_batches=False)
    ingest = IngestService(settings)
    ingest.start()
    beats = "SELECT service, ok FROM service_heartbeats"
    try:
        assert wait_until(lambda: query(watch_db, beats) == [("ingest", True)]), query(watch_db, beats)
    finally:
        ingest.shutdown()
    assert query(watch_db, beats) == []
