"""The registry as ingest needs it: device MN -> id and the pollutants it may report."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What ingest knows of one registered device."""

    id: int
    mn: str
    pollutants: frozenset[str]
    transport: str
    hj212_password: str | None


class DeviceDirectory:
    """An in-memory snapshot of active devices, reloaded periodically by the pipeline."""

    def __init__(self, devices: list[DeviceInfo]) -> None:
        self._by_mn = {d.mn: d for d in devices}
        self._by_id = {d.id: d for d in devices}
        self.ids_by_mn = {d.mn: d.id for d in devices}

    def __len__(self) -> int:
        return len(self._by_mn)

    def get(self, mn: str) -> DeviceInfo | None:
        """The device with this MN code, or None when it is not registered and active."""
        return self._by_mn.get(mn)

    def mn_of(self, device_id: int) -> str:
        """The MN code of a device id."""
        return self._by_id[device_id].mn


def load_directory(conn: psycopg.Connection) -> DeviceDirectory:
    """Read every active device from the registry."""
    rows = conn.execute("SELECT id, mn, pollutants, transport, hj212_password FROM devices WHERE active").fetchall()
    return DeviceDirectory([DeviceInfo(r[0], r[1], frozenset(r[2]), r[3], r[4]) for r in rows])
