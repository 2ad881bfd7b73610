"""A private Mosquitto broker: generated config, password file and per-device ACL, on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from envmon import topics
from envmon.batchwire import BATCH_TOPIC, LANE_BATCH_TOPIC
from envmon.errors import StackError
from envmon.stack.folder import ServerFile
from envmon.stack.processes import chown_tree, ensure_traversable, is_pid_alive, service_user, wait_for_port

SERVICE_USER = "envmon-service"
SIM_USER = "envmon-sim"
# Offline persistent subscribers must not lose readings past the default 1000 queued messages.
MAX_QUEUED_MESSAGES = 1_000_000
MAX_QUEUED_BYTES = 1024 * 1024 * 1024
# A snapshot every 30 s narrows what a SIGKILL can lose; sequence numbers close the rest.
AUTOSAVE_SECONDS = 30
MAX_PACKET_BYTES = 256 * 1024
# Mosquitto's password hash "$7$": PBKDF2-HMAC-SHA512 with a 12-byte salt, as mosquitto_passwd writes it.
# 101 iterations is its default; the secrets hashed here are 256-bit random values, which iterations
# cannot strengthen, and every device login pays them on the broker.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12


@dataclass(frozen=True)
class Broker:
    """Where a broker's files live and its port."""

    root: Path
    port: int

    config_file = ServerFile("mosquitto.conf")
    password_file = ServerFile("passwd")
    acl_file = ServerFile("acl")
    log_file = ServerFile("mosquitto.log")
    pid_file = ServerFile("mosquitto.pid")


def find_binary(name: str = "mosquitto") -> str:
    """Path of a Mosquitto program (the broker or mosquitto_passwd)."""
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )
    if not found:
        raise StackError(f"{name} not found: run scripts/bootstrap (installs mosquitto)")
    return found


def config_text(broker: Broker) -> str:
    """The broker configuration: MQTT v5-capable listener on loopback, auth, ACL, persistence."""
    return f"""# written by envmon stack; regenerated at every start
per_listener_settings false
allow_anonymous false
password_file {broker.password_file}
acl_file {broker.acl_file}
listener {broker.port} 127.0.0.1
persistence true
persistence_location {broker.root / "data"}/
autosave_interval {AUTOSAVE_SECONDS}
persistent_client_expiration 14d
max_queued_messages {MAX_QUEUED_MESSAGES}
max_queued_bytes {MAX_QUEUED_BYTES}
max_packet_size {MAX_PACKET_BYTES}
set_tcp_nodelay true
log_dest stdout
log_type error
log_type warning
log_type notice
log_timestamp_format %Y-%m-%dT%H:%M:%S
connection_messages false
"""


def acl_text() -> str:
    """ACL: services read every device, the simulator writes as any device, a device only its own topics."""
    p = topics.PREFIX
    return f"""# written by envmon stack
user {SERVICE_USER}
topic read {p}/+/{topics.UP}
topic read {p}/+/{topics.STATUS}
topic write {p}/+/{topics.CMD}
topic readwrite {BATCH_TOPIC}
topic readwrite {LANE_BATCH_TOPIC}

user {SIM_USER}
topic write {p}/+/{topics.UP}
topic write {p}/+/{topics.STATUS}
topic read {p}/+/{topics.CMD}

# every device (username = its MN code) publishes only under its own code
pattern write {p}/%u/{topics.UP}
pattern write {p}/%u/{topics.STATUS}
pattern read {p}/%u/{topics.CMD}
"""


def device_secret(master_secret: str, device: str) -> str:
    """A device's MQTT password derived from the stack secret (local stack and simulator only)."""
    return hmac.new(master_secret.encode(), f"mqtt-device:{device}".encode(), hashlib.sha256).hexdigest()


def password_line(name: str, password: str, *, salt: bytes | None = None) -> str:
    """One line of a Mosquitto password file: the user and the $7$ hash of the password (never the password)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"{name}:$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}\n"


def write_private_file(path: Path, text: str, owner: pwd.struct_passwd | None) -> None:
    """Replace a file atomically with one that is 0600 (and the owner's, when given) from its first byte.

    The text goes into a temporary file in the same folder (mkstemp creates it 0600) and is renamed over the
    old one, so no reader ever sees a world-readable, partly written or missing file."""
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if owner is not None:
            os.fchown(fd, owner.pw_uid, owner.pw_gid)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def write_auth_files(broker: Broker, users: Mapping[str, str]) -> None:
    """Write the ACL and a hashed password file for these users (name -> password); no plaintext touches disk."""
    broker.root.mkdir(parents=True, exist_ok=True)
    owner = service_user("mosquitto")
    broker.acl_file.write_text(acl_text(), encoding="utf-8")
    (broker.root / "passwd.new").unlink(missing_ok=True)  # the plaintext staging file of earlier versions
    lines = "".join(password_line(name, pw) for name, pw in sorted(users.items()))
    write_private_file(broker.password_file, lines, owner)
    chown_tree(broker.root, owner)


def read_pid(broker: Broker) -> int | None:
    """The pid of the running broker, or None."""
    try:
        pid = int(broker.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_pid_alive(pid, "mosquitto") else None


def start(broker: Broker) -> int:
    """Start the broker in its own session; return its pid once the port accepts connections."""
    user = service_user("mosquitto")
    (broker.root / "data").mkdir(parents=True, exist_ok=True)
    if user is not None:
        ensure_traversable(broker.root)
    broker.config_file.write_text(config_text(broker), encoding="utf-8")
    chown_tree(broker.root, user)
    with broker.log_file.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [find_binary(), "-c", str(broker.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if not wait_for_port(broker.port, timeout_seconds=15, alive=proc):
        proc.kill()
        tail = broker.log_file.read_text(errors="replace").splitlines()[-15:]
        raise StackError(f"mosquitto did not start on port {broker.port}:\n" + "\n".join(tail))
    broker.pid_file.write_text(f"{proc.pid}\n", encoding="utf-8")
    return proc.pid


def reload(broker: Broker) -> None:
    """Ask the running broker to re-read its password and ACL files (SIGHUP)."""
    pid = read_pid(broker)
    if pid is not None:
        os.kill(pid, signal.SIGHUP)


def stop(broker: Broker, *, sig: int = signal.SIGTERM, timeout_seconds: float = 15) -> None:
    """Stop the broker we started (by its recorded pid); SIGTERM lets it save its persistence file."""
    pid = read_pid(broker)
    if pid is None:
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and is_pid_alive(pid, "mosquitto"):
        time.sleep(0.05)
    if is_pid_alive(pid, "mosquitto"):
        os.kill(pid, signal.SIGKILL)
    broker.pid_file.unlink(missing_ok=True)
