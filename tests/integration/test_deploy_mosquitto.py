"""The production Mosquitto configuration (deploy/mosquitto) on a real broker: TLS, logins, per-device ACL, limits.

The file is run as shipped, with only its paths moved into a temporary folder and its two listeners
moved to free ports on 127.0.0.1; the certificate is a throwaway CA and server pair made with openssl.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envmon import topics
from envmon.batchwire import BATCH_TOPIC, ROW_BYTES, encode_batch
from envmon.columns import ReadingColumns
from envmon.stack import mosquitto
from envmon.stack.processes import chown_tree, free_port, is_pid_alive, service_user, wait_for_port
from tests.conftest import ROOT, make_state_dir
from tests.mqtt_helpers import ProbeClient
from tests.patience import patience

DEPLOY = ROOT / "deploy" / "mosquitto"
DEV_A, DEV_B = "310120DEPLA01", "310120DEPLB01"
CONTAINER_ROOT = "/mosquitto/"


@dataclass(frozen=True)
class DeployBroker:
    """A running broker started from the deploy configuration."""

    root: Path
    pid: int
    tls_port: int
    service_port: int
    passwords: dict[str, str]

    @property
    def ca_file(self) -> Path:
        return self.root / "certs" / "ca.crt"


def adapt_config(text: str, root: Path, tls_port: int, service_port: int) -> str:
    """The deploy config with its container paths under root and its listeners on loopback ports."""
    lines = []
    for line in text.replace(CONTAINER_ROOT, f"{root}/").splitlines():
        if line == "listener 8883":
            line = f"listener {tls_port} 127.0.0.1"
        elif line == "listener 1883":
            line = f"listener {service_port} 127.0.0.1"
        lines.append(line)
    return "\n".join(lines) + "\n"


def rule_lines(text: str) -> list[str]:
    """The rules of an ACL file, without comments and blank lines."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def config_values(text: str, key: str) -> list[str]:
    """Every value given to one option in a Mosquitto config."""
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [key]]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: S603, S607 - fixed argv


def make_certificates(folder: Path) -> None:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, signed by it."""
    folder.mkdir(parents=True)
    ca_key, ca_crt = str(folder / "ca.key"), str(folder / "ca.crt")
    key, csr, crt = str(folder / "server.key"), str(folder / "server.csr"), str(folder / "server.crt")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2",
             "-subj", "/CN=envmon test CA")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
             "-days", "2", "-extfile", str(ext))
    os.chmod(key, 0o600)


def write_password_file(path: Path, users: dict[str, str]) -> None:
    """A hashed password file, as an operator makes it with mosquitto_passwd."""
    path.write_text("".join(f"{name}:{pw}\n" for name, pw in users.items()))
    path.chmod(0o600)
    subprocess.run([mosquitto.find_binary("mosquitto_passwd"), "-U", str(path)], check=True)  # noqa: S603


@pytest.fixture(scope="module")
def broker() -> Iterator[DeployBroker]:
    root = make_state_dir("envmon-deploy-mqtt-")
    tls_port, service_port = free_port(), free_port()
    passwords = {DEV_A: uuid.uuid4().hex * 2, DEV_B: uuid.uuid4().hex * 2, mosquitto.SERVICE_USER: uuid.uuid4().hex}
    (root / "config").mkdir()
    (root / "data").mkdir()
    make_certificates(root / "certs")
    conf = root / "config" / "mosquitto.conf"
    conf.write_text(adapt_config((DEPLOY / "mosquitto.conf").read_text(), root, tls_port, service_port))
    shutil.copy(DEPLOY / "acl", root / "config" / "acl")
    write_password_file(root / "config" / "passwd", passwords)
    chown_tree(root, service_user("mosquitto"))  # as root the broker drops to `mosquitto`
    with (root / "broker.log").open("wb") as log:
        proc = subprocess.Popen([mosquitto.find_binary(), "-c", str(conf)], stdout=log,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for_port(tls_port, timeout_seconds=15, alive=proc), (root / "broker.log").read_text()
        assert wait_for_port(service_port, timeout_seconds=15, alive=proc), (root / "broker.log").read_text()
        yield DeployBroker(root, proc.pid, tls_port, service_port, passwords)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(root, ignore_errors=True)


def connect(
    port: int,
    username: str | None,
    password: str | None,
    *,
    ca_file: Path | None = None,
    client_id: str | None = None,
    session_expiry_seconds: int = 0,
    timeout: float = 5,
) -> ProbeClient:
    """An MQTT v5 client (over TLS when ca_file is given) that records what it receives and its PUBACKs.

    With a session expiry it resumes its persistent session (clean start false), as ingest does."""
    client_id = client_id or f"test-{uuid.uuid4().hex[:10]}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    probe = ProbeClient(client)
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if username is not None:
        client.username_pw_set(username, password)

    def on_connect(c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: Properties | None) -> None:
        probe.connect_reason = reason
        probe.connected.set()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        probe.received.append((msg.topic, bytes(msg.payload)))

    def on_subscribe(c: mqtt.Client, u: object, mid: int, r: list[ReasonCode], p: Properties | None) -> None:
        probe.subscribed.set()

    def on_publish(c: mqtt.Client, u: object, mid: int, reason: ReasonCode, p: Properties | None) -> None:
        with probe.published:
            probe.puback[mid] = reason
            probe.published.notify_all()

    client.on_connect, client.on_message = on_connect, on_message
    client.on_subscribe, client.on_publish = on_subscribe, on_publish
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_seconds
    client.connect("127.0.0.1", port, clean_start=session_expiry_seconds == 0, properties=props)
    client.loop_start()
    probe.connected.wait(timeout)
    return probe


def device(broker: DeployBroker, name: str) -> ProbeClient:
    """A device logged in over TLS."""
    return connect(broker.tls_port, name, broker.passwords[name], ca_file=broker.ca_file)


@pytest.fixture
def service(broker: DeployBroker) -> Iterator[ProbeClient]:
    client = connect(broker.service_port, mosquitto.SERVICE_USER, broker.passwords[mosquitto.SERVICE_USER])
    assert client.connect_reason is not None and not client.connect_reason.is_failure
    client.subscribe(topics.subscription(topics.UP))
    yield client
    client.close()


def _wait_for(client: ProbeClient, count: int, timeout: float = 30.0) -> None:
    _wait_until(lambda: len(client.received) >= count, timeout)


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `condition` until it holds or the (generous, for a busy machine) timeout passes."""
    deadline = time.monotonic() + patience(timeout)
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_acl_file_has_the_same_rules_as_the_local_stack() -> None:
    assert rule_lines((DEPLOY / "acl").read_text()) == rule_lines(mosquitto.acl_text())


