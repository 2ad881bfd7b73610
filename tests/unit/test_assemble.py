"""ingest.assemble: the fast path gives exactly what the full decoder gives, and leaves it everything else."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from envmon.catalogue import load_catalogue
from envmon.columns import ReadingColumns, Row
from envmon.protocols.errors import RejectedMessage
from envmon.protocols.mqtt_json import decode_payload
from ingest.assemble import Assembler
from ingest.directory import DeviceDirectory, DeviceInfo
from ingest.plausible import RowCheck
from ingest.quarantine import QuarantineEntry
from ingest.rows import UnitTable, message_rows

NOW = datetime(2026, 11, 22, 4, 0, 30, tzinfo=UTC)
DEVICES = DeviceDirectory([DeviceInfo(n, f"MN{n}", frozenset(), "mqtt", None) for n in (1, 2, 3)])
UNITS = UnitTable(load_catalogue())
CHECK = RowCheck(load_catalogue())


@dataclass
class _Item:
    device: str | None
    payload: bytes
    received_at: datetime = NOW
    rows: list[Row] | None = None
    problems: list[QuarantineEntry] = field(default_factory=list)


def _msg(device: str = "MN1", seq: int = 1, values: object = None, when: str = "2026-11-22T04:00:00Z", **extra: object) -> bytes:
    body = {"device": device, "seq": seq, "time": when, "values": values or {"w20117": 42.5, "w01001": 7}}
    return json.dumps(body | extra).encode()


def _slow(item: _Item) -> tuple[list[Row], list[QuarantineEntry]]:
    """The full path, as ingest.pipeline.Pipeline._rows_of takes it."""
    if item.rows is not None:
        kept, refused = CHECK.split(item.rows)
        return kept, item.problems + [_entry(item, *r) for r in refused]
    try:
        msg = decode_payload(item.payload, now=item.received_at)
        rows, unknown = message_rows(msg, item.device or "", DEVICES, UNITS, item.received_at)
    except RejectedMessage as exc:
        return [], [_entry(item, exc.reason, exc.detail)]
    problems = list(msg.problems) + ([("unknown_pollutant", ",".join(unknown))] if unknown else [])
    kept, refused = CHECK.split(rows)
    return kept, [_entry(item, *p) for p in problems + refused]


def _entry(item: _Item, reason: str, detail: str) -> QuarantineEntry:
    return QuarantineEntry("mqtt", "t", item.device, reason, detail, item.payload)


def _reference(items: list[_Item]) -> tuple[list[tuple], list[str]]:  # type: ignore[type-arg]
    rows, reasons = [], []
    for item in items:
        item_rows, problems = _slow(item)
        rows += [tuple(r) for r in item_rows]
        reasons += [p.reason for p in problems]
    return rows, reasons


def _as_rows(c: ReadingColumns) -> list[tuple]:  # type: ignore[type-arg]
    def t(us: int) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)

    bases = ("instant", "minute", "hour", "day")
    return [
        (t(int(c.time_us[i])), int(c.device_id[i]), c.code_of(i), bases[int(c.basis[i])], float(c.value[i]),
         chr(int(c.flag[i])), int(c.seq[i]), t(int(c.received_us[i])))
        for i in range(len(c))
    ]  # fmt: skip


CASES = [
    pytest.param(_Item("MN1", _msg()), [], id="plain"),
    pytest.param(_Item("MN1", _msg(values={"w20117": [42.5, "C"], "w01001": 7})), [], id="flagged-value"),
    pytest.param(_Item("MN1", _msg(values={"w20117": 1, "w99999": 2})), ["unknown_pollutant"], id="unknown-code"),
    pytest.param(_Item("MN1", _msg(values={"B01": 3.0})), [], id="legacy-code"),
    pytest.param(_Item("MN9", _msg(device="MN9")), ["unknown_device"], id="unknown-device"),
    pytest.param(_Item("MN2", _msg(device="MN1")), ["topic_mismatch"], id="topic-mismatch"),
    pytest.param(_Item("MN1", _msg(when="2099-01-01T00:00:00Z")), ["time_in_future"], id="future"),
    pytest.param(_Item("MN1", _msg(when="1999-01-01T00:00:00Z")), ["invalid_time"], id="before-2000"),
    pytest.param(_Item("MN1", _msg(when="2026-11-22T04:00:00")), ["invalid_time"], id="naive-time"),
    pytest.param(_Item("MN1", _msg(when="2026-11-22T12:00:00+08:00")), [], id="offset-time"),
    pytest.param(_Item("MN1", _msg(seq=-1)), ["invalid_schema"], id="negative-seq"),
    pytest.param(_Item("MN1", _msg(values={"w20117": 1.5}).replace(b"1.5", b"1e999")), ["invalid_schema"], id="infinity"),
    pytest.param(_Item("MN1", b"{oops"), ["malformed_json"], id="malformed"),
    pytest.param(_Item("MN1", _msg(extra=1)), ["invalid_schema"], id="unknown-field"),
    pytest.param(_Item("MN1", b'{"device": "MN1", "seq": 1, "time": "2026-11-22T04:00:00Z", "values": {}}'),
                 ["invalid_schema"], id="no-values"),  # fmt: skip
    pytest.param(
        _Item("MN1", json.dumps({"device": "MN1", "samples": [
            {"seq": 5, "time": "2026-11-22T04:00:00Z", "values": {"w20117": 1}},
            {"seq": 6, "time": "2026-11-22T04:00:30Z", "values": {"w20117": 2}}]}).encode()),
        [], id="store-and-forward"),  # fmt: skip
    pytest.param(
        _Item("MN3", b"##frame", rows=[Row(NOW, 3, "w00000", "minute", 2.0, "N", 7, NOW)]), [], id="hj212-rows"
    ),
    # Poison: each must leave the fast path and be refused alone, its good neighbours kept.
    pytest.param(_Item("MN1", _msg(seq=2**63)), ["invalid_schema"], id="seq-2**63"),
    pytest.param(_Item("MN1", _msg(seq=2**63 - 1)), [], id="seq-int64-max"),
    pytest.param(_Item("MN1", _msg(values={"w20117": 1e300, "w01001": 7})), ["implausible_value"], id="1e300"),
    pytest.param(_Item("MN1", _msg(values={"w20117": -1e300, "w01001": 7})), ["implausible_value"], id="-1e300"),
    pytest.param(_Item("MN1", _msg(values={"w01001": 14.5, "w20117": 1})), ["implausible_value"], id="ph-15"),
    pytest.param(_Item("MN1", _msg(values={"w20117": -0.5, "w01001": 7})), [], id="small-negative-kept"),
    pytest.param(_Item("MN1", _msg(values={"zz\u0000x": 1, "w20117": 1})), ["invalid_text"], id="nul-in-code"),
    pytest.param(_Item("MN1", _msg(values={"w" * 40: 1, "w20117": 1})), ["invalid_text"], id="long-code"),
    pytest.param(_Item("MN1", _msg(values={"w20117": [1, "P"], "w01001": 7})), [], id="flag-p-kept"),
    pytest.param(_Item("MN1", _msg(values={"w20117": [1, "N\u0000"], "w01001": 7})), ["invalid_flag"], id="nul-flag"),
    pytest.param(_Item("MN1", _msg(values={"w20117": [1, "N\u0000"]})), ["invalid_flag"], id="only-value-bad"),
    pytest.param(_Item("MN1", _msg(device="MN1\u0000")), ["invalid_text"], id="nul-in-device"),
    pytest.param(_Item("MN1", _msg(device="M" * 65)), ["invalid_schema"], id="long-device"),
    pytest.param(_Item("MN1", _msg().replace(b"MN1", b"\\ud800")), ["malformed_json"], id="lone-surrogate"),
    pytest.param(_Item("MN3", b"##f", rows=[Row(NOW, 3, "w00000", "minute", 1e300, "N", 7, NOW)]),
                 ["implausible_value"], id="hj212-1e300"),  # fmt: skip
    pytest.param(_Item("MN3", b"##f", rows=[Row(NOW, 3, "w00000", "minute", 1.0, "N\x00", 7, NOW)]),
                 ["invalid_flag"], id="hj212-nul-flag"),  # fmt: skip
]


@pytest.mark.parametrize(("item", "reasons"), CASES)
def test_each_message_between_plain_neighbours_gives_what_the_full_decoder_gives(
    item: _Item, reasons: list[str]
) -> None:
    items = [_Item("MN2", _msg("MN2", 1)), item, _Item("MN3", _msg("MN3", 9))]
    got = Assembler(load_catalogue()).assemble(items, DEVICES.ids_by_mn, _slow)
    rows, expected_reasons = _reference(items)
    assert _as_rows(got.columns) == rows
    assert [q.reason for q in got.quarantine] == expected_reasons == reasons
    assert got.item_index.tolist() == sorted(got.item_index.tolist())


def test_plain_messages_never_take_the_full_path() -> None:
    items = [_Item(f"MN{n % 3 + 1}", _msg(f"MN{n % 3 + 1}", n)) for n in range(30)]

    def refuse(item: _Item) -> tuple[list[Row], list[QuarantineEntry]]:
        raise AssertionError("a plain message went down the slow path")

    got = Assembler(load_catalogue()).assemble(items, DEVICES.ids_by_mn, refuse)
    assert len(got.columns) == 60 and got.item_index.tolist() == [n // 2 for n in range(60)]
    assert got.columns.value[0] == pytest.approx(0.0425)  # Cr(VI): ug/L on the wire, mg/L stored
    assert np.all(got.columns.flag == ord("N")) and np.all(got.columns.basis == 0)


def test_a_batch_of_no_messages_is_empty() -> None:
    got = Assembler(load_catalogue()).assemble([], DEVICES.ids_by_mn, _slow)
    assert len(got.columns) == 0 and got.quarantine == []
