"""`envmon stack up/down/status`: start, stop and describe the private PostgreSQL and Mosquitto.

The launcher keeps its state (ports, generated passwords, the URLs the other commands use) in
`<state_dir>/stack.toml`, readable only by its owner. Running `up` again reuses what is there.
"""

from __future__ import annotations

import logging
import os
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from envmon.errors import StackError
from envmon.settings import STATE_FILE_NAME, load_settings
from envmon.stack import mosquitto, postgres
from envmon.stack.processes import free_port, is_port_open

log = logging.getLogger(__name__)
DATABASE_NAME = "envmon"


@dataclass
class StackState:
    """Everything `stack up` decided; persisted as stack.toml."""

    state_dir: Path
    pg_port: int
    pg_password: str
    mqtt_port: int
    secret_key: str
    mqtt_users: dict[str, str] = field(default_factory=dict)
    durable: bool = True
    # Decided at each `up` from ENVMON_TIMESCALEDB, not saved: every start regenerates the configuration.
    timescaledb: postgres.TimescaleMode = "auto"

    @property
    def cluster(self) -> postgres.PostgresCluster:
        return postgres.PostgresCluster(
            self.state_dir / "postgres", self.pg_port, self.pg_password, self.durable, self.timescaledb
        )

    @property
    def broker(self) -> mosquitto.Broker:
        return mosquitto.Broker(self.state_dir / "mosquitto", self.mqtt_port)

    @property
    def database_url(self) -> str:
        return self.cluster.url(DATABASE_NAME)

    @property
    def admin_database_url(self) -> str:
        return self.cluster.url("postgres")

    def mqtt_url_for(self, user: str) -> str:
        """An MQTT URL with one of the generated users' credentials."""
        return f"mqtt://{user}:{self.mqtt_users[user]}@127.0.0.1:{self.mqtt_port}"

    def to_toml(self) -> dict[str, Any]:
        return {
            "database_url": self.database_url,
            "mqtt_url": self.mqtt_url_for(mosquitto.SERVICE_USER),
            "secret_key": self.secret_key,
            "stack": {
                "pg_port": self.pg_port,
                "pg_password": self.pg_password,
                "mqtt_port": self.mqtt_port,
                "durable": self.durable,
                "sim_mqtt_url": self.mqtt_url_for(mosquitto.SIM_USER),
            },
            "mqtt_users": dict(self.mqtt_users),
        }


def state_file(state_dir: Path) -> Path:
    """Path of the stack's state file."""
    return state_dir / STATE_FILE_NAME


def read_state(state_dir: Path) -> StackState | None:
    """The saved state, or None when the stack was never set up here."""
    path = state_file(state_dir)
    if not path.is_file():
        return None
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    stack = data["stack"]
    return StackState(
        state_dir=state_dir,
        pg_port=stack["pg_port"],
        pg_password=stack["pg_password"],
        mqtt_port=stack["mqtt_port"],
        secret_key=data["secret_key"],
        mqtt_users=dict(data.get("mqtt_users", {})),
        durable=stack.get("durable", True),
    )


def write_state(state: StackState) -> None:
    """Save the state file with owner-only permissions (it holds passwords)."""
    path = state_file(state.state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(state.to_toml()), encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def _new_state(state_dir: Path, pg_port: int | None, mqtt_port: int | None, durable: bool) -> StackState:
    return StackState(
        state_dir=state_dir,
        pg_port=pg_port or free_port(),
        pg_password=secrets.token_urlsafe(24),
        mqtt_port=mqtt_port or free_port(),
        secret_key=secrets.token_urlsafe(48),
        mqtt_users={
            mosquitto.SERVICE_USER: secrets.token_urlsafe(32),
            mosquitto.SIM_USER: secrets.token_urlsafe(32),
        },
        durable=durable,
    )


def up(
    state_dir: Path,
    *,
    pg_port: int | None = None,
    mqtt_port: int | None = None,
    durable: bool = True,
    with_postgres: bool = True,
    timescaledb: postgres.TimescaleMode | None = None,
) -> StackState:
    """Start (or reuse) the cluster and the broker; return the state other commands connect with.

    `with_postgres=False` starts only the broker (tests against an external PostgreSQL). The cluster
    preloads TimescaleDB when the installed server has it, unless `timescaledb` (by default the setting
    ENVMON_TIMESCALEDB) is "off"; a cluster already running keeps the configuration it started with.
    """
    state_dir = state_dir.absolute()
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o755)
    state = read_state(state_dir) or _new_state(state_dir, pg_port, mqtt_port, durable)
    write_state(state)
    state.timescaledb = timescaledb or load_settings(state_dir=state_dir).timescaledb
    if with_postgres:
        _up_postgres(state)
    _up_broker(state)
    return state


def _up_postgres(state: StackState) -> None:
    cluster = state.cluster
    postgres.init_cluster(cluster)
    if postgres.is_running(cluster):
        log.info("PostgreSQL already running on port %d", cluster.port)
    else:
        if is_port_open(cluster.port):
            raise StackError(f"port {cluster.port} is taken by another program; remove {state.state_dir} or free it")
        log.info("starting PostgreSQL on 127.0.0.1:%d", cluster.port)
        postgres.start(cluster)
    postgres.ensure_database(cluster, DATABASE_NAME)


def _up_broker(state: StackState) -> None:
    broker = state.broker
    if mosquitto.read_pid(broker) is not None:
        log.info("Mosquitto already running on port %d", broker.port)
        return
    if is_port_open(broker.port):
        raise StackError(f"port {broker.port} is taken by another program; remove {state.state_dir} or free it")
    if not broker.password_file.exists():
        mosquitto.write_auth_files(broker, state.mqtt_users)
    log.info("starting Mosquitto on 127.0.0.1:%d", broker.port)
    mosquitto.start(broker)


def set_device_credentials(state: StackState, devices: Iterable[str]) -> int:
    """Give each device a broker login derived from the stack secret, and reload the broker."""
    users = dict(state.mqtt_users)
    users.update({mn: mosquitto.device_secret(state.secret_key, mn) for mn in devices})
    mosquitto.write_auth_files(state.broker, users)
    mosquitto.reload(state.broker)
    return len(users) - len(state.mqtt_users)


def down(state_dir: Path) -> bool:
    """Stop the broker and the cluster started here; False when there was no stack."""
    state = read_state(state_dir.absolute())
    if state is None:
        return False
    mosquitto.stop(state.broker)
    postgres.stop(state.cluster)
    return True


def status(state_dir: Path) -> dict[str, Any]:
    """What runs, where, for `envmon stack status`."""
    state = read_state(state_dir.absolute())
    if state is None:
        return {"state_dir": str(state_dir), "configured": False}
    broker_pid = mosquitto.read_pid(state.broker)
    return {
        "state_dir": str(state.state_dir),
        "configured": True,
        "postgres": {
            "running": postgres.is_running(state.cluster),
            "port": state.pg_port,
            "pid": postgres.postmaster_pid(state.cluster),
            "database": DATABASE_NAME,
        },
        "mosquitto": {"running": broker_pid is not None, "port": state.mqtt_port, "pid": broker_pid},
    }
