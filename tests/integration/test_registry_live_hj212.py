"""Registry changes reach the running HJ 212 gateway within a second: a changed password, a new logger, a
deactivated one (before, the gateway kept the device directory it had read up to 30 s earlier)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from ingest.gateway import Hj212Gateway
from ingest.pipeline import Pipeline, PipelineConfig
from tests.alert_helpers import wait_until
from tests.ingest_helpers import wait_for_count
from tests.integration.test_hj212_gateway import LOGGER, PW, REGISTRY, RTD, T0, exchange, upload
from tests.patience import patience

NEW_PW = "777888"
SECOND = "310120HJ002W01"


@dataclass
class Running:
    pipeline: Pipeline
    port: int


def store(database_url: str, text: str) -> None:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(text, "t"), actor="test")


@pytest.fixture
def running(database_url: str) -> Iterator[Running]:
    store(database_url, REGISTRY)
    pipeline = Pipeline(database_url, config=PipelineConfig(batch_max_seconds=0.01))
    stop_writer = threading.Event()
    writer = threading.Thread(target=pipeline.run, args=(stop_writer,), daemon=True)
    writer.start()
    assert pipeline.ready.wait(patience(10)) and pipeline.registry_watch.listening.wait(patience(10))
    gw = Hj212Gateway(pipeline, port=0)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    server = threading.Thread(target=loop.run_until_complete, args=(gw.run(stop),), daemon=True)
    server.start()
    assert wait_until(lambda: gw.port is not None, timeout=10)
    assert gw.port is not None
    yield Running(pipeline, gw.port)
    loop.call_soon_threadsafe(stop.set)
    server.join(10)
    stop_writer.set()
    writer.join(10)


def test_a_changed_password_is_used_at_once(running: Running, database_url: str) -> None:
    assert [r.cn for r in exchange(running.port, [upload("2011", T0, RTD)], 1)] == ["9014"]
    committed = time.monotonic()
    store(database_url, REGISTRY.replace(f'hj212_password = "{PW}"', f'hj212_password = "{NEW_PW}"'))
    assert wait_until(lambda: running.pipeline.directory.get(LOGGER).hj212_password == NEW_PW, timeout=5)  # type: ignore[union-attr]
    print(f"registry commit -> gateway {(time.monotonic() - committed) * 1000:.0f} ms")
    later = T0.replace(minute=1)
    assert [r.cn for r in exchange(running.port, [upload("2011", later, RTD, pw=NEW_PW)], 1)] == ["9014"]
    refused = exchange(running.port, [upload("2011", later.replace(minute=2), RTD, pw=PW)], 1)
    assert refused[0].cn == "9011" and refused[0].cp == "QnRtn=3"


def test_a_logger_added_while_running_is_stored(running: Running, database_url: str) -> None:
    store(database_url, REGISTRY + REGISTRY[REGISTRY.index("[[devices]]"):].replace(LOGGER, SECOND))
    assert wait_until(lambda: running.pipeline.directory.get(SECOND) is not None, timeout=5)
    assert [r.cn for r in exchange(running.port, [upload("2011", T0, RTD, mn=SECOND)], 1)] == ["9014"]
    assert wait_for_count(database_url, "SELECT count(*) FROM readings", 3) == 3


def test_a_deactivated_logger_is_refused_at_once(running: Running, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE devices SET active = false WHERE mn = %s", (LOGGER,))
    assert wait_until(lambda: running.pipeline.directory.get(LOGGER) is None, timeout=5)
    refused = exchange(running.port, [upload("2011", T0, RTD)], 1)
    assert refused[0].cn == "9011" and refused[0].cp == "QnRtn=4"