def test_config_keeps_queues_persistence_and_logins_at_least_as_strict_as_the_stack() -> None:
    text = (DEPLOY / "mosquitto.conf").read_text()
    assert config_values(text, "allow_anonymous") == ["false"]
    assert config_values(text, "persistence") == ["true"]
    assert int(config_values(text, "max_queued_messages")[0]) >= mosquitto.MAX_QUEUED_MESSAGES
    assert int(config_values(text, "autosave_interval")[0]) <= mosquitto.AUTOSAVE_SECONDS
    assert config_values(text, "set_tcp_nodelay") == ["true"]
    assert config_values(text, "listener") == ["8883", "1883"]


def test_device_publishes_over_tls_under_its_own_topic(broker: DeployBroker, service: ProbeClient) -> None:
    dev = device(broker, DEV_A)
    try:
        assert dev.connect_reason is not None and not dev.connect_reason.is_failure
        assert not dev.publish(topics.device_topic(DEV_A, topics.UP), b'{"ok": 1}').is_failure
        _wait_for(service, 1)
        assert service.received == [(topics.device_topic(DEV_A, topics.UP), b'{"ok": 1}')]
    finally:
        dev.close()


def test_device_cannot_publish_under_another_devices_topic(broker: DeployBroker, service: ProbeClient) -> None:
    dev = device(broker, DEV_A)
    try:
        forged = dev.publish(topics.device_topic(DEV_B, topics.UP), b'{"forged": 1}')
        own = dev.publish(topics.device_topic(DEV_A, topics.UP), b'{"own": 1}')
        # One connection, one subscriber: the broker keeps the order (MQTT 5 section 4.6), so a forged
        # message that had passed would have arrived before the own one we wait for.
        _wait_for(service, 1)
        assert forged.getName() == "Not authorized"
        assert not own.is_failure
        assert service.received == [(topics.device_topic(DEV_A, topics.UP), b'{"own": 1}')]
    finally:
        dev.close()


def test_device_cannot_publish_on_the_internal_batch_topic(broker: DeployBroker) -> None:
    dev = device(broker, DEV_A)
    try:
        assert dev.publish(BATCH_TOPIC, b"EB1\x00\x00").getName() == "Not authorized"
    finally:
        dev.close()


def test_device_receives_only_its_own_commands(broker: DeployBroker) -> None:
    dev_a = device(broker, DEV_A)
    svc = connect(broker.service_port, mosquitto.SERVICE_USER, broker.passwords[mosquitto.SERVICE_USER])
    try:
        dev_a.subscribe(topics.subscription(topics.CMD))  # a wildcard: read rules still filter delivery
        svc.publish(topics.device_topic(DEV_B, topics.CMD), b"for B")
        svc.publish(topics.device_topic(DEV_A, topics.CMD), b"for A")
        _wait_for(dev_a, 1)  # B's command, had it been delivered, came first (same publisher, order kept)
        assert dev_a.received == [(topics.device_topic(DEV_A, topics.CMD), b"for A")]
    finally:
        dev_a.close()
        svc.close()


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param(None, None, id="anonymous"),
        pytest.param(DEV_A, "wrong-password", id="wrong-password"),
        pytest.param("310120UNKNOWN", "whatever", id="unknown-device"),
        pytest.param(mosquitto.SIM_USER, "whatever", id="simulator-without-a-login"),
    ],
)
def test_bad_logins_are_refused_over_tls(broker: DeployBroker, username: str | None, password: str | None) -> None:
    client = connect(broker.tls_port, username, password, ca_file=broker.ca_file)
    try:
        assert client.connect_reason is not None and client.connect_reason.is_failure
    finally:
        client.close()


