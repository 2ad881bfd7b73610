"""The broker's password file: 0600 from its first byte, written through a rename, never holding a plaintext
password (before, `envmon registry load` left device passwords world-readable in passwd.new for a moment)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from envmon.stack.processes import service_user
from tests.alert_helpers import wait_until
from tests.conftest import make_state_dir
from tests.mqtt_helpers import connect

USERS = {f"310120T{n:03d}W01": f"plain-secret-{n:03d}-" + "p" * 40 for n in range(50)}


@pytest.fixture
def broker() -> Iterator[mosquitto.Broker]:
    root = make_state_dir("envmon-broker-files-")
    yield mosquitto.Broker(root, 1)
    shutil.rmtree(root, ignore_errors=True)


def verify(line: str, password: str) -> bool:
    """Check one `name:$7$...` line as Mosquitto does."""
    _, _, hashed = line.partition(":")
    _, kind, iterations, salt, digest = hashed.split("$")
    expected = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return kind == "7" and base64.b64decode(digest) == expected


def test_the_password_file_is_private_hashed_and_alone(broker: mosquitto.Broker) -> None:
    old_umask = os.umask(0o022)
    try:
        mosquitto.write_auth_files(broker, USERS)
    finally:
        os.umask(old_umask)
    info = broker.password_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    owner = service_user("mosquitto")
    assert info.st_uid == (owner.pw_uid if owner is not None else os.getuid())
    lines = broker.password_file.read_text().splitlines()
    assert [line.partition(":")[0] for line in lines] == sorted(USERS)
    assert all(verify(line, USERS[line.partition(":")[0]]) for line in lines)
    assert sorted(p.name for p in broker.root.iterdir()) == ["acl", "passwd"], "no staging file is left behind"


def test_no_plaintext_password_ever_reaches_the_disk(broker: mosquitto.Broker) -> None:
    seen: list[str] = []
    stop = threading.Event()
    secrets = [pw.encode() for pw in USERS.values()]

    def spy() -> None:  # reads every file in the folder as fast as it can while the files are written
        while not stop.is_set():
            for path in list(broker.root.iterdir()):
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(s in data for s in secrets):
                    seen.append(path.name)

    thread = threading.Thread(target=spy, daemon=True)
    thread.start()
    try:
        for _ in range(20):
            mosquitto.write_auth_files(broker, USERS)
    finally:
        stop.set()
        thread.join()
    assert seen == []


def test_a_failed_write_keeps_the_old_file(broker: mosquitto.Broker) -> None:
    mosquitto.write_auth_files(broker, USERS)
    before = broker.password_file.read_bytes()
    with pytest.raises(UnicodeEncodeError):
        mosquitto.write_private_file(broker.password_file, "bad \ud800", None)
    assert broker.password_file.read_bytes() == before
    assert sorted(p.name for p in broker.root.iterdir()) == ["acl", "passwd"]


def test_a_device_login_added_while_the_broker_runs_is_accepted(stack: StackState) -> None:
    device = "310120T001W77"
    launcher.set_device_credentials(stack, [device])
    secret = mosquitto.device_secret(stack.secret_key, device)

    def accepted() -> bool:  # the broker re-reads the file on SIGHUP, a moment after it was sent
        client = connect(stack.mqtt_port, device, secret)
        try:
            return client.connect_reason is not None and not client.connect_reason.is_failure
        finally:
            client.close()

    assert wait_until(accepted, timeout=10)
    assert stat.S_IMODE(Path(stack.broker.password_file).stat().st_mode) == 0o600
    wrong = connect(stack.mqtt_port, device, "wrong")
    try:
        assert wrong.connect_reason is not None and wrong.connect_reason.is_failure
    finally:
        wrong.close()
