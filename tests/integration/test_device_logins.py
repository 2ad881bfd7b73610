"""Device broker passwords issued by the kernel's registry service (the dashboard's "add device" uses it)."""

from __future__ import annotations

import psycopg
import pytest

from envmon.registry.service import issue_device_password
from envmon.settings import load_settings
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from tests.alert_helpers import GAS, load_alert_registry, wait_until
from tests.mqtt_helpers import connect

pytestmark = pytest.mark.services


def _accepted(port: int, user: str, password: str) -> bool:
    client = connect(port, user, password)
    try:
        return client.connect_reason is not None and not client.connect_reason.is_failure
    finally:
        client.close()


def test_on_the_local_stack_the_device_gets_its_derived_login_in_the_broker(
    stack: StackState, database_url: str
) -> None:
    load_alert_registry(database_url)
    settings = load_settings(environment="test", database_url=database_url, state_dir=stack.state_dir,
                             mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER))
    with psycopg.connect(database_url) as conn:
        password = issue_device_password(conn, settings, GAS)
    assert password == mosquitto.device_secret(stack.secret_key, GAS)
    assert wait_until(lambda: _accepted(stack.mqtt_port, GAS, password), timeout=10)  # after the broker's SIGHUP


def test_with_an_external_broker_a_fresh_random_password_is_issued(stack: StackState, database_url: str) -> None:
    load_alert_registry(database_url)
    settings = load_settings(environment="test", database_url=database_url, state_dir=stack.state_dir,
                             mqtt_url="mqtts://envmon:secret@broker.example:8883")
    with psycopg.connect(database_url) as conn:
        first, second = (issue_device_password(conn, settings, GAS) for _ in range(2))
    assert len(first) >= 24 and first != second
    assert first != mosquitto.device_secret(stack.secret_key, GAS)
