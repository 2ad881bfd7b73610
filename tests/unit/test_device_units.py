"""Per-device channel units: the registry refuses what cannot convert, and every decode path converts
a device's own unit (MQTT fast and full path, HJ 212) instead of the catalogue's protocol unit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from envmon.catalogue import load_catalogue
from envmon.columns import Row
from envmon.errors import RegistryError
from envmon.protocols.errors import RejectedMessage
from envmon.protocols.hj212.message import parse_segment
from envmon.protocols.hj212.readings import message_readings
from envmon.protocols.mqtt_json import decode_payload
from envmon.registry.load import parse_registry
from ingest.assemble import Assembler
from ingest.directory import DeviceDirectory, DeviceInfo, channel_factors
from ingest.quarantine import QuarantineEntry
from ingest.rows import UnitTable, message_rows
from tests.unit.test_registry_load import VALID

NOW = datetime(2026, 11, 22, 4, 0, 30, tzinfo=UTC)
CATALOGUE = load_catalogue()
# MN1 sends Cr(VI) in the catalogue's ug/L; MN2 is a logger configured for mg/L.
DIRECTORY = DeviceDirectory(
    [
        DeviceInfo(1, "MN1", frozenset(), "mqtt", None),
        DeviceInfo(2, "MN2", frozenset(), "mqtt", None, channel_factors({"w20117": "mg/L"}, CATALOGUE)),
    ]
)


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        pytest.param({"w20117": "ug/L"}, {}, id="the-protocol-unit-needs-no-factor"),
        pytest.param({"w20117": "µg/L"}, {}, id="a-spelling-of-the-protocol-unit"),
        pytest.param({"w20117": "mg/L"}, {"w20117": 1.0}, id="cr6-in-mg-per-litre-is-not-divided"),
        pytest.param({"w20116": "ug/L"}, {"w20116": 0.001}, id="total-cr-in-ug-per-litre"),
        pytest.param({"a00000": "m3/h"}, {"a00000": 1 / 3600}, id="flue-gas-flow-in-m3-per-hour"),
        pytest.param({"011": "mg/L"}, {}, id="a-legacy-code-maps-to-its-current-code"),
    ],
)
def test_channel_factors(units: dict[str, str], expected: dict[str, float]) -> None:
    assert channel_factors(units, CATALOGUE) == pytest.approx(expected)


def _registry_with_units(units: str) -> str:
    return VALID.replace('installed_on = 2021-05-01', f'installed_on = 2021-05-01\nunits = {units}', 1)


@pytest.mark.parametrize(
    ("units", "problem"),
    [
        pytest.param('{ w20117 = "mg/m3" }', "devices[0] (310120EP001W01).units.w20117: unit 'mg/m3' cannot be converted to mg/L",
                     id="a-gas-unit-for-a-water-channel"),
        pytest.param('{ w20117 = "furlong" }', "devices[0] (310120EP001W01).units.w20117: unit 'furlong' cannot",
                     id="an-unknown-unit"),
        pytest.param('{ w20116 = "%" }', "devices[0] (310120EP001W01).units.w20116: unit '%' cannot", id="percent-for-mg-per-litre"),
        pytest.param('{ w21003 = "mg/L" }', "devices[0] (310120EP001W01): units names codes the device does not measure: w21003",
                     id="a-channel-the-device-does-not-have"),
    ],
)
def test_the_registry_refuses_units_that_cannot_convert(units: str, problem: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_registry(_registry_with_units(units), "case.toml")
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_the_registry_keeps_a_compatible_unit() -> None:
    registry = parse_registry(_registry_with_units('{ w20117 = "mg/L" }'))
    assert registry.file.devices[0].units == {"w20117": "mg/L"}


@dataclass
class _Item:
    device: str | None
    payload: bytes
    received_at: datetime = NOW
    rows: list[Row] | None = None
    problems: list[QuarantineEntry] = field(default_factory=list)


def _slow(item: _Item) -> tuple[list[Row], list[QuarantineEntry]]:
    try:
        msg = decode_payload(item.payload, now=item.received_at)
        rows, _ = message_rows(msg, item.device or "", DIRECTORY, UnitTable(CATALOGUE), item.received_at)
    except RejectedMessage as exc:
        return [], [QuarantineEntry("mqtt", "t", item.device, exc.reason, exc.detail, item.payload)]
    return rows, []


def _payload(device: str, values: dict[str, object]) -> bytes:
    return json.dumps({"device": device, "seq": 1, "time": "2026-11-22T04:00:00Z", "values": values}).encode()


@pytest.mark.parametrize(
    ("device", "sent", "stored_mg_l"),
    [
        pytest.param("MN1", 42.5, 0.0425, id="catalogue-unit-ug-per-litre-fast-path"),
        pytest.param("MN2", 0.05, 0.05, id="device-unit-mg-per-litre-full-path"),
        pytest.param("MN2", [0.3, "T"], 0.3, id="device-unit-with-a-flag"),
    ],
)
def test_mqtt_values_are_converted_with_the_device_unit(device: str, sent: object, stored_mg_l: float) -> None:
    items = [_Item(device, _payload(device, {"w20117": sent}))]
    assembled = Assembler(CATALOGUE).assemble(items, DIRECTORY.fast_ids_by_mn, _slow)
    assert assembled.quarantine == []
    assert assembled.columns.value.tolist() == [stored_mg_l]


def test_a_device_with_its_own_units_is_left_out_of_the_fast_path() -> None:
    assert DIRECTORY.fast_ids_by_mn == {"MN1": 1}
    assert DIRECTORY.ids_by_mn == {"MN1": 1, "MN2": 2}


@pytest.mark.parametrize(
    ("factors", "expected"),
    [
        pytest.param(None, [0.0425, 0.31], id="catalogue-units"),
        pytest.param({"w20117": 1.0}, [42.5, 0.31], id="logger-sends-cr6-in-mg-per-litre"),
        pytest.param({"w20116": 0.001}, [0.0425, 0.00031], id="logger-sends-total-cr-in-ug-per-litre"),
    ],
)
def test_hj212_values_are_converted_with_the_device_unit(factors: dict[str, float] | None, expected: list[float]) -> None:
    message = parse_segment(
        "QN=20260520103000123;ST=32;CN=2011;PW=123456;MN=MN2;Flag=4;CP=&&DataTime=20260520103000;"
        "w20117-Rtd=42.5,w20117-Flag=N;w20116-Rtd=0.31,w20116-Flag=N&&"
    )
    readings, problems = message_readings(message, CATALOGUE, now=NOW, factors=factors)
    assert problems == []
    assert [r.value for r in readings] == pytest.approx(expected)
