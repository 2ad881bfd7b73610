"""The registry as ingest needs it: device MN -> id, the pollutants it may report, its own units and O2 reference."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from envmon.catalogue import Catalogue, load_catalogue, unit_factor
from envmon.errors import CatalogueError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What ingest knows of one registered device.

    factors: canonical code -> factor into the canonical unit, only for channels the device sends in
    a unit other than the catalogue's protocol unit. o2_reference_percent: the reference O2 its
    corrected flue-gas channels are derived at (None: no derivation).
    """

    id: int
    mn: str
    pollutants: frozenset[str]
    transport: str
    hj212_password: str | None
    factors: Mapping[str, float] = field(default_factory=dict)
    o2_reference_percent: float | None = None


class DeviceDirectory:
    """An in-memory snapshot of active devices, reloaded periodically by the pipeline."""

    def __init__(self, devices: list[DeviceInfo]) -> None:
        self._by_mn = {d.mn: d for d in devices}
        self._by_id = {d.id: d for d in devices}
        self.ids_by_mn = {d.mn: d.id for d in devices}
        # The fast decode path converts with the catalogue's factors only: devices with their own
        # units are left out of it, so the full path (ingest.rows) converts their values.
        self.fast_ids_by_mn = {d.mn: d.id for d in devices if not d.factors}
        self.o2_reference_by_id = {d.id: d.o2_reference_percent for d in devices if d.o2_reference_percent is not None}

    def __len__(self) -> int:
        return len(self._by_mn)

    def get(self, mn: str) -> DeviceInfo | None:
        """The device with this MN code, or None when it is not registered and active."""
        return self._by_mn.get(mn)

    def mn_of(self, device_id: int) -> str:
        """The MN code of a device id."""
        return self._by_id[device_id].mn


def channel_factors(units: Mapping[str, str], catalogue: Catalogue, mn: str = "") -> dict[str, float]:
    """Conversion factors of the channels whose unit differs from the catalogue's protocol unit."""
    factors: dict[str, float] = {}
    for code, unit in units.items():
        try:
            pollutant = catalogue.get(code)
            factor = unit_factor(unit, pollutant.canonical_unit)
        except CatalogueError as exc:  # the registry loader refuses these; a hand-edited row is logged
            log.error("device %s: channel %s unit %r ignored: %s", mn, code, unit, exc)
            continue
        if factor != pollutant.protocol_factor:
            factors[pollutant.code] = factor
    return factors


def _device(row: tuple[Any, ...], catalogue: Catalogue) -> DeviceInfo:
    device_id, mn, pollutants, transport, password, units, o2_reference = row
    factors = channel_factors(units or {}, catalogue, mn)
    return DeviceInfo(device_id, mn, frozenset(pollutants), transport, password, factors, o2_reference)


def load_directory(conn: psycopg.Connection) -> DeviceDirectory:
    """Read every active device from the registry."""
    rows = conn.execute(
        "SELECT id, mn, pollutants, transport, hj212_password, units, o2_reference_percent FROM devices WHERE active"
    ).fetchall()
    catalogue = load_catalogue()
    return DeviceDirectory([_device(r, catalogue) for r in rows])
