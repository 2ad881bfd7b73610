"""Upstream forwarding end to end: envmon's own HJ 212 gateway is the upstream (real PostgreSQL, real TCP)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from envmon.catalogue import load_catalogue
from envmon.db import Backoff
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from envmon_app.cli import main
from ingest.forward import queue
from ingest.forward.config import DeviceRoute, TargetConfig, store_targets
from ingest.forward.frames import QnClock, plan_frames
from ingest.forward.sender import SenderConfig
from ingest.forward.service import ForwardService, read_status, serve_http
from ingest.gateway import Hj212Gateway
from ingest.pipeline import Pipeline, PipelineConfig
from tests.conftest import MIGRATIONS
from tests.ingest_helpers import registry_with
from tests.patience import patience

LOCAL, UPSTREAM, UP_PW = "FWD-LOCAL-01", "UPMN000000000001", "654321"
POLLUTANTS = ("w01001", "w20116")
REGISTRY = registry_with(f"""
[[devices]]
mn = "{LOCAL}"
site = "T-001"
point_kind = "outfall"
point_name_zh = "总排口"
point_name_en = "Outfall"
kind = "water_analyser"
transport = "mqtt"
system_code = "32"
pollutants = {list(POLLUTANTS)!r}
reporting_interval_seconds = 30

[[devices]]
mn = "{UPSTREAM}"
site = "T-001"
point_kind = "outfall"
point_name_zh = "上级平台看到的总排口"
point_name_en = "Outfall as the upstream knows it"
kind = "water_analyser"
transport = "hj212"
hj212_password = "{UP_PW}"
system_code = "32"
pollutants = {list(POLLUTANTS)!r}
reporting_interval_seconds = 30
""").replace("['", '["').replace("']", '"]').replace("', '", '", "')

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
FAST = SenderConfig(window=4, poll_seconds=0.05, ack_timeout_seconds=2.0, connect_timeout_seconds=1.0,
                    backoff=Backoff(first_seconds=0.1, max_seconds=0.5))


@dataclass
class Upstream:
    """envmon's HJ 212 gateway with its own pipeline, startable again on the port it had."""

    database_url: str
    port: int = 0
    duplicates: float = 0.0
    _stops: list[tuple[asyncio.AbstractEventLoop, asyncio.Event, threading.Thread, threading.Event,
                       threading.Thread, Pipeline]] = field(default_factory=list)

    def start(self) -> None:
        pipeline = Pipeline(self.database_url, config=PipelineConfig(batch_max_seconds=0.01))
        stop_writer = threading.Event()
        writer = threading.Thread(target=pipeline.run, args=(stop_writer,), daemon=True)
        writer.start()
        assert pipeline.ready.wait(patience(10))
        gateway = Hj212Gateway(pipeline, port=self.port)
        loop, stop = asyncio.new_event_loop(), asyncio.Event()
        server = threading.Thread(target=loop.run_until_complete, args=(gateway.run(stop),), daemon=True)
        server.start()
        deadline = time.monotonic() + patience(10)
        while gateway.port is None and time.monotonic() < deadline:
            threading.Event().wait(0.02)
        assert gateway.port is not None
        self.port = gateway.port
        self._stops.append((loop, stop, server, stop_writer, writer, pipeline))

    def stop(self) -> None:
        loop, stop, server, stop_writer, writer, pipeline = self._stops.pop()
        loop.call_soon_threadsafe(stop.set)
        server.join(10)
        stop_writer.set()
        writer.join(10)
        self.duplicates += pipeline.metrics.readings_duplicate._value.get()

    def close(self) -> None:
        while self._stops:
            self.stop()


@pytest.fixture
def upstream(database_url: str) -> Iterator[Upstream]:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
    up = Upstream(database_url)
    up.start()
    yield up
    up.close()


@pytest.fixture
def forwarder(upstream: Upstream, database_url: str) -> Iterator[ForwardService]:
    target = TargetConfig("province", "127.0.0.1", upstream.port, "2017",
                          (DeviceRoute(LOCAL, UPSTREAM, UP_PW, ("instant", "minute")),))
    with psycopg.connect(database_url) as conn:
        store_targets(conn, [target])
    service = ForwardService(database_url, config=FAST)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    yield service
    stop.set()
    thread.join(15)


