"""Ingest health tells the truth (issue 15 §2), and no content stops a committer (§1).

Against the real broker and database: a dead thread, stalled acknowledgements and a database that
stays away each turn /healthz to 503 naming the check; a dead thread also makes the component fail,
so the process exits non-zero. A batch the database refuses for its content is split to the item.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pytest
from psycopg import sql

from envmon.columns import ReadingColumns, Row
from envmon.errors import ComponentError
from envmon.runtime import run_components
from envmon.settings import load_settings
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from ingest.batches import Inbound, PreparedBatch
from ingest.committer import Committer
from ingest.copy_binary import encode_columns
from ingest.health import HealthBounds
from ingest.metrics import IngestMetrics
from ingest.service import IngestService
from tests.ingest_helpers import DEVICES, payload, publish, wait_for_count
from tests.mqtt_helpers import ProbeClient, connect
from tests.patience import patience


def _service(stack: StackState, database_url: str, name: str) -> IngestService:
    settings = load_settings(
        environment="test",
        database_url=database_url,
        mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER),
        state_dir=stack.state_dir,
        ingest_http_port=0,
        ingest_client_id=f"health-{name[:30]}",
    )
    return IngestService(settings)


@pytest.fixture
def service(stack: StackState, ingest_db: str, request: pytest.FixtureRequest) -> Iterator[tuple[IngestService, int]]:
    svc = _service(stack, ingest_db, request.node.name)
    port = svc.start()
    assert svc.wait_connected(patience(10)) and svc.pipeline.ready.wait(patience(10))
    yield svc, port
    svc.shutdown()


@pytest.fixture
def sender(stack: StackState) -> Iterator[ProbeClient]:
    client = connect(stack.mqtt_port, mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
    yield client
    client.close()


def _health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_health(port: int, status: int, timeout: float = 20, sender: ProbeClient | None = None) -> dict[str, object]:
    """Poll /healthz until it answers `status`; with a sender, publish a message each round, since
    the first ones may come before ingest's subscription exists (the broker drops those)."""
    deadline = time.monotonic() + patience(timeout)
    got = _health(port)
    seq = 0
    while got[0] != status and time.monotonic() < deadline:
        if sender is not None:
            seq += 1
            publish(sender, DEVICES[0], payload(DEVICES[0], seq))
        time.sleep(0.1)
        got = _health(port)
    assert got[0] == status, got
    return got[1]


def test_a_dead_thread_turns_health_503_naming_it(service: tuple[IngestService, int], sender: ProbeClient) -> None:
    svc, port = service
    assert _health(port)[0] == 200

    def bug(number: int, items: object) -> None:
        raise RuntimeError("a bug in the preparer")

    svc.pipeline._prepare = bug  # type: ignore[method-assign,assignment]  # a bug, not content
    body = _wait_health(port, 503, sender=sender)
    assert "threads" in body["failing"]  # type: ignore[operator]
    assert "ingest-prepare" in body["dead_threads"]  # type: ignore[operator]
    assert svc.health()[0] is False


def test_a_dead_thread_makes_the_component_fail_so_the_process_exits_non_zero(
    stack: StackState, ingest_db: str, sender: ProbeClient
) -> None:
    svc = _service(stack, ingest_db, "component-fails")

    def bug(number: int, items: object) -> None:
        raise RuntimeError("a bug in the preparer")

    svc.pipeline._prepare = bug  # type: ignore[method-assign,assignment]

    def publish_when_connected() -> None:
        seq = 0
        if svc.wait_connected(20):
            while svc.failure is None and seq < 200:  # until ingest takes one and fails
                seq += 1
                publish(sender, DEVICES[0], payload(DEVICES[0], seq))
                time.sleep(0.1)

    threading.Thread(target=publish_when_connected, daemon=True).start()
    # Without the failure this would run for the whole duration and report no failed component; with it,
    # run_components raises, which is how `envmon ingest` and the demo exit non-zero.
    with pytest.raises(ComponentError, match="ingest-prepare"):
        asyncio.run(run_components([svc], duration_seconds=60))
    assert svc.failure is not None and "ingest-prepare" in svc.failure


def test_stalled_acknowledgements_turn_health_503(service: tuple[IngestService, int], sender: ProbeClient) -> None:
    svc, port = service
    svc.health_bounds = HealthBounds(stall_seconds=0.5)
    assert svc.source is not None
    release = threading.Event()
    real_ack = svc.source.ack

    def stuck_ack(tokens: list[object]) -> None:
        release.wait(30)
        real_ack(tokens)

    svc.source.ack = stuck_ack  # type: ignore[method-assign]
    try:
        body = _wait_health(port, 503, sender=sender)
        assert body["failing"] == ["stalled"]
    finally:
        release.set()
    _wait_health(port, 200)


def test_a_database_away_too_long_turns_health_503_and_back(
    service: tuple[IngestService, int], sender: ProbeClient, ingest_db: str, admin_url: str
) -> None:
    svc, port = service
    svc.health_bounds = HealthBounds(database_retry_seconds=0.5, stall_seconds=3600)
    name = urlsplit(ingest_db).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            body = _wait_health(port, 503, sender=sender)
            assert body["failing"] == ["database"]
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))
    _wait_health(port, 200)
    # What came in during the outage is stored, not quarantined (the registry is reloaded on reconnect).
    assert wait_for_count(ingest_db, "SELECT count(*) FROM readings", 4) >= 4
    with psycopg.connect(ingest_db) as conn:
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


class _Source:
    transport = "mqtt"

    def ack(self, tokens: list[object]) -> None:
        pass


def _row(device_id: int, seq: int, flag: str = "N") -> Row:
    now = datetime.now(UTC).replace(microsecond=0)
    return Row(now.replace(second=seq % 60), device_id, "w01001", "instant", 7.0, flag, seq, now)


def test_a_batch_refused_for_its_content_is_stored_item_by_item(ingest_db: str) -> None:
    with psycopg.connect(ingest_db) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM devices ORDER BY id LIMIT 2").fetchall()]
    source = _Source()
    now = datetime.now(UTC)
    items = [Inbound(source, n, f"origin-{n}", DEVICES[n], b"raw\x00%d" % n, now) for n in range(2)]
    # The second item's reading carries a flag the column refuses (checks bypassed, as a bug would),
    # and a quarantine note carries NUL: neither may stop the committer.
    readings = ReadingColumns.from_rows([_row(ids[0], 1), _row(ids[1], 2, flag="1")])
    note = items[0].quarantined("invalid_text", "code 'zz\x00x' refused")
    batch = PreparedBatch(0, items, readings, np.array([0, 1], dtype=np.intp), [note], encode_columns(readings))
    committer = Committer(ingest_db, IngestMetrics())
    try:
        result = committer.commit(batch, threading.Event())
    finally:
        committer.close()
    assert result is not None and result.inserted == 1
    with psycopg.connect(ingest_db) as conn:
        assert conn.execute("SELECT device_id, flag FROM readings").fetchall() == [(ids[0], "N")]
        rows = conn.execute("SELECT reason, detail, raw FROM quarantine ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["invalid_text", "database_rejected"]
    assert rows[0][1] == "code 'zz\\x00x' refused" and bytes(rows[1][2]) == b"raw\x001"
