"""Helpers for alert tests: a small plant with a water analyser and a gas detector, people to call,
and an AlertService wired to a running ingest pipeline and the fake Twilio server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from alerts.notify.fake_twilio import FakeTwilio
from alerts.service import AlertService
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from envmon.settings import Settings, load_settings
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from tests.ingest_helpers import TEST_SITE
from tests.patience import patience

WATER = "310120T001W01"
GAS = "310120T001S01"
INSPECTOR_PHONE = "+8613900000001"
SAFETY_PHONE = "+8613900000002"
LEADER_PHONE = "+8613900000003"

ALERT_REGISTRY = TEST_SITE + f"""
limit_presets = ["GB21900-2008-T3"]

[[devices]]
mn = "{WATER}"
site = "T-001"
point_kind = "workshop_outlet"
point_name_zh = "镀铬车间排口"
point_name_en = "Chrome plating workshop outlet"
kind = "water_analyser"
transport = "mqtt"
system_code = "32"
pollutants = ["w20117", "w00000", "w01001"]
reporting_interval_seconds = 30

[[devices]]
mn = "{GAS}"
site = "T-001"
point_kind = "area"
point_name_zh = "镀铬车间"
point_name_en = "Chrome plating hall"
kind = "gas_detector"
transport = "mqtt"
system_code = "52"
pollutants = ["s02001"]
reporting_interval_seconds = 5

[[limits]]
site = "T-001"
pollutant = "s02001"
preset = "GBT50493-2019"

[[recipients]]
code = "insp-a"
name = "张伟"
phone = "{INSPECTOR_PHONE}"
role = "inspector"

[[recipients]]
code = "safety-b"
name = "Daniel Becker"
phone = "{SAFETY_PHONE}"
locale = "en"
role = "safety_officer"

[[recipients]]
code = "lead-c"
name = "黄敏"
phone = "{LEADER_PHONE}"
role = "supervisor"

[[escalation_chains]]
code = "pollution"
name = "排放超标"
categories = ["pollution"]
repeat_interval_seconds = 600
steps = [
  {{ delay_seconds = 0, recipients = ["insp-a"] }},
  {{ delay_seconds = 3, recipients = ["lead-c"] }},
]

[[escalation_chains]]
code = "gas"
name = "气体报警"
categories = ["safety"]
repeat_interval_seconds = 600
steps = [
  {{ delay_seconds = 0, recipients = ["safety-b"] }},
  {{ delay_seconds = 600, recipients = ["lead-c"] }},
]
"""


def load_alert_registry(database_url: str, text: str = ALERT_REGISTRY) -> None:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(text, "alert-test-registry"), actor="test")


def alert_settings(stack: StackState, database_url: str, fake: FakeTwilio, **extra: Any) -> Settings:
    """Settings for an AlertService on the test stack that texts through the fake Twilio."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "mqtt_url": stack.mqtt_url_for(mosquitto.SERVICE_USER),
        "secret_key": "test-secret-" + "x" * 40,
        "alerts_http_port": 0,
        "alerts_tick_seconds": 0.2,
        "alerts_reports": False,
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": fake.auth_token,
        "twilio_from_number": "+15005550006",
        "twilio_api_base_url": fake.base_url,
        "public_base_url": "https://envmon.example",
        "state_dir": stack.state_dir,
    }
    values.update(extra)
    return load_settings(**values)


def start_alerts(settings: Settings, **kwargs: Any) -> AlertService:
    service = AlertService(settings, **kwargs)
    service.start()
    assert service.ready.wait(patience(15)), "the alert engine did not start"
    return service


def wait_until(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; returns it (or the last falsy value).

    `timeout` is for an idle machine; it is stretched by the machine's slowness (tests/patience.py)."""
    deadline = time.monotonic() + patience(timeout)
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


def query(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()