def value_of(i: int, n: int) -> float:
    """A distinct, plausible value (pH stays within 0..14) for the i-th time of the n-th pollutant."""
    return 7.0 + i / 8 + n / 100


def store_local(database_url: str, first: int, count: int, *, basis: str = "instant") -> None:
    """Readings of the local device committed as ingest commits them (one transaction per call)."""
    with psycopg.connect(database_url) as conn:
        device = conn.execute("SELECT id FROM devices WHERE mn = %s", (LOCAL,)).fetchone()
        assert device is not None
        for i in range(first, first + count):
            for n, pollutant in enumerate(POLLUTANTS):
                conn.execute(
                    "INSERT INTO readings (time, device_id, pollutant, basis, value, flag, seq)"
                    " VALUES (%s, %s, %s, %s, %s, 'N', %s)",
                    (T0 + timedelta(seconds=30 * i), device[0], pollutant, basis, value_of(i, n), i),
                )


def upstream_rows(database_url: str) -> list[tuple[datetime, str, str, float, datetime]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT r.time, r.pollutant, r.basis, r.value, r.received_at FROM readings r"
            " JOIN devices d ON d.id = r.device_id WHERE d.mn = %s ORDER BY r.time, r.pollutant", (UPSTREAM,)
        ).fetchall()


def wait_until_forwarded(database_url: str, expected_rows: int, timeout_seconds: float = 60) -> None:
    deadline = time.monotonic() + patience(timeout_seconds)
    while time.monotonic() < deadline:
        status = read_status(database_url)[0]
        if status.backlog_rows == 0 and len(upstream_rows(database_url)) >= expected_rows:
            return
        threading.Event().wait(0.1)
    with psycopg.connect(database_url) as conn:
        quarantined = conn.execute("SELECT reason, detail FROM quarantine").fetchall()
    raise AssertionError(f"not forwarded in time: {read_status(database_url)}, "
                         f"{len(upstream_rows(database_url))} of {expected_rows} rows upstream: "
                         f"{[r[:2] for r in upstream_rows(database_url)]}; quarantined: {quarantined}")


def wait_for_status(database_url: str, condition: Callable[[queue.TargetStatus], bool],
                    timeout_seconds: float = 30) -> queue.TargetStatus:
    """The first target's status once `condition` holds (the sender writes it just after the event)."""
    deadline = time.monotonic() + patience(timeout_seconds)
    status = read_status(database_url)[0]
    while not condition(status) and time.monotonic() < deadline:
        threading.Event().wait(0.05)
        status = read_status(database_url)[0]
    assert condition(status), status
    return status


def expected_rows(count: int, basis: str = "instant") -> list[tuple[datetime, str, str, float]]:
    return [(T0 + timedelta(seconds=30 * i), p, basis, value_of(i, n))
            for i in range(count) for n, p in enumerate(POLLUTANTS)]


def assert_in_order(rows: list[tuple[datetime, str, str, float, datetime]]) -> None:
    """Ordered by data time, the upstream stored them in non-decreasing receive time: sent in queue order."""
    received = [r[4] for r in rows]
    assert received == sorted(received)


def test_readings_are_forwarded_once_in_order_and_acknowledged(
    upstream: Upstream, forwarder: ForwardService, database_url: str
) -> None:
    store_local(database_url, 0, 10)
    wait_until_forwarded(database_url, 20)
    rows = upstream_rows(database_url)
    assert [r[:4] for r in rows] == expected_rows(10)
    assert_in_order(rows)
    # What the dashboard shows (migration 0031): the service's own state, written as it happens.
    shown = read_status(database_url)[0]
    assert (shown.connected, shown.sent_frames, shown.resent_frames, shown.last_error) == (True, 10, 0, None)
    assert shown.reported_at is not None and shown.state_since is not None
    upstream.stop()
    assert upstream.duplicates == 0
    status = read_status(database_url)[0]
    assert (status.backlog_rows, status.acked_frames) == (0, 10)
    metrics = forwarder.metrics
    assert metrics.acked.labels("province")._value.get() == 10
    assert metrics.resent.labels("province")._value.get() == 0


