"""Integration fixtures: ingest (registered MQTT devices, a running pipeline, a publisher) and alerts (the fake
Twilio server the real client talks to, a database with the alert test registry)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerts.notify.fake_twilio import FakeTwilio
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from tests.alert_helpers import load_alert_registry
from tests.ingest_helpers import RunningIngest, load_test_registry, start_ingest
from tests.mqtt_helpers import ProbeClient, connect
from tests.patience import slowness


@pytest.fixture
def ingest_db(database_url: str) -> str:
    load_test_registry(database_url)
    return database_url


@pytest.fixture
def ingest(stack: StackState, ingest_db: str, request: pytest.FixtureRequest) -> Iterator[RunningIngest]:
    running = start_ingest(stack, ingest_db, client_id=f"envmon-ingest-{request.node.name[:40]}")
    yield running
    running.shutdown()


@pytest.fixture
def publisher(stack: StackState) -> Iterator[ProbeClient]:
    client = connect(stack.mqtt_port, mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
    yield client
    client.close()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(wait_scale=slowness()) as server:
        yield server


@pytest.fixture
def alert_db(database_url: str) -> str:
    load_alert_registry(database_url)
    return database_url


@pytest.fixture(scope="module", autouse=True)
def _quick_password_hashes(quick_password_hashes: None) -> None:
    """Cheap argon2id for the users these tests create and sign in (see tests/conftest.py)."""
