"""HJ 212 history gaps across a gateway restart: real PostgreSQL, the real gateway, a logger over TCP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import psycopg.conninfo

from envmon.protocols.hj212 import Message, decode_message, encode_message, format_cst, format_qn, parse_cp
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from ingest.gateway import Hj212Gateway
from ingest.history import HistoryMonitor, HistoryStore
from ingest.pipeline import Pipeline, PipelineConfig
from tests.ingest_helpers import registry_with, wait_for_count
from tests.patience import patience

LOGGER, PW = "310120HJ009W01", "654321"
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
pollutants = ["w20117", "w01001"]
reporting_interval_seconds = 60
""")
# Recent data times: windows older than what loggers keep are expired at a restart.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
M = timedelta(minutes=1)
AVG = "w20117-Avg=40.0,w20117-Min=39.0,w20117-Max=41.0,w20117-Flag=N;w01001-Avg=7.1,w01001-Flag=N"
RTD = "w01001-Rtd=7.2,w01001-Flag=N"
OPEN = "SELECT count(*) FROM hj212_history_requests WHERE closed_at IS NULL"


def upload(cn: str, when: datetime, values: str) -> bytes:
    cp = f"DataTime={format_cst(when)};{values}"
    return encode_message(Message(st="32", cn=cn, mn=LOGGER, cp=cp, qn=format_qn(when), pw=PW, flag=5))


@contextmanager
def running_gateway(database_url: str) -> Iterator[int]:
    """A pipeline and gateway as `envmon ingest` runs them; stopped (as a restart stops them) on exit."""
    pipeline = Pipeline(database_url, config=PipelineConfig(batch_max_seconds=0.01))
    stop_writer = threading.Event()
    writer = threading.Thread(target=pipeline.run, args=(stop_writer,), daemon=True)
    writer.start()
    assert pipeline.ready.wait(patience(10))
    gateway = Hj212Gateway(pipeline, port=0)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    server = threading.Thread(target=loop.run_until_complete, args=(gateway.run(stop),), daemon=True)
    server.start()
    listening = threading.Event()
    loop.call_soon_threadsafe(lambda: asyncio.ensure_future(_set_when(gateway.listening, listening)))
    assert listening.wait(patience(15)) and gateway.port is not None
    try:
        yield gateway.port
    finally:
        loop.call_soon_threadsafe(stop.set)
        server.join(15)
        stop_writer.set()
        writer.join(15)
        assert not server.is_alive() and not writer.is_alive()


async def _set_when(event: asyncio.Event, done: threading.Event) -> None:
    await event.wait()
    done.set()


def session(port: int, frames: list[bytes], until: int) -> list[Message]:
    """Connect as the logger, send `frames`, and read until `until` frames came back (replies and requests)."""

    async def run() -> list[Message]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        got: list[Message] = []
        try:
            for frame in frames:
                writer.write(frame)
            await writer.drain()
            while len(got) < until:
                got.append(decode_message(await asyncio.wait_for(reader.readuntil(b"\r\n"), 15)))
        finally:
            writer.close()
        return got

    return asyncio.run(run())


def history_requests(replies: list[Message]) -> list[tuple[str, datetime | None, datetime | None]]:
    found = []
    for r in replies:
        if r.cn in ("2051", "2061", "2031"):
            area = parse_cp(r.cp)
            found.append((r.cn, area.begin_time, area.end_time))
    return found


