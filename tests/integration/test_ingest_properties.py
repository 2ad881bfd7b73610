"""Property: whatever a device sends, ingest stays alive, stores every good neighbour exactly once, and
quarantines what it cannot store (issue 15 §1). Arbitrary JSON and bytes over MQTT, arbitrary bytes
and frames over HJ 212 TCP, through the whole pipeline against the real broker and database.

Examples are few and derandomized so the run is short and repeatable on a busy 2-core machine; the
worst cases found so far are plain regression tests in test_ingest_poison.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envmon.protocols.errors import RejectedMessage
from envmon.protocols.hj212 import Message, decode_message, encode_message, format_cst, format_qn
from envmon.protocols.hj212.crc import crc_hex
from envmon.protocols.mqtt_json import decode_payload
from tests.ingest_helpers import DEVICES, RunningIngest, payload, publish
from tests.integration.test_hj212_gateway import LOGGER, PW, Gateway, gateway
from tests.mqtt_helpers import ProbeClient
from tests.patience import patience

__all__ = ["gateway"]

GOOD, POISON = DEVICES[2], DEVICES[3]
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
PROPERTY = settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# JSON as json.dumps writes it from any Python value: unbounded integers, NaN and Infinity, lone
# surrogates (written as \ud800 escapes), nesting.
_TEXT = st.text(st.characters(exclude_categories=()), max_size=10)
_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_JSON = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                     max_leaves=10)
_VALUE = st.floats() | st.integers() | st.tuples(st.floats() | st.integers(), _TEXT | st.sampled_from("NPTX"))
_CODES = st.sampled_from(["w20117", "w01001", "w00000", "w99999", "zz\x00x", "", "w20117 "]) | _TEXT


def _base(seq: int) -> dict[str, object]:
    return {"device": POISON, "seq": seq, "time": (START + timedelta(seconds=seq)).isoformat(),
            "values": {"w20117": 40.0}}


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A good message with one field replaced by anything, or arbitrary values."""
    body = _base(draw(st.integers(0, 10_000)))
    key = draw(st.sampled_from(["device", "seq", "time", "values", "samples", "extra"]))
    body[key] = draw(_JSON | st.dictionaries(_CODES, _VALUE, max_size=3))
    return json.dumps(body).encode()


MQTT_MESSAGES = st.lists(
    _JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=120) | _mutated(), min_size=1, max_size=3
)


def _refused(body: bytes) -> bool:
    """What the reference (the full decoder alone) says: this message cannot be stored as a whole."""
    try:
        return decode_payload(body, now=datetime.now(UTC)).device != POISON
    except RejectedMessage:
        return True


def _wait(check: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + patience(timeout)
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _quarantined_raws(url: str) -> set[bytes]:
    with psycopg.connect(url) as conn:
        return {bytes(r[0]) for r in conn.execute("SELECT raw FROM quarantine").fetchall()}


def _readings_of(url: str, mn: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM readings WHERE device_id = (SELECT id FROM devices WHERE mn = %s)", (mn,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_mqtt_arbitrary_messages(ingest: RunningIngest, publisher: ProbeClient, ingest_db: str) -> None:
    seqs = count(1)
    good = 0

    @PROPERTY
    @given(MQTT_MESSAGES)
    def check(bodies: list[bytes]) -> None:
        nonlocal good
        for body in bodies:
            publish(publisher, GOOD, payload(GOOD, next(seqs)))
            publish(publisher, POISON, body)
            good += 1
        publish(publisher, GOOD, payload(GOOD, next(seqs)))
        good += 1
        assert _wait(lambda: _readings_of(ingest_db, GOOD) >= 4 * good), "a good neighbour was lost"
        refused = [b[:4096] for b in bodies if _refused(b)]
        assert _wait(lambda: set(refused) <= _quarantined_raws(ingest_db)), "a refused message was not quarantined"
        assert _readings_of(ingest_db, GOOD) == 4 * good, "a good neighbour was stored twice"
        assert ingest.pipeline.vitals(time.monotonic()).dead_threads == ()
        assert ingest.thread.is_alive()

    check()


def _framed(segment: bytes) -> bytes:
    """Any bytes as an HJ 212 frame with the right length and CRC, so they reach the decoder."""
    body = segment[:1024]
    return b"##%04d" % len(body) + body + crc_hex(body).encode() + b"\r\n"


_CP_ALPHABET = "w0123456789-RtdAvgFlagNPTX=,;.eE+ \x00DataTime"


@st.composite
def _logger_upload(draw: st.DrawFn) -> bytes:
    """A frame from the registered logger with the right password and an arbitrary data area."""
    when = START + timedelta(seconds=draw(st.integers(0, 3600)))
    cp = draw(st.text(_CP_ALPHABET, max_size=80) | st.just(f"DataTime={format_cst(when)};w01001-Rtd=1e300"))
    segment = f"QN={format_qn(when)};ST=32;CN=2011;PW={PW};MN={LOGGER};Flag=5;CP=&&{cp}&&"
    return _framed(segment.encode("latin-1"))


HJ212_PAYLOADS = st.lists(
    st.binary(min_size=1, max_size=200)
    | st.binary(max_size=120).map(lambda b: b"##" + b)
    | st.binary(max_size=200).map(_framed)
    | _logger_upload(),
    min_size=1,
    max_size=3,
)


async def _send_alone(port: int, data: bytes) -> str:
    """Send on a connection of its own and close it; the peer name the gateway logs it under."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    host, local_port = writer.get_extra_info("sockname")[:2]
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    return f"{host}:{local_port}"


async def _good_upload(port: int, when: datetime) -> str:
    """A good upload on a new connection; returns the reply's CN once it came (after the commit)."""
    cp = f"DataTime={format_cst(when)};w01001-Rtd=7.1,w01001-Flag=N"
    frame = encode_message(Message(st="32", cn="2011", mn=LOGGER, cp=cp, qn=format_qn(when), pw=PW, flag=5))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(frame)
        return decode_message(await asyncio.wait_for(reader.readuntil(b"\r\n"), 15)).cn
    finally:
        writer.close()


def _outcome(url: str, peer: str) -> int:
    """Quarantine rows from this connection, plus readings stored from it (any upload of the logger)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM quarantine WHERE source = %s", (peer,)).fetchone()
    return int(row[0]) if row else 0


def test_hj212_arbitrary_bytes_and_frames(gateway: Gateway, database_url: str) -> None:
    goods = count(1)

    @PROPERTY
    @given(HJ212_PAYLOADS)
    def check(payloads: list[bytes]) -> None:
        before = _readings_of(database_url, LOGGER)
        peers = [asyncio.run(_send_alone(gateway.port, p)) for p in payloads]
        when = START - timedelta(minutes=next(goods))  # before every fuzzed DataTime: never collides
        assert asyncio.run(_good_upload(gateway.port, when)) == "9014", "the gateway stopped answering"
        with psycopg.connect(database_url) as conn:
            stored = conn.execute("SELECT count(*) FROM readings WHERE time = %s", (when,)).fetchone()
        assert stored == (1,), "the good upload was not stored exactly once"
        # Every byte sent ends in quarantine, unless it was a good upload whose readings were stored.
        for peer in peers:
            assert _wait(lambda p=peer: _outcome(database_url, p) > 0 or _readings_of(database_url, LOGGER) > before + 1)  # type: ignore[misc]

    check()
