"""Device broker passwords issued by the kernel's registry service (the dashboard's "add device" uses it), and
taken away when the admin page deactivates the device."""

from __future__ import annotations

import psycopg
import pytest

from envmon import topics
from envmon.registry.service import issue_device_password, sync_device_logins
from envmon.settings import load_settings
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from tests.alert_helpers import GAS, WATER, load_alert_registry, wait_until
from tests.browser.world import build_world, client, login
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


def test_a_device_deactivated_on_the_admin_page_loses_its_broker_login_at_once(
    stack: StackState, database_url: str
) -> None:
    """Issue 18 leftover: the login stayed until the next `registry apply`. Now the deactivation rewrites the
    broker's logins (the apply path) and reloads it: the connected device is dropped, it cannot connect again,
    another device is untouched, and reactivation gives the login back."""
    world = build_world(database_url, state_dir=stack.state_dir, mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER))
    with psycopg.connect(database_url, autocommit=True) as conn:
        sync_device_logins(conn, world.settings)
    secret = mosquitto.device_secret(stack.secret_key, WATER)
    assert wait_until(lambda: _accepted(stack.mqtt_port, WATER, secret), timeout=10)
    device = connect(stack.mqtt_port, WATER, secret)
    try:
        assert not device.publish(topics.device_topic(WATER, topics.UP), b"{}").is_failure
        with client(world) as c:
            csrf = login(c, "admin")
            r = c.post(f"/admin/devices/{WATER}/active", data={"active": "0", "csrf_token": csrf},
                       follow_redirects=False)
            assert r.status_code == 303
            assert wait_until(lambda: not device.client.is_connected(), timeout=10)  # dropped by the reload
            assert not _accepted(stack.mqtt_port, WATER, secret)
            assert _accepted(stack.mqtt_port, GAS, mosquitto.device_secret(stack.secret_key, GAS))
            c.post(f"/admin/devices/{WATER}/active", data={"active": "1", "csrf_token": csrf})
        assert wait_until(lambda: _accepted(stack.mqtt_port, WATER, secret), timeout=10)
    finally:
        device.close()