def setup_registry(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")


def test_a_gap_spanning_the_restart_is_requested_after_it_and_closed_when_filled(database_url: str) -> None:
    setup_registry(database_url)
    with running_gateway(database_url) as port:
        replies = session(port, [upload("2051", T0, AVG), upload("2051", T0 + M, AVG)], until=2)
        assert [r.cn for r in replies] == ["9014", "9014"]
    # The logger's minute data stopped after T0+1; ingest restarts; the logger comes back at T0+5.
    with running_gateway(database_url) as port:
        replies = session(port, [upload("2051", T0 + 5 * M, AVG)], until=2)
        assert history_requests(replies) == [("2051", T0 + 2 * M, T0 + 4 * M)], "the missed span, once"
        assert wait_for_count(database_url, OPEN, 1) == 1
        answer = [upload("2051", T0 + i * M, AVG) for i in (2, 3, 4, 3)]  # one minute sent twice
        session(port, answer, until=4)
        assert wait_for_count(database_url, "SELECT count(*) FROM hj212_history_requests WHERE outcome = 'filled'",
                              1) == 1
    with psycopg.connect(database_url) as conn:
        minutes = conn.execute("SELECT time, count(*) FROM readings WHERE basis = 'minute' AND pollutant = 'w01001' "
                               "GROUP BY time ORDER BY time").fetchall()
        row = conn.execute("SELECT basis, begin_time, end_time, attempts, outcome FROM hj212_history_requests"
                           ).fetchall()
    assert minutes == [(T0 + i * M, 1) for i in range(6)], "every minute stored once"
    assert row == [("minute", T0 + 2 * M, T0 + 4 * M, 1, "filled")]


def test_a_window_open_at_the_restart_is_asked_again_when_the_logger_reconnects(database_url: str) -> None:
    setup_registry(database_url)
    with running_gateway(database_url) as port:
        replies = session(port, [upload("2051", T0, AVG), upload("2051", T0 + 4 * M, AVG)], until=3)
        assert history_requests(replies) == [("2051", T0 + M, T0 + 3 * M)]
        # Part of the answer arrives, then the logger goes away and ingest restarts.
        session(port, [upload("2051", T0 + M, AVG)], until=1)
        assert wait_for_count(database_url, "SELECT count(*) FROM readings WHERE basis = 'minute'", 6) == 6
        assert wait_for_count(database_url, "SELECT count(*) FROM hj212_history_requests WHERE attempts = 1", 1) == 1
    with running_gateway(database_url) as port:
        # Any upload (here real-time data) is the logger's reconnection: what is still missing is asked for.
        replies = session(port, [upload("2011", T0 + 5 * M, RTD)], until=2)
        assert history_requests(replies) == [("2051", T0 + 2 * M, T0 + 3 * M)]
        session(port, [upload("2051", T0 + i * M, AVG) for i in (2, 3)], until=2)
        assert wait_for_count(database_url, "SELECT count(*) FROM hj212_history_requests WHERE outcome = 'filled'",
                              1) == 1
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT begin_time, end_time, attempts, outcome FROM hj212_history_requests").fetchall()
        stored = conn.execute("SELECT count(*), count(DISTINCT time) FROM readings WHERE basis = 'minute'").fetchone()
    assert row == [(T0 + M, T0 + 3 * M, 2, "filled")]
    assert stored == (10, 5)


def test_state_is_restored_on_an_upload_when_the_database_was_away_at_start(database_url: str) -> None:
    setup_registry(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO readings (time, device_id, pollutant, basis, value, seq) "
                     "SELECT t, id, 'w01001', 'minute', 7.0, 0 FROM devices, unnest(%s::timestamptz[]) AS t "
                     "WHERE mn = %s", [[T0, T0 + M], LOGGER])
    clock = [datetime.now(UTC)]
    store = HistoryStore(psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=1))
    monitor = HistoryMonitor(store, clock=lambda: clock[0])
    assert not monitor.restore() and not monitor.needs_restore(), "retried later, not on every upload"
    store._db._url = database_url  # the database is back (the store connects through envmon.db.Reconnecting)
    clock[0] += timedelta(seconds=10)
    assert monitor.needs_restore() and monitor.restore() and not monitor.needs_restore()
    requests = monitor.on_upload(LOGGER, "minute", T0 + 5 * M)
    assert [(r.cn, r.begin, r.end, r.attempt) for r in requests] == [("2051", T0 + 2 * M, T0 + 4 * M, 1)]
    monitor.close()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT begin_time, end_time, attempts, closed_at FROM hj212_history_requests").fetchall()
    assert rows == [(T0 + 2 * M, T0 + 4 * M, 1, None)]
