"""Two ingest workers on the MQTT v5 shared subscription: no loss, no duplicates, both busy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psycopg

from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from envmon.stack.processes import free_port, wait_for_port
from tests.conftest import ROOT
from tests.ingest_helpers import DEVICES, POLLUTANTS, payload, publish, wait_for_count
from tests.mqtt_helpers import ProbeClient
from tests.patience import patience

PROBE_DEVICE = "310120PROBE99"  # not in the test registry: each probe is quarantined by the worker that got it


def _metric(port: int, name: str) -> float:
    """The sum of a counter's samples on a worker's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith(name))


def _stored_by(port: int) -> float:
    return _metric(port, "envmon_ingest_readings_stored_total")


def _free_port_pair() -> int:
    """A port p with p + 1 free too (worker n serves on the base port + n)."""
    while True:
        port = free_port()
        try:
            with socket.create_server(("127.0.0.1", port + 1)):
                return port
        except OSError:
            continue


def _wait_until_both_listen(publisher: ProbeClient, ports: list[int], timeout: float = 120) -> None:
    """Probe round trips: publish as an unregistered device until every worker has quarantined one.

    MQTT drops what is published before a subscription exists, and the shared subscription gives
    each message to one member: once each worker has had a probe, both are subscribed.
    """
    deadline = time.monotonic() + patience(timeout)
    seq = 0
    while not all(_metric(p, "envmon_ingest_quarantined_total") >= 1 for p in ports):
        assert time.monotonic() < deadline, "a worker never received a probe: it did not subscribe"
        seq += 1
        publish(publisher, PROBE_DEVICE, payload(PROBE_DEVICE, seq))
        time.sleep(0.05)  # paces the probes; the wait itself is for the metric


def test_two_workers_share_the_stream(stack: StackState, ingest_db: str, publisher: ProbeClient) -> None:
    http = _free_port_pair()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ENVMON_")},
        "DATABASE_URL": ingest_db,
        "MQTT_URL": stack.mqtt_url_for(mosquitto.SERVICE_USER),
        "ENVMON_ENVIRONMENT": "test",
        "ENVMON_STATE_DIR": "/nonexistent-envmon",
    }
    argv = [
        sys.executable,
        "-m",
        "envmon_app",
        "ingest",
        "--workers",
        "2",
        "--client-id",
        "envmon-ingest-pair",
        "--http-port",
        str(http),
    ]
    supervisor = subprocess.Popen(argv, cwd=ROOT, env=env)
    try:
        assert wait_for_port(http, timeout_seconds=120) and wait_for_port(http + 1, timeout_seconds=120)
        _wait_until_both_listen(publisher, [http, http + 1])
        count = 300
        for seq in range(1, count + 1):
            for device in DEVICES:
                publish(publisher, device, payload(device, seq))
        expected = count * len(DEVICES) * len(POLLUTANTS)
        assert wait_for_count(ingest_db, "SELECT count(*) FROM readings", expected, timeout=60) == expected
        with psycopg.connect(ingest_db) as conn:
            distinct = conn.execute("SELECT count(DISTINCT (device_id, seq, pollutant)) FROM readings").fetchone()
        assert distinct == (expected,)
        shares = [_stored_by(http), _stored_by(http + 1)]
        assert sum(shares) == expected
        assert min(shares) > 0.2 * expected, f"one worker idle: {shares}"
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=90)
