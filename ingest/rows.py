"""Decoded samples to database rows: registry and catalogue checks, canonical units."""

from __future__ import annotations

from datetime import datetime

from envmon.catalogue import Catalogue
from envmon.columns import Row
from envmon.errors import CatalogueError
from envmon.protocols.errors import RejectedMessage
from envmon.protocols.mqtt_json import DeviceMessage
from ingest.directory import DeviceDirectory

COLUMNS = ("time", "device_id", "pollutant", "basis", "value", "flag", "seq", "received_at")
COPY_TYPES = ("timestamptz", "int4", "text", "text", "float8", "text", "int8", "timestamptz")


class UnitTable:
    """Catalogue look-ups cached per code: (canonical code, factor from the protocol unit)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._cache: dict[str, tuple[str, float] | None] = {}

    def canonical(self, code: str) -> tuple[str, float] | None:
        """The canonical code and conversion factor, or None for an unknown code."""
        if code not in self._cache:
            try:
                p = self._catalogue.get(code)
                self._cache[code] = (p.code, p.protocol_factor)
            except CatalogueError:
                self._cache[code] = None
        return self._cache[code]


def message_rows(
    msg: DeviceMessage, topic_device: str, directory: DeviceDirectory, units: UnitTable, received_at: datetime
) -> tuple[list[Row], list[str]]:
    """Rows of a decoded message and the codes it carried that are not in the catalogue.

    Raises RejectedMessage when the whole message must be refused (forged or unknown device).
    """
    if msg.device != topic_device:
        raise RejectedMessage("topic_mismatch", f"payload device {msg.device!r} published on {topic_device!r}'s topic")
    device = directory.get(msg.device)
    if device is None:
        raise RejectedMessage("unknown_device", f"device {msg.device!r} is not registered or not active")
    rows: list[Row] = []
    unknown: list[str] = []
    for sample in msg.samples:
        for code, value, flag in sample.values:
            found = units.canonical(code)
            if found is None:
                unknown.append(code)
                continue
            # A device's own unit for a channel beats the catalogue's protocol unit (registry `units`).
            factor = device.factors.get(found[0], found[1])
            rows.append(Row(sample.time, device.id, found[0], "instant", value * factor, flag, sample.seq, received_at))
    return rows, unknown
