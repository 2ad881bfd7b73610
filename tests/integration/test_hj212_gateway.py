"""The HJ 212 gateway end to end: a TCP client speaking as a data logger, real PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from envmon.protocols.hj212 import Message, decode_message, encode_message, format_cst, format_qn
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from ingest.gateway import Hj212Gateway
from ingest.pipeline import Pipeline, PipelineConfig
from tests.ingest_helpers import registry_with, wait_for_count
from tests.patience import patience

LOGGER, PW = "310120HJ001W01", "654321"
REGISTRY = registry_with(f"""
[[devices]]
mn = "{LOGGER}"
site = "T-001"
point_kind = "outfall"
point_name_zh = "总排口"
point_name_en = "Outfall"
kind = "water_analyser"
transport = "hj212"
hj212_password = "{PW}"
system_code = "32"
pollutants = ["w20117", "w20116", "w01001"]
reporting_interval_seconds = 30
""")

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@dataclass
class Gateway:
    port: int
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event


@pytest.fixture
def gateway(database_url: str) -> Iterator[Gateway]:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
    pipeline = Pipeline(database_url, config=PipelineConfig(batch_max_seconds=0.01))
    stop_writer = threading.Event()
    writer = threading.Thread(target=pipeline.run, args=(stop_writer,), daemon=True)
    writer.start()
    assert pipeline.ready.wait(patience(10))
    gw = Hj212Gateway(pipeline, port=0)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    server = threading.Thread(target=loop.run_until_complete, args=(gw.run(stop),), daemon=True)
    server.start()
    deadline = datetime.now() + timedelta(seconds=10)
    while gw.port is None and datetime.now() < deadline:
        threading.Event().wait(0.02)
    assert gw.port is not None
    yield Gateway(gw.port, loop, stop)
    loop.call_soon_threadsafe(stop.set)
    server.join(10)
    stop_writer.set()
    writer.join(10)


def upload(cn: str, when: datetime, values: str, *, mn: str = LOGGER, pw: str = PW, flag: int = 5) -> bytes:
    cp = f"DataTime={format_cst(when)};{values}"
    return encode_message(Message(st="32", cn=cn, mn=mn, cp=cp, qn=format_qn(when), pw=pw, flag=flag))


RTD = "w20117-Rtd=42.5,w20117-Flag=N;w20116-Rtd=0.31,w20116-Flag=N;w01001-Rtd=7.2,w01001-Flag=N"


async def _exchange(port: int, chunks: list[bytes], replies: int, timeout: float = 10) -> list[Message]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0.01)
    got: list[Message] = []
    try:
        while len(got) < replies:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)
            got.append(decode_message(line))
    finally:
        writer.close()
    return got


def exchange(port: int, chunks: list[bytes], replies: int) -> list[Message]:
    return asyncio.run(_exchange(port, chunks, replies))


def test_realtime_upload_is_stored_and_answered_with_9014_after_commit(gateway: Gateway, database_url: str) -> None:
    frame = upload("2011", T0, RTD)
    replies = exchange(gateway.port, [frame], 1)
    assert [(r.cn, r.st, r.qn, r.mn) for r in replies] == [("9014", "91", format_qn(T0), LOGGER)]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT pollutant, basis, value, flag, time FROM readings ORDER BY pollutant").fetchall()
    assert rows == [
        ("w01001", "instant", 7.2, "N", T0),
        ("w20116", "instant", 0.31, "N", T0),
        ("w20117", "instant", pytest.approx(0.0425), "N", T0),  # 42.5 ug/L
    ]


def test_frames_split_across_reads_and_glued_together_with_garbage(gateway: Gateway, database_url: str) -> None:
    frames = [upload("2011", T0 + timedelta(seconds=30 * i), RTD) for i in range(3)]
    stream = b"noise" + frames[0] + frames[1][:20] + b"" + frames[1][20:] + b"\x00\xffjunk" + frames[2]
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    replies = exchange(gateway.port, chunks, 3)
    assert [r.cn for r in replies] == ["9014"] * 3
    assert wait_for_count(database_url, "SELECT count(*) FROM readings", 9) == 9
    assert wait_for_count(database_url, "SELECT count(*) FROM quarantine WHERE reason = 'hj212_garbage'", 2) == 2


@pytest.mark.parametrize(
    ("frame", "qn_rtn", "reason"),
    [
        pytest.param(upload("2011", T0, RTD, pw="000000"), "3", "wrong_password", id="wrong-password"),
        pytest.param(upload("2011", T0, RTD, mn="310120NOTREG"), "4", "unknown_device", id="unknown-mn"),
        pytest.param(upload("2011", T0, RTD)[:-6] + b"0000\r\n", "9", "hj212_crc", id="bad-crc"),
    ],
)
def test_refusals_get_9011_and_are_quarantined(
    gateway: Gateway, database_url: str, frame: bytes, qn_rtn: str, reason: str
) -> None:
    replies = exchange(gateway.port, [frame], 1)
    assert replies[0].cn == "9011" and replies[0].cp == f"QnRtn={qn_rtn}"
    assert wait_for_count(database_url, f"SELECT count(*) FROM quarantine WHERE reason = '{reason}'", 1) == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (0,)


def test_no_reply_when_the_logger_did_not_ask(gateway: Gateway, database_url: str) -> None:
    exchange(gateway.port, [upload("2011", T0, RTD, flag=4), upload("2011", T0 + timedelta(seconds=30), RTD)], 1)
    assert wait_for_count(database_url, "SELECT count(*) FROM readings", 6) == 6


def test_missing_minute_data_is_requested_with_a_history_request(gateway: Gateway, database_url: str) -> None:
    avg = "w20117-Avg=40.0,w20117-Min=39.0,w20117-Max=41.0,w20117-Flag=N"
    m = timedelta(minutes=1)
    replies = exchange(gateway.port, [upload("2051", T0, avg), upload("2051", T0 + 4 * m, avg)], 3)
    history = [r for r in replies if r.cn == "2051"]
    assert len(history) == 1
    assert history[0].cp == f"BeginTime={format_cst(T0 + m)};EndTime={format_cst(T0 + 3 * m)}"
    assert history[0].wants_reply and history[0].pw == PW
    assert wait_for_count(database_url, "SELECT count(*) FROM readings WHERE basis = 'minute'", 2) == 2


def test_unknown_codes_are_reported_and_known_ones_kept(gateway: Gateway, database_url: str) -> None:
    exchange(gateway.port, [upload("2011", T0, "w99999-Rtd=1.0,w99999-Flag=N;w01001-Rtd=7.0,w01001-Flag=N")], 1)
    assert wait_for_count(database_url, "SELECT count(*) FROM readings", 1) == 1
    assert wait_for_count(database_url, "SELECT count(*) FROM quarantine WHERE reason = 'hj212_partial'", 1) == 1


def test_a_logger_registered_after_ingest_started_is_accepted_at_once(gateway: Gateway, database_url: str) -> None:
    late = "310120HJ002W01"
    time.sleep(2.1)  # past the reload's rate limit: the registry was loaded when the pipeline started
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY.replace(LOGGER, late), "t"), actor="test")
    replies = exchange(gateway.port, [upload("2011", T0, RTD, mn=late)], 1)
    assert [r.cn for r in replies] == ["9014"], "the gateway reloads the registry for an MN it does not know"
