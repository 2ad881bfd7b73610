"""Registry operations used by the CLI, the demo and the dashboard: load a file, issue device logins.

The one place that knows whether the broker is the local stack's (logins derived and written into it)
or an external one (logins managed there); callers never reach for the stack launcher themselves.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg

from envmon.db import connect
from envmon.errors import EnvmonError
from envmon.registry.load import load_registry_file
from envmon.registry.store import LoadCounts, store_registry
from envmon.settings import Settings
from envmon.stack import launcher, mosquitto

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    counts: LoadCounts
    broker_logins: int | None


def apply_registry_file(settings: Settings, path: Path, *, actor: str) -> ApplyResult:
    """Validate the file, store it in one transaction, then give MQTT devices broker logins."""
    registry = load_registry_file(path)
    try:
        with connect(settings) as conn:
            counts = store_registry(conn, registry, actor=actor)
            mqtt_devices = _mqtt_devices(conn)
    except psycopg.Error as exc:
        raise EnvmonError(f"storing {path} failed, nothing was changed: {exc}") from exc
    return ApplyResult(counts, _sync_local_broker(settings, mqtt_devices))


def issue_device_password(conn: psycopg.Connection, settings: Settings, mn: str) -> str:
    """A registered MQTT device's broker password: on the local stack its derived login, written into the broker;
    elsewhere a random one for the operator to install there. Shown once, stored nowhere here."""
    state = _local_stack(settings)
    if state is None:
        return secrets.token_urlsafe(24)
    launcher.set_device_credentials(state, _mqtt_devices(conn))
    return mosquitto.device_secret(state.secret_key, mn)


def sync_device_logins(conn: psycopg.Connection, settings: Settings) -> int | None:
    """After a committed change of which devices are active (the admin page's deactivation): on the local stack,
    rewrite the broker's logins to the active MQTT devices and reload it, so a deactivated device can no longer
    connect or publish and a reactivated one can again (the same path as `registry apply`). None for an external
    broker, where logins are managed."""
    return _sync_local_broker(settings, _mqtt_devices(conn))


def _mqtt_devices(conn: psycopg.Connection) -> list[str]:
    # A device of a deactivated plant is out too: the engine judges neither (alerts.rules.registry).
    return [row[0] for row in conn.execute("SELECT d.mn FROM devices d JOIN sites s ON s.id = d.site_id"
                                           " WHERE d.transport = 'mqtt' AND d.active AND s.active ORDER BY d.mn")]


def _local_stack(settings: Settings) -> launcher.StackState | None:
    """The local stack when the settings point at its broker; None for an external broker."""
    state = launcher.read_state(settings.state_dir)
    if state is None or settings.mqtt_url != state.to_toml()["mqtt_url"]:
        return None
    return state


def _sync_local_broker(settings: Settings, devices: list[str]) -> int | None:
    """With the local stack, write device logins into its broker; production brokers are external."""
    state = _local_stack(settings)
    if state is None:
        log.info("broker is external: device MQTT credentials are managed there")
        return None
    return launcher.set_device_credentials(state, devices)
