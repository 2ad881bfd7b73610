"""Two ingest workers on the MQTT v5 shared subscription: no loss, no duplicates, both busy."""

from __future__ import annotations

import os
import signal
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


def _stored_by(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    line = next(ln for ln in text.splitlines() if ln.startswith("envmon_ingest_readings_stored_total"))
    return float(line.split()[1])


def test_two_workers_share_the_stream(stack: StackState, ingest_db: str, publisher: ProbeClient) -> None:
    http = free_port()
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
        "envmon",
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
        assert wait_for_port(http, timeout_seconds=20) and wait_for_port(http + 1, timeout_seconds=20)
        time.sleep(2)  # both subscribed
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