def test_metrics_and_status_show_backlog_and_lag_per_target(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
        store_targets(conn, [TargetConfig("province", "127.0.0.1", 9, "2017",
                                          (DeviceRoute(LOCAL, UPSTREAM, UP_PW, ("instant",)),))])
        conn.execute("UPDATE forward_targets SET enabled = true")
    store_local(database_url, 0, 3)
    with psycopg.connect(database_url) as conn:  # queued a minute ago: the lag is at least that
        conn.execute("UPDATE forward_queue SET queued_at = now() - interval '60 seconds'")
    service = ForwardService(database_url, config=FAST)  # not running: nothing is sent
    server = serve_http(service, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
        status = json.loads(urllib.request.urlopen(f"{base}/status", timeout=10).read())
    finally:
        server.shutdown()
    assert 'envmon_forward_backlog_readings{target="province"} 6.0' in metrics
    lag = next(line for line in metrics.splitlines() if line.startswith('envmon_forward_lag_seconds{target="province"}'))
    assert float(lag.split()[-1]) >= 60
    assert status[0]["target"] == "province" and status[0]["backlog_readings"] == 6
    assert status[0]["lag_seconds"] >= 60


def test_unrouted_basis_and_devices_are_not_queued(upstream: Upstream, forwarder: ForwardService,
                                                    database_url: str) -> None:
    store_local(database_url, 0, 2, basis="hour")  # the route forwards instant and minute data only
    store_local(database_url, 0, 1, basis="minute")
    wait_until_forwarded(database_url, 2)
    assert [r[:4] for r in upstream_rows(database_url)] == expected_rows(1, "minute")


def test_upstream_down_for_a_while_loses_nothing_and_sends_nothing_twice_beyond_the_window(
    upstream: Upstream, forwarder: ForwardService, database_url: str
) -> None:
    store_local(database_url, 0, 5)
    wait_until_forwarded(database_url, 10)
    upstream.stop()
    store_local(database_url, 5, 20)  # the upstream is away: these wait in the queue
    deadline = time.monotonic() + patience(30)
    while forwarder.senders[0].connected.is_set() and time.monotonic() < deadline:
        threading.Event().wait(0.05)
    assert not forwarder.senders[0].connected.is_set(), "the sender did not notice the upstream went away"
    assert read_status(database_url)[0].backlog_rows == 40
    lost = wait_for_status(database_url, lambda s: not s.connected and s.last_error is not None)
    assert f"127.0.0.1:{upstream.port}" in str(lost.last_error) and lost.last_error_at is not None
    upstream.start()  # same port
    wait_until_forwarded(database_url, 50)
    rows = upstream_rows(database_url)
    assert [r[:4] for r in rows] == expected_rows(25)
    assert_in_order(rows)
    upstream.stop()
    # Only frames in flight when the upstream stopped may come again (same QN): at most the window.
    assert upstream.duplicates <= FAST.window * len(POLLUTANTS)
    assert forwarder.metrics.acked.labels("province")._value.get() == 25
    # The frames written into the dead connection went again on the new one, with their QN.
    assert forwarder.metrics.resent.labels("province")._value.get() >= 1
    back = read_status(database_url)[0]
    assert back.resent_frames == forwarder.metrics.resent.labels("province")._value.get()
    # The last error stays shown after the recovery (a later refused reconnect may have replaced the first one).
    assert str(back.last_error).startswith(f"upstream 127.0.0.1:{upstream.port}")


def _queue_count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM forward_queue").fetchone()
    assert row is not None
    return int(row[0])


def test_queue_is_written_in_the_readings_transaction_and_never_twice(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
        store_targets(conn, [TargetConfig("province", "127.0.0.1", 9, "2017",
                                          (DeviceRoute(LOCAL, UPSTREAM, UP_PW, ("instant",)),))])
    insert = ("INSERT INTO readings (time, device_id, pollutant, basis, value, flag, seq)"
              " SELECT %s, id, 'w01001', 'instant', 7.0, 'N', 1 FROM devices WHERE mn = %s ON CONFLICT DO NOTHING")
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            conn.execute(insert, (T0, LOCAL))
            assert _queue_count(conn) == 1  # same transaction: committed together or not at all
        conn.execute(insert, (T0, LOCAL))  # redelivery: the unique key keeps it out, and out of the queue
        conn.commit()
        assert _queue_count(conn) == 1
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute(insert.replace(" ON CONFLICT DO NOTHING", ""), (T0 + timedelta(seconds=30), LOCAL))
            conn.execute(insert.replace(" ON CONFLICT DO NOTHING", ""), (T0 + timedelta(seconds=30), LOCAL))
        assert _queue_count(conn) == 1  # the refused batch took its queue row with it
        conn.execute(insert, (T0 + timedelta(seconds=60), UPSTREAM))  # not routed
        store_targets(conn, [])  # the target left the file: disabled, queue kept
        conn.execute(insert, (T0 + timedelta(seconds=90), LOCAL))
        conn.commit()
        assert _queue_count(conn) == 1
        assert [(s.name, s.enabled, s.backlog_rows) for s in read_status(database_url)] == [("province", False, 1)]


def test_cli_loads_the_file_and_shows_status(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVMON_STATE_DIR", str(tmp_path))
    file = tmp_path / "forward.toml"
    file.write_text(f'[[targets]]\nname = "province"\nhost = "127.0.0.1"\nport = 9\n[[targets.devices]]\n'
                    f'mn = "{LOCAL}"\nupstream_mn = "{UPSTREAM}"\nupstream_pw = "{UP_PW}"\ndata = ["realtime"]\n',
                    encoding="utf-8")
    assert main(["forward", "load", str(file)]) == 0
    store_local(database_url, 0, 2)
    capsys.readouterr()
    assert main(["forward", "status", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["target"], row["upstream"], row["backlog_readings"], row["enabled"]) == (
        "province", "127.0.0.1:9", 4, True)
    assert main(["forward", "status"]) == 0
    assert "province" in capsys.readouterr().out


def test_a_restarted_forwarder_resends_planned_frames_with_their_qn(upstream: Upstream, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        store_targets(conn, [TargetConfig("province", "127.0.0.1", upstream.port, "2017",
                                          (DeviceRoute(LOCAL, UPSTREAM, UP_PW, ("instant",)),))])
    store_local(database_url, 0, 3)
    with psycopg.connect(database_url, autocommit=True) as conn:  # a forwarder planned the first time, then died
        [target] = queue.load_targets(conn)
        routes = queue.load_routes(conn, target.id)
        planned = plan_frames(queue.new_rows(conn, target.id, 2), routes, "2017", load_catalogue(),
                              QnClock(lambda: datetime.now(UTC)))
        queue.mark_planned(conn, target.id, planned, datetime.now(UTC))
    service = ForwardService(database_url, config=FAST)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until_forwarded(database_url, 6)
    finally:
        stop.set()
        thread.join(15)
    assert [r[:4] for r in upstream_rows(database_url)] == expected_rows(3)
    assert service.metrics.resent.labels("province")._value.get() == 1
    assert service.metrics.sent.labels("province")._value.get() == 2
    shown = read_status(database_url)[0]
    assert (shown.resent_frames, shown.sent_frames, shown.connected) == (1, 2, False)  # stopped: disconnected


def test_cli_refuses_a_missing_file_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["forward", "load", str(tmp_path / "absent.toml")]) == 2
    assert "cannot read the forwarding file" in capsys.readouterr().err


def forwarding_work(database_url: str, mn: str, second: int) -> tuple[int, int]:
    """(calls of forward_enqueue, queue rows) for one insert of two readings of device mn at T0 + second."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SET track_functions = 'pl'")
        before = conn.execute("SELECT count(*) FROM forward_queue").fetchone()
        conn.execute(
            "INSERT INTO readings (time, device_id, pollutant, basis, value, flag, seq)"
            " SELECT %s, d.id, p, 'instant', 1.0, 'N', %s FROM devices d, unnest(%s::text[]) p WHERE d.mn = %s",
            (T0 + timedelta(seconds=second), second, list(POLLUTANTS), mn),
        )
        calls = conn.execute(
            "SELECT coalesce(pg_stat_get_xact_function_calls('forward_enqueue'::regproc), 0)"
        ).fetchone()
        after = conn.execute("SELECT count(*) FROM forward_queue").fetchone()
    assert calls is not None and before is not None and after is not None
    return int(calls[0]), int(after[0]) - int(before[0])


def has_readings_trigger(database_url: str) -> bool:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT 1 FROM pg_trigger WHERE tgrelid = 'readings'::regclass AND tgname = 'readings_forward'"
        ).fetchone() is not None


def route_local(database_url: str, *, enabled: bool = True) -> None:
    """Forward LOCAL to one target (enabled), or load an empty file (every target disabled)."""
    targets = [TargetConfig("province", "127.0.0.1", 9, "2017", (DeviceRoute(LOCAL, UPSTREAM, UP_PW, ("instant",)),))]
    with psycopg.connect(database_url) as conn:
        store_targets(conn, targets if enabled else [])


def test_readings_make_forwarding_work_only_while_a_route_exists(database_url: str) -> None:
    """Issue 20: without routes the readings trigger is absent (no transition table, no per-row call)."""
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
    assert not has_readings_trigger(database_url)
    assert forwarding_work(database_url, LOCAL, 0) == (0, 0)

    route_local(database_url)
    assert has_readings_trigger(database_url)
    calls, queued = forwarding_work(database_url, LOCAL, 30)
    assert calls >= 1 and queued == len(POLLUTANTS)

    route_local(database_url, enabled=False)
    assert not has_readings_trigger(database_url)
    assert forwarding_work(database_url, LOCAL, 60) == (0, 0)


def _swap_in_timescaledb_variants(conn: psycopg.Connection) -> None:
    """0026's and 0029's TimescaleDB variants, run on this server in place of whatever it has."""
    conn.execute("DROP TRIGGER IF EXISTS readings_forward ON readings")
    conn.execute("DROP FUNCTION forward_routing_changed(), forward_sync_readings_trigger(), forward_enqueue() CASCADE")
    conn.execute("DROP TABLE forward_progress, forward_queue, forward_routes, forward_targets")
    for name in ("0026_forwarding", "0029_forward_trigger_while_routed"):
        conn.execute((MIGRATIONS / f"{name}.timescaledb.sql").read_text(encoding="utf-8"))  # type: ignore[arg-type]


def test_timescaledb_variant_queues_the_same_rows(database_url: str) -> None:
    """The row-level trigger of the TimescaleDB variants, run on this server (plain in CI) in place of its own."""
    with psycopg.connect(database_url) as conn:
        _swap_in_timescaledb_variants(conn)
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
        store_targets(conn, [TargetConfig("province", "127.0.0.1", 9, "2017",
                                          (DeviceRoute(LOCAL, UPSTREAM, UP_PW, ("instant",)),))])
    store_local(database_url, 0, 2)
    store_local(database_url, 0, 1, basis="hour")
    with psycopg.connect(database_url) as conn:
        queued = conn.execute("SELECT time, pollutant, basis, value FROM forward_queue ORDER BY id").fetchall()
    assert queued == expected_rows(2)


def test_timescaledb_variant_calls_nothing_for_devices_nobody_forwards(database_url: str) -> None:
    """Its WHEN clause lists the routed devices: other devices' readings never reach the PL/pgSQL function."""
    with psycopg.connect(database_url) as conn:
        _swap_in_timescaledb_variants(conn)
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
    assert not has_readings_trigger(database_url)
    route_local(database_url)
    assert forwarding_work(database_url, UPSTREAM, 0) == (0, 0)
    assert forwarding_work(database_url, LOCAL, 0) == (len(POLLUTANTS), len(POLLUTANTS))
    route_local(database_url, enabled=False)
    assert not has_readings_trigger(database_url)
    assert forwarding_work(database_url, LOCAL, 30) == (0, 0)
