"""Fault tests with a ledger: every published reading is stored exactly once despite crashes.

Each test publishes a steady stream (device, seq) from a persistent-session publisher while a
fault happens, then compares what was published with what is in `readings`. The tests use a
private stack, so stopping its broker or database disturbs no other test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from envmon import topics
from envmon.migrate import migrate
from envmon.stack import launcher, mosquitto, postgres
from envmon.stack.launcher import StackState
from tests.conftest import MIGRATIONS, ROOT, make_state_dir
from tests.ingest_helpers import DEVICES, POLLUTANTS, load_test_registry, payload, wait_for_count
from tests.patience import patience

RATE_PER_SECOND = 400
PROBE_DEVICE = "310120PROBE99"  # not in the test registry: ingest quarantines it


@pytest.fixture(scope="module")
def fault_stack() -> Iterator[StackState]:
    state_dir = make_state_dir("envmon-faults-")
    # Durable like production: with synchronous_commit off an immediate shutdown loses commits
    # that were already acknowledged, which is exactly what these tests must not hide.
    state = launcher.up(state_dir, durable=True)
    try:
        yield state
    finally:
        launcher.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def fault_db(fault_stack: StackState) -> str:
    with psycopg.connect(fault_stack.admin_database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS envmon WITH (FORCE)")
        conn.execute("CREATE DATABASE envmon")
    migrate(fault_stack.database_url, MIGRATIONS)
    load_test_registry(fault_stack.database_url)
    return fault_stack.database_url


class IngestProcess:
    """`envmon ingest` as a real process that can be killed."""

    def __init__(self, stack: StackState, client_id: str) -> None:
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ENVMON_")},
            "DATABASE_URL": stack.database_url,
            "MQTT_URL": stack.mqtt_url_for(mosquitto.SERVICE_USER),
            "ENVMON_ENVIRONMENT": "test",
            "ENVMON_STATE_DIR": "/nonexistent-envmon",
            "ENVMON_INGEST_HTTP_PORT": "0",
            "ENVMON_INGEST_CLIENT_ID": client_id,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = open(f"/tmp/{client_id}.log", "ab")  # noqa: SIM115 - kept open across restarts

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "envmon_app", "ingest"],
            cwd=ROOT,
            env=self._env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@dataclass
class Publisher:
    """Publishes seq 1..count for every test device at a steady rate; survives broker restarts."""

    stack: StackState
    count: int
    sent: int = 0
    mids: list[int] = field(default_factory=list)
    acked: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fault-publisher", protocol=mqtt.MQTTv5)
        self.client.username_pw_set(mosquitto.SIM_USER, self.stack.mqtt_users[mosquitto.SIM_USER])
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.2, 2)
        # Messages published while the broker is away are queued by paho and sent on reconnect;
        # a PUBACK (on_publish) is the only proof the broker took one.
        self.client.on_publish = lambda c, u, mid, reason, props: self.acked.add(mid)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", self.stack.mqtt_port, clean_start=False, properties=props)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        for seq in range(1, self.count + 1):
            for device in DEVICES:
                self.mids.append(
                    self.client.publish(topics.device_topic(device, topics.UP), payload(device, seq), qos=1).mid
                )
            self.sent = seq
            delay = start + seq * len(DEVICES) / RATE_PER_SECOND - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def wait_until_ingest_listens(self, database_url: str, timeout: float = 120) -> None:
        """A probe round trip: publish as an unregistered device until ingest has quarantined one.

        MQTT drops what is published before a subscription exists; once a probe comes back through
        ingest, its subscription (and persistent session) is in place. The probe is no reading.
        """
        deadline = time.monotonic() + patience(timeout)
        seq = 0
        while time.monotonic() < deadline:
            seq += 1
            self.client.publish(topics.device_topic(PROBE_DEVICE, topics.UP), payload(PROBE_DEVICE, seq), qos=1)
            if wait_for_count(self.stack.database_url, "SELECT count(*) FROM quarantine", 1, timeout=1) >= 1:
                return
        raise AssertionError("ingest never received a probe: it did not subscribe")

    def wait_until_sent(self, seq: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + patience(timeout)
        while self.sent < seq and time.monotonic() < deadline:
            time.sleep(0.01)

    def finish(self, timeout: float = 120) -> None:
        self.thread.join(timeout)
        deadline = time.monotonic() + patience(timeout)
        while not self.acked.issuperset(self.mids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.acked.issuperset(self.mids), "the broker never acknowledged some publishes"
        self.client.disconnect()
        self.client.loop_stop()


def assert_ledger(database_url: str, count: int, timeout: float = 120) -> None:
    """Every (device, seq, pollutant) published is stored, exactly once, and nothing else."""
    expected = count * len(DEVICES) * len(POLLUTANTS)
    deadline = time.monotonic() + patience(timeout)
    total = -1
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            total = conn.execute("SELECT count(*) FROM readings").fetchone()[0]  # type: ignore[index]
        if total >= expected:
            break
        time.sleep(0.5)
    with psycopg.connect(database_url) as conn:
        per_key = conn.execute(
            "SELECT d.mn, r.seq, count(*) FROM readings r JOIN devices d ON d.id = r.device_id GROUP BY 1, 2"
        ).fetchall()
    stored = {(mn, seq): n for mn, seq, n in per_key}
    lost = [(d, s) for d in DEVICES for s in range(1, count + 1) if stored.get((d, s)) != len(POLLUTANTS)]
    extra = set(stored) - {(d, s) for d in DEVICES for s in range(1, count + 1)}
    assert (total, lost[:10], len(lost), extra) == (expected, [], 0, set())


def run_with_fault(
    stack: StackState,
    database_url: str,
    *,
    name: str,
    count: int,
    fault_after: int,
    fault: Callable[[IngestProcess, Publisher], None],
) -> None:
    """Start ingest and a stream of `count` messages per device, inject `fault` after `fault_after`
    of them, let the stream finish, and check the ledger."""
    ingest = IngestProcess(stack, name)
    ingest.start()
    publisher = Publisher(stack, count)
    try:
        publisher.wait_until_ingest_listens(database_url)  # its session persists after this
        publisher.thread.start()
        publisher.wait_until_sent(fault_after)
        fault(ingest, publisher)
        publisher.finish()
        assert_ledger(database_url, count)
    finally:
        ingest.stop()


def test_ingest_killed_with_sigkill_mid_stream_loses_nothing(fault_stack: StackState, fault_db: str) -> None:
    def kill_and_restart(ingest: IngestProcess, publisher: Publisher) -> None:
        ingest.kill()
        publisher.wait_until_sent(300)
        ingest.start()

    run_with_fault(
        fault_stack, fault_db, name="envmon-ingest-sigkill", count=600, fault_after=200, fault=kill_and_restart
    )


def test_broker_stopped_with_sigterm_and_restarted_loses_nothing(fault_stack: StackState, fault_db: str) -> None:
    def restart_broker(ingest: IngestProcess, publisher: Publisher) -> None:
        mosquitto.stop(fault_stack.broker)
        time.sleep(2)
        mosquitto.start(fault_stack.broker)

    run_with_fault(fault_stack, fault_db, name="envmon-ingest-broker", count=600, fault_after=200, fault=restart_broker)


def test_database_stopped_for_30_seconds_loses_nothing(fault_stack: StackState, fault_db: str) -> None:
    def stop_database(ingest: IngestProcess, publisher: Publisher) -> None:
        postgres.stop(fault_stack.cluster, mode="immediate")
        time.sleep(30)
        postgres.start(fault_stack.cluster)

    run_with_fault(fault_stack, fault_db, name="envmon-ingest-pgdown", count=1500, fault_after=150, fault=stop_database)
