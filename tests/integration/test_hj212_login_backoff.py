"""The HJ 212 gateway against password guessing: a real TCP client, the running gateway, real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from envmon.protocols.hj212 import Message, decode_message
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from ingest.gateway import Hj212Gateway
from ingest.hj212_guard import AuthPolicy
from ingest.pipeline import Pipeline, PipelineConfig
from tests.ingest_helpers import wait_for_count
from tests.integration.test_hj212_gateway import REGISTRY, RTD, T0, upload
from tests.patience import patience

BACKOFF_SECONDS = 3.0
POLICY = AuthPolicy(max_failures_per_connection=3, max_failures_per_address=5, backoff_seconds=BACKOFF_SECONDS)
WRONG = upload("2011", T0, RTD, pw="000000")


@dataclass
class Running:
    port: int
    pipeline: Pipeline


@pytest.fixture
def gateway(database_url: str) -> Iterator[Running]:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
    pipeline = Pipeline(database_url, config=PipelineConfig(batch_max_seconds=0.01))
    stop_writer = threading.Event()
    writer = threading.Thread(target=pipeline.run, args=(stop_writer,), daemon=True)
    writer.start()
    assert pipeline.ready.wait(patience(30))
    gw = Hj212Gateway(pipeline, port=0, auth=POLICY)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    server = threading.Thread(target=loop.run_until_complete, args=(gw.run(stop),), daemon=True)
    server.start()
    assert asyncio.run_coroutine_threadsafe(asyncio.wait_for(gw.listening.wait(), 30), loop).result(35) is True
    assert gw.port is not None
    yield Running(gw.port, pipeline)
    loop.call_soon_threadsafe(stop.set)
    server.join(10)
    stop_writer.set()
    writer.join(10)


async def _talk(port: int, data: bytes, timeout: float, replies: int | None) -> tuple[list[Message], bool]:
    """Send `data` at once; the replies read until the gateway closes (True), or `replies` came, or `timeout`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got: list[Message] = []
    try:
        while replies is None or len(got) < replies:
            got.append(decode_message(await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)))
    except (asyncio.IncompleteReadError, ConnectionError):
        return got, True  # EOF, or a reset: closed with what we sent still unread
    except TimeoutError:
        return got, False
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return got, False


def talk(port: int, data: bytes, timeout: float = 10, replies: int | None = None) -> tuple[list[Message], bool]:
    return asyncio.run(_talk(port, data, timeout, replies))


def sample(pipeline: Pipeline, name: str, labels: dict[str, str] | None = None) -> float:
    return pipeline.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def test_a_connection_is_closed_after_three_wrong_passwords(gateway: Running, database_url: str) -> None:
    replies, closed = talk(gateway.port, WRONG * 10)
    assert [r.cp for r in replies] == ["QnRtn=3"] * 3, "three refusals, then nothing more is read"
    assert closed, "the gateway closed the connection"
    assert wait_for_count(database_url, "SELECT count(*) FROM quarantine WHERE reason = 'wrong_password'", 3) == 3
    assert sample(gateway.pipeline, "envmon_ingest_hj212_auth_failures_total", {"reason": "wrong_password"}) == 3
    good, _ = talk(gateway.port, upload("2011", T0, RTD), replies=1)
    assert [r.cn for r in good] == ["9014"], "three failures close one connection; the address may still log in"


def test_an_address_that_keeps_failing_is_refused_at_once_then_readmitted(
    gateway: Running, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.gateway")
    talk(gateway.port, WRONG * 3)
    replies, closed = talk(gateway.port, WRONG * 3)
    blocked_at = time.monotonic()
    assert [r.cp for r in replies] == ["QnRtn=3"] * 2 and closed, "the fifth failure from the address blocks it"
    for _ in range(20):
        refused, closed = talk(gateway.port, upload("2011", T0, RTD))
        assert (refused, closed) == ([], True), "a blocked address is closed at once, even with the right PW"
    assert time.monotonic() - blocked_at < BACKOFF_SECONDS, "the machine was too slow to see the block"
    assert sample(gateway.pipeline, "envmon_ingest_hj212_refused_connections_total") == 20
    assert sample(gateway.pipeline, "envmon_ingest_hj212_address_blocks_total") == 1
    blocks = [r for r in caplog.records if "blocked for" in r.getMessage()]
    assert len(blocks) == 1 and blocks[0].levelno == logging.WARNING, "one log line per block window"
    deadline = time.monotonic() + patience(60)
    while (answer := talk(gateway.port, upload("2011", T0, RTD), replies=1)[0]) == [] and time.monotonic() < deadline:
        pass  # each refused attempt is a real connection closed by the gateway, not a sleep
    assert [r.cn for r in answer] == ["9014"], "the address is readmitted after its window"
    assert time.monotonic() - blocked_at >= BACKOFF_SECONDS - 0.1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM quarantine WHERE reason = 'wrong_password'").fetchone() == (5,)
