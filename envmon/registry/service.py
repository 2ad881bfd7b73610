"""Registry operations used by the CLI and the demo: load a file into the database and the broker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg

from envmon.db import connect
from envmon.errors import EnvmonError
from envmon.registry.load import load_registry_file
from envmon.registry.store import LoadCounts, store_registry
from envmon.settings import Settings
from envmon.stack import launcher

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
            mqtt_devices = [
                row[0] for row in conn.execute("SELECT mn FROM devices WHERE transport = 'mqtt' AND active ORDER BY mn")
            ]
    except psycopg.Error as exc:
        raise EnvmonError(f"storing {path} failed, nothing was changed: {exc}") from exc
    return ApplyResult(counts, _sync_local_broker(settings, mqtt_devices))


def _sync_local_broker(settings: Settings, devices: list[str]) -> int | None:
    """With the local stack, write device logins into its broker; production brokers are external."""
    state = launcher.read_state(settings.state_dir)
    if state is None or settings.mqtt_url != state.to_toml()["mqtt_url"]:
        log.info("broker is external: device MQTT credentials are managed there")
        return None
    return launcher.set_device_credentials(state, devices)
