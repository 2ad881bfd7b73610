"""Forwarding targets from a TOML file (`envmon forward load`), kept in the database the queue trigger reads.

The file is the reviewed source (host, port, per-device MN and PW, which data); loading it replaces each
named target's routes in one transaction. A target missing from the file is disabled, never deleted, so
its queued readings stay visible in `envmon forward status`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import psycopg

from ingest.errors import IngestError

# The names in the file for the four kinds of data, and the stored basis each is.
DATA_KINDS: dict[str, str] = {"realtime": "instant", "minute": "minute", "hour": "hour", "day": "day"}
VERSIONS = ("2005", "2017", "2025")


class ForwardConfigError(IngestError):
    """The forwarding file is malformed or names an unknown device."""


@dataclass(frozen=True, slots=True)
class DeviceRoute:
    """One local device (by MN) as it is known upstream."""

    mn: str
    upstream_mn: str
    upstream_pw: str
    bases: tuple[str, ...]
    st: str | None = None


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """One upstream platform and its devices."""

    name: str
    host: str
    port: int
    version: str
    devices: tuple[DeviceRoute, ...]


def parse_targets(text: str) -> list[TargetConfig]:
    """The `[[targets]]` of a forwarding file; ForwardConfigError says what is wrong."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ForwardConfigError(f"forwarding file is not TOML: {exc}") from exc
    targets = [_target(item) for item in document.get("targets", [])]
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ForwardConfigError("target names must be unique")
    return targets


def _target(item: dict[str, object]) -> TargetConfig:
    """One `[[targets]]` table."""
    name = _text(item, "name", "target")
    port = item.get("port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ForwardConfigError(f"target {name}: port must be a whole number in 1..65535")
    version = str(item.get("version", "2017"))
    if version not in VERSIONS:
        raise ForwardConfigError(f"target {name}: version must be one of {', '.join(VERSIONS)}")
    devices = item.get("devices", [])
    if not isinstance(devices, list):
        raise ForwardConfigError(f"target {name}: devices must be [[targets.devices]] tables")
    return TargetConfig(name, _text(item, "host", name), port, version, tuple(_route(name, d) for d in devices))


def _route(target: str, item: dict[str, object]) -> DeviceRoute:
    """One `[[targets.devices]]` table."""
    data = item.get("data", ["realtime", "minute", "hour", "day"])
    if not isinstance(data, list) or not data or any(d not in DATA_KINDS for d in data):
        raise ForwardConfigError(f"target {target}: data must list some of {', '.join(DATA_KINDS)}")
    st = item.get("st")
    return DeviceRoute(
        mn=_text(item, "mn", target),
        upstream_mn=_text(item, "upstream_mn", target),
        upstream_pw=_text(item, "upstream_pw", target),
        bases=tuple(DATA_KINDS[d] for d in data),
        st=None if st is None else str(st),
    )


def _text(item: dict[str, object], key: str, where: str) -> str:
    """A required, non-empty text field."""
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ForwardConfigError(f"{where}: {key} is required and must be text")
    return value


def store_targets(conn: psycopg.Connection, targets: list[TargetConfig]) -> None:
    """Make the database's targets and routes those of the file, in one transaction."""
    with conn.transaction():
        conn.execute("UPDATE forward_targets SET enabled = false, updated_at = now()")
        for target in targets:
            _store_target(conn, target)


def _store_target(conn: psycopg.Connection, target: TargetConfig) -> None:
    """Upsert one target and replace its routes."""
    row = conn.execute(
        "INSERT INTO forward_targets (name, host, port, version, enabled) VALUES (%s, %s, %s, %s, true)"
        " ON CONFLICT (name) DO UPDATE SET host = excluded.host, port = excluded.port, version = excluded.version,"
        " enabled = true, updated_at = now() RETURNING id",
        (target.name, target.host, target.port, target.version),
    ).fetchone()
    assert row is not None
    conn.execute("DELETE FROM forward_routes WHERE target_id = %s", (row[0],))
    for route in target.devices:
        device = conn.execute("SELECT id, system_code FROM devices WHERE mn = %s", (route.mn,)).fetchone()
        if device is None:
            raise ForwardConfigError(f"target {target.name}: no registered device with MN {route.mn}")
        conn.execute(
            "INSERT INTO forward_routes (target_id, device_id, upstream_mn, upstream_pw, st, bases)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (row[0], device[0], route.upstream_mn, route.upstream_pw, route.st or device[1], list(route.bases)),
        )
