"""The nastiest messages found so far, through the whole pipeline (real Mosquitto and PostgreSQL).

Each one once stopped ingest or poisoned the data (issue 15 §1): a 2**63 seq, NUL in a pollutant code
or an HJ 212 flag, 1e300, NaN and Infinity literals, a lone surrogate, 10 MB strings, deep nesting, a
DataTime in the year 9999. Each must be quarantined with its reason, its good neighbours stored once,
and every thread of ingest alive afterwards.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import psycopg
import pytest

from envmon.columns import Row
from envmon.protocols.hj212 import Message, encode_message, format_cst, format_qn
from envmon.stack.mosquitto import MAX_PACKET_BYTES
from ingest import gateway as gateway_module
from ingest.batches import Inbound
from ingest.quarantine import QuarantineEntry
from tests.ingest_helpers import DEVICES, RunningIngest, payload, publish, wait_for_count
from tests.integration.test_hj212_gateway import LOGGER, PW, Gateway, exchange, gateway
from tests.mqtt_helpers import ProbeClient

__all__ = ["gateway"]  # the HJ 212 gateway fixture, shared with test_hj212_gateway

GOOD, POISON = DEVICES[2], DEVICES[3]
WHEN = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _json(values: object, *, seq: object = 1, device: str = POISON) -> bytes:
    return json.dumps({"device": device, "seq": seq, "time": WHEN.isoformat(), "values": values}).encode()


def _raw(values_text: bytes, *, seq: bytes = b"1") -> bytes:
    """A message whose values are written as given (JSON that json.dumps would not write)."""
    head = f'{{"device": "{POISON}", "seq": '.encode() + seq + f', "time": "{WHEN.isoformat()}", "values": '.encode()
    return head + values_text + b"}"


MQTT_CORPUS = [
    pytest.param(_json({"w20117": 1.0}, seq=2**63), "invalid_schema", 0, id="seq-2**63"),
    pytest.param(_json({"w20117": 1.0}, seq=2**64 + 5), "invalid_schema", 0, id="seq-beyond-uint64"),
    pytest.param(_json({"zz\u0000x": 1, "w20117": 2.0}), "invalid_text", 1, id="nul-in-pollutant-code"),
    pytest.param(_json({"w20117": [1.0, "N\u0000"], "w01001": 7.0}), "invalid_flag", 1, id="nul-in-flag"),
    pytest.param(_json({"w20117": 1e300, "w01001": 7.0}), "implausible_value", 1, id="1e300"),
    pytest.param(_json({"w20117": 2e9}), "implausible_value", 0, id="2e9-ug-per-litre"),
    pytest.param(_json({"w01001": 15.0, "w20117": 1.0}), "implausible_value", 1, id="ph-15"),
    pytest.param(_raw(b'{"w20117": NaN}'), "malformed_json", 0, id="nan-literal"),
    pytest.param(_raw(b'{"w20117": Infinity}'), "malformed_json", 0, id="infinity-literal"),
    pytest.param(_raw(b'{"w20117": -Infinity}'), "malformed_json", 0, id="minus-infinity-literal"),
    pytest.param(_raw(b'{"\\ud800": 1}'), "malformed_json", 0, id="lone-surrogate-code"),
    pytest.param(_raw(b'{"w20117": [1, "\\udfff"]}'), "malformed_json", 0, id="lone-surrogate-flag"),
    # The broker refuses packets over MAX_PACKET_BYTES (256 KB) itself; the largest it lets through:
    pytest.param(_json({"w20117": 1.0, "x": "y" * (MAX_PACKET_BYTES - 1024)}), "oversized", 0, id="broker-max-string"),
    pytest.param(_raw(b"[" * 30_000 + b"]" * 30_000), "invalid_schema", 0, id="deeply-nested"),
    pytest.param(_raw(b'{"w20117": 1}', seq=b"1" * 5000), "invalid_schema", 0, id="5000-digit-seq"),
]


@pytest.mark.parametrize(("body", "reason", "kept"), MQTT_CORPUS)
def test_mqtt_poison_is_quarantined_and_ingest_goes_on(
    ingest: RunningIngest, publisher: ProbeClient, ingest_db: str, body: bytes, reason: str, kept: int
) -> None:
    publish(publisher, GOOD, payload(GOOD, 1))
    publish(publisher, POISON, body)
    publish(publisher, GOOD, payload(GOOD, 2))
    assert wait_for_count(ingest_db, f"SELECT count(*) FROM quarantine WHERE reason = '{reason}'", 1) == 1
    good = f"SELECT count(*) FROM readings WHERE device_id = (SELECT id FROM devices WHERE mn = '{GOOD}')"
    assert wait_for_count(ingest_db, good, 8) == 8
    with psycopg.connect(ingest_db) as conn:
        poison = conn.execute(
            "SELECT count(*) FROM readings WHERE device_id = (SELECT id FROM devices WHERE mn = %s)", (POISON,)
        ).fetchone()
        raw, detail = conn.execute("SELECT raw, detail FROM quarantine").fetchone()  # type: ignore[misc]
        stats = conn.execute("SELECT max(abs(value)) FROM readings").fetchone()
    assert poison == (kept,), "the message's good values are kept, its bad ones are not"
    assert bytes(raw) == body[:4096] and detail
    assert stats is not None and stats[0] < 1e6  # nothing that overflows avg() later
    assert ingest.pipeline.vitals(0.0).dead_threads == ()
    # And it goes on: the next message is stored.
    publish(publisher, GOOD, payload(GOOD, 3))
    assert wait_for_count(ingest_db, good, 12) == 12


def test_an_unknown_flag_letter_is_stored_as_sent(ingest: RunningIngest, publisher: ProbeClient, ingest_db: str) -> None:
    publish(publisher, POISON, _json({"w20117": [40.0, "P"], "w01001": [7.0, "N"]}))
    assert wait_for_count(ingest_db, "SELECT count(*) FROM readings", 2) == 2
    with psycopg.connect(ingest_db) as conn:
        flags = conn.execute("SELECT pollutant, flag FROM readings ORDER BY pollutant").fetchall()
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    assert flags == [("w01001", "N"), ("w20117", "P")]


def _frame(cp: str, when: datetime) -> bytes:
    return encode_message(Message(st="32", cn="2011", mn=LOGGER, cp=cp, qn=format_qn(when), pw=PW, flag=5))


def _at(when: datetime, items: str) -> str:
    return f"DataTime={format_cst(when)};{items}"


HJ212_CORPUS = [
    pytest.param(_at(WHEN, "w20117-Rtd=42.5,w20117-Flag=N\x00;w01001-Rtd=7.2,w01001-Flag=N"), "hj212_partial", 1,
                 id="nul-in-flag"),
    pytest.param(_at(WHEN, "w20117-Rtd=1e300,w20117-Flag=N;w01001-Rtd=7.2,w01001-Flag=N"), "implausible_value", 1,
                 id="1e300"),
    pytest.param("DataTime=99991231235959;w01001-Rtd=7.2,w01001-Flag=N", "hj212_partial", 0, id="datatime-9999"),
    pytest.param("DataTime=19700101080000;w01001-Rtd=7.2,w01001-Flag=N", "hj212_partial", 0, id="clock-1970"),
    pytest.param("DataTime=20261301000000;w01001-Rtd=7.2,w01001-Flag=N", "hj212_invalid", 0, id="month-13"),
    pytest.param(_at(WHEN, "w01001-Rtd=NaN,w01001-Flag=N"), "hj212_invalid", 0, id="nan"),
    pytest.param(_at(WHEN, "zz\x00x-Rtd=1,w01001-Rtd=7.2"), "hj212_partial", 1, id="nul-in-code"),
]  # fmt: skip


@pytest.mark.parametrize(("cp", "reason", "kept"), HJ212_CORPUS)
def test_hj212_poison_is_quarantined_and_the_gateway_goes_on(
    gateway: Gateway, database_url: str, cp: str, reason: str, kept: int
) -> None:
    good = _frame(_at(WHEN + timedelta(seconds=30), "w01001-Rtd=7.1,w01001-Flag=N"), WHEN + timedelta(seconds=30))
    frame = _frame(cp, WHEN)
    # A partly kept poison frame is answered too, so the first 9014 may be its own: wait for the good
    # neighbour's row itself (acknowledged only once committed), never for a count of replies.
    exchange(gateway.port, [frame, good], 1)
    assert wait_for_count(database_url, f"SELECT count(*) FROM quarantine WHERE reason = '{reason}'", 1) >= 1
    assert wait_for_count(database_url, f"SELECT count(*) FROM readings WHERE time > '{WHEN.isoformat()}'", 1) >= 1
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT count(*) FROM readings WHERE time = %s", (WHEN,)).fetchone()
        neighbour = conn.execute("SELECT count(*) FROM readings WHERE time > %s", (WHEN,)).fetchone()
    assert stored == (kept,) and neighbour == (1,)
    # The same connection kind still works: another logger frame is answered and stored.
    later = WHEN + timedelta(seconds=60)
    assert [r.cn for r in exchange(gateway.port, [_frame(_at(later, "w01001-Rtd=7.0"), later)], 1)] == ["9014"]


@pytest.mark.parametrize(
    ("data_time", "stored_at"),
    [
        pytest.param(format_cst(WHEN) + "000", WHEN, id="17-digits-zero-ms"),
        pytest.param(format_cst(WHEN) + "250", WHEN + timedelta(milliseconds=250), id="17-digits"),
    ],
)
def test_hj212_data_time_with_milliseconds_is_stored(
    gateway: Gateway, database_url: str, data_time: str, stored_at: datetime
) -> None:
    frame = _frame(f"DataTime={data_time};w01001-Rtd=7.2,w01001-Flag=P", WHEN)
    assert [r.cn for r in exchange(gateway.port, [frame], 1)] == ["9014"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT time, flag FROM readings").fetchall() == [(stored_at, "P")]


def test_ten_megabytes_of_garbage_on_one_connection(gateway: Gateway, database_url: str) -> None:
    later = WHEN + timedelta(seconds=90)
    good = _frame(_at(later, "w01001-Rtd=7.0,w01001-Flag=N"), later)
    assert [r.cn for r in exchange(gateway.port, [b"\x00\xff##9999" + b"x" * 10_000_000 + b"\r\n", good], 1)] == [
        "9014"
    ]
    assert wait_for_count(database_url, "SELECT count(*) FROM readings", 1) == 1
    assert wait_for_count(database_url, "SELECT count(*) FROM quarantine WHERE transport = 'hj212'", 1) >= 1


def test_an_unexpected_error_on_one_message_quarantines_it_and_keeps_its_batch(
    ingest: RunningIngest, publisher: ProbeClient, ingest_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = ingest.pipeline
    real = pipeline._rows_of

    def bug_on_one_message(item: Inbound) -> tuple[list[Row], list[QuarantineEntry]]:
        if b"trigger" in item.payload:  # a bug that only this content reaches (not a refusal: a crash)
            raise OverflowError("a bug this message triggers")
        return real(item)

    monkeypatch.setattr(pipeline, "_rows_of", bug_on_one_message)
    trigger = _json({"w20117": [1.0, "C"], "trigger": 1.0})  # a flag: the full path
    for seq in range(1, 4):
        publish(publisher, GOOD, payload(GOOD, seq))
        publish(publisher, POISON, trigger)
    assert wait_for_count(ingest_db, "SELECT count(*) FROM quarantine WHERE reason = 'internal_error'", 3) == 3
    good = f"SELECT count(*) FROM readings WHERE device_id = (SELECT id FROM devices WHERE mn = '{GOOD}')"
    assert wait_for_count(ingest_db, good, 12) == 12
    assert pipeline.vitals(0.0).dead_threads == ()


def test_an_unexpected_error_on_one_frame_keeps_the_connection(
    gateway: Gateway, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count()
    real = gateway_module.message_readings

    def bug_on_first_frame(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == 0:
            raise ZeroDivisionError("a bug this frame triggers")
        return real(*args, **kwargs)

    monkeypatch.setattr(gateway_module, "message_readings", bug_on_first_frame)
    first, second = WHEN + timedelta(seconds=120), WHEN + timedelta(seconds=150)
    frames = [_frame(_at(t, "w01001-Rtd=7.0,w01001-Flag=N"), t) for t in (first, second)]
    replies = exchange(gateway.port, frames, 1)  # one connection: the second frame is answered on it
    assert [r.qn for r in replies] == [format_qn(second)]
    assert wait_for_count(database_url, "SELECT count(*) FROM quarantine WHERE reason = 'internal_error'", 1) == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT time FROM readings").fetchall() == [(second,)]