def test_plain_mqtt_gets_no_session_on_the_tls_port(broker: DeployBroker) -> None:
    client = connect(broker.tls_port, DEV_A, broker.passwords[DEV_A], timeout=2)
    try:
        assert client.connect_reason is None
    finally:
        client.close()


def test_client_that_does_not_trust_the_certificate_cannot_connect(broker: DeployBroker, tmp_path: Path) -> None:
    make_certificates(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(broker.tls_port, DEV_A, broker.passwords[DEV_A], ca_file=tmp_path / "other" / "ca.crt")


def test_a_full_ingest_batch_fits_the_packet_limit(broker: DeployBroker) -> None:
    # 2000 messages (ingest_batch_max_messages) of 10 readings, as envmon.batchwire encodes them.
    payload = encode_batch(ReadingColumns.empty()) + bytes(20_000 * ROW_BYTES)  # the size is what counts
    svc = connect(broker.service_port, mosquitto.SERVICE_USER, broker.passwords[mosquitto.SERVICE_USER])
    try:
        svc.subscribe(BATCH_TOPIC)
        assert not svc.publish(BATCH_TOPIC, payload).is_failure
        _wait_for(svc, 1)
        assert [len(p) for _, p in svc.received] == [len(payload)]
    finally:
        svc.close()


def test_a_message_over_the_size_limit_is_dropped_and_its_sender_disconnected(
    broker: DeployBroker, service: ProbeClient
) -> None:
    limit = int(config_values((DEPLOY / "mosquitto.conf").read_text(), "message_size_limit")[0])
    dev = device(broker, DEV_A)
    disconnected = threading.Event()
    dev.client.on_disconnect = lambda *_: disconnected.set()
    try:
        dev.client.publish(topics.device_topic(DEV_A, topics.UP), b"x" * (limit + 1), qos=1)
        assert disconnected.wait(patience(30))
        # A sentinel after the refusal: Mosquitto handles packets one at a time and delivers to the service
        # in order, so the big message, had it been accepted, would have reached the service first.
        sentinel = device(broker, DEV_A)
        sentinel.publish(topics.device_topic(DEV_A, topics.UP), b'{"after": 1}')
        _wait_for(service, 1)
        sentinel.close()
        assert service.received == [(topics.device_topic(DEV_A, topics.UP), b'{"after": 1}')]
    finally:
        dev.close()


def test_a_stopped_ingest_workers_share_waits_in_its_session_until_it_returns(broker: DeployBroker) -> None:
    # Two ingest workers on the shared subscription, each with its own persistent session (ingest/workers.py).
    shared = f"$share/envmon-ingest/{topics.subscription(topics.UP)}"
    login = (mosquitto.SERVICE_USER, broker.passwords[mosquitto.SERVICE_USER])
    ids = [f"envmon-ingest-test-{uuid.uuid4().hex[:6]}-{n}" for n in range(2)]
    workers = [connect(broker.service_port, *login, client_id=i, session_expiry_seconds=600) for i in ids]
    for w in workers:
        w.subscribe(shared)
    workers[1].close()  # a clean DISCONNECT: the session and its subscription stay
    dev = device(broker, DEV_A)
    try:
        sent = [f'{{"seq": {n}}}'.encode() for n in range(40)]
        for payload in sent:
            dev.publish(topics.device_topic(DEV_A, topics.UP), payload)
        back = connect(broker.service_port, *login, client_id=ids[1], session_expiry_seconds=600)
        # Nothing is published after the 40: whenever they arrive, the survivor holds its share only.
        _wait_until(lambda: len(workers[0].received) + len(back.received) >= len(sent))
        while_away = [p for _, p in workers[0].received]
        returned = [p for _, p in back.received]
        assert 0 < len(while_away) < len(sent)  # the survivor did not get the stopped worker's share ...
        assert sorted(while_away + returned) == sorted(sent)  # ... which waited for it: nothing lost or doubled
    finally:
        dev.close()
        workers[0].close()
        back.close()


def test_broker_writes_its_persistence_file_as_the_dropped_user(broker: DeployBroker) -> None:
    db_file = broker.root / "data" / "mosquitto.db"
    assert is_pid_alive(broker.pid, "mosquitto")
    os.kill(broker.pid, signal.SIGUSR1)  # Mosquitto saves its in-memory database on SIGUSR1
    deadline = time.monotonic() + patience(5)
    while not db_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert db_file.exists(), (broker.root / "broker.log").read_text()
