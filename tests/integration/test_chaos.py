"""The two-minute chaos run: kills and outages under a scenario, judged by replay and the readings ledger.

It starts its own private stack (it kills Mosquitto and stops PostgreSQL, which the session's shared
servers must survive), on free ports, and waits for signals (log lines, a stored probe reading, the
ledger, the outbox), never for fixed times, except the driver's own random restart delays.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.chaos.bench import MIGRATIONS, ChaosRun, build_parser, log_says, wait_until
from benchmarks.chaos.district import subset_registry
from benchmarks.chaos.faults import KINDS, MIN_EACH
from benchmarks.chaos.services import Service, service_env
from envmon import topics
from envmon.migrate import migrate
from envmon.registry.service import apply_registry_file
from envmon.settings import load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from envmon.stack.processes import free_port
from ingest.service import IngestService
from tests.ingest_helpers import DEVICES, payload, publish, wait_for_count
from tests.mqtt_helpers import connect
from tests.patience import patience


@pytest.mark.timeout(420)
def test_chaos_two_minutes_lose_no_reading_miss_no_sms_and_leave_no_alert_silent() -> None:
    args = build_parser().parse_args([
        "--duration-seconds", "120", "--seed", "15", "--mean-gap-seconds", "4", "--warmup-seconds", "8",
        "--quiet-seconds", "25", "--ledger-wait-seconds", "60", "--settle-seconds", "40",
    ])
    figures = ChaosRun(args, lambda msg: print(msg, file=sys.stderr, flush=True)).run()
    shown = json.dumps({k: v for k, v in figures.items() if k != "fault_log"}, indent=1)
    assert set(figures["faults"]) == set(KINDS)
    assert min(figures["faults"].values()) >= MIN_EACH, shown
    assert figures["lost_readings"] == 0, shown
    assert figures["duplicate_readings"] == 0, shown
    assert figures["missed_sms"] == 0, shown
    assert figures["silent_alerts"] == 0, shown
    assert figures["max_sends_of_one_sms"] <= 2, shown
    assert figures["alerts_missing"] == 0 and figures["alerts_extra"] == 0, shown
    assert figures["sms"]["sms_expected"] > 0 and figures["alerts"]["expected"] > 0, shown
    assert figures["target_met"], shown


def _publish(stack: StackState, device: str, seq: int, values: dict[str, float]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
    client.connect("127.0.0.1", stack.mqtt_port)
    client.loop_start()
    body = {"device": device, "seq": seq, "time": datetime.now(UTC).replace(microsecond=0).isoformat(), "values": values}
    client.publish(topics.device_topic(device, topics.UP), json.dumps(body), qos=1).wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


@pytest.mark.timeout(300)
def test_reading_stored_while_the_engine_is_down_is_judged_after_a_broker_kill() -> None:
    """The chaos run's missed alerts, step by step: a gas reading at level 2 is stored while `envmon alerts`
    restarts, then Mosquitto is SIGKILLed (losing the committed batch it held for the engine's session)."""
    # Not pytest's tmp_path: its parents are private, and the servers run as their own users under root.
    tmp_path = Path(tempfile.mkdtemp(prefix="envmon-chaos-bus-", dir="/tmp"))
    tmp_path.chmod(0o755)
    stack = launcher.up(tmp_path / "stack")
    alerts = ingest = None
    try:
        migrate(stack.database_url, MIGRATIONS)
        settings = load_settings(environment="test", state_dir=stack.state_dir, database_url=stack.database_url,
                                 mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER), secret_key=stack.secret_key)
        (tmp_path / "registry.toml").write_text(subset_registry(), encoding="utf-8")
        apply_registry_file(settings, tmp_path / "registry.toml", actor="test")
        alerts = Service("alerts", ["alerts"], service_env(stack.state_dir, {
            "ENVMON_ALERTS_REPORTS": "false", "ENVMON_ALERTS_HTTP_PORT": str(free_port())}), tmp_path / "alerts.log")
        ingest = Service("ingest", ["ingest"], service_env(stack.state_dir, {
            "ENVMON_INGEST_HTTP_PORT": str(free_port())}), tmp_path / "ingest.log")
        alerts.start()
        assert wait_until("alerts", log_says(alerts, "alerts connected to"), 90)
        ingest.start()
        assert wait_until("ingest", log_says(ingest, "subscribed to"), 90)
        alerts.stop()
        _publish(stack, "310120CH001S01", 1, {"s01001": 60.0})  # combustible gas above level 2 (50 %LEL)
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            assert wait_until("stored", lambda: conn.execute("SELECT 1 FROM readings WHERE seq = 1").fetchone() is not None,
                         60)
            mosquitto.stop(stack.broker, sig=signal.SIGKILL)
            mosquitto.start(stack.broker)
            alerts.start()
            assert wait_until("alerts", log_says(alerts, "alerts connected to"), 90)
            opened = wait_until("the alert", lambda: conn.execute("SELECT 1 FROM alerts").fetchone() is not None, 30)
            assert opened, "the stored level-2 reading was never evaluated by the engine"
    finally:
        for service in (alerts, ingest):
            if service is not None:
                service.stop()
        launcher.down(stack.state_dir)
        shutil.rmtree(tmp_path, ignore_errors=True)


def _ingest_service(stack: StackState, database_url: str) -> IngestService:
    settings = load_settings(environment="test", database_url=database_url, state_dir=stack.state_dir,
                             mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER), ingest_http_port=0,
                             ingest_client_id="chaos-gap-after-restart")
    service = IngestService(settings)
    service.start()
    assert service.wait_connected(patience(10))
    return service


@pytest.mark.timeout(120)
def test_gap_across_an_ingest_restart_is_requested(stack: StackState, ingest_db: str) -> None:
    """The chaos run's lost readings, step by step: seq 4 is lost (as in a broker SIGKILL) while ingest
    restarts; the restarted ingest must still ask the device for it when seq 5 arrives."""
    device = DEVICES[3]
    launcher.set_device_credentials(stack, [device])
    service = _ingest_service(stack, ingest_db)
    dev = connect(stack.mqtt_port, device, mosquitto.device_secret(stack.secret_key, device))
    try:
        dev.subscribe(topics.device_topic(device, topics.CMD))
        for seq in (1, 2, 3):
            publish(dev, device, payload(device, seq))
        assert wait_for_count(ingest_db, "SELECT count(DISTINCT seq) FROM readings", 3) == 3
        service.shutdown()
        service = _ingest_service(stack, ingest_db)
        publish(dev, device, payload(device, 5))
        assert wait_for_count(ingest_db, "SELECT count(DISTINCT seq) FROM readings", 4) == 4
        assert wait_until("the resend request", lambda: bool(dev.received), 10), "seq 4 was never requested"
        assert json.loads(dev.received[0][1])["first_seq"] == 4
    finally:
        dev.close()
        service.shutdown()


@pytest.mark.timeout(120)
def test_gap_noticed_before_an_ingest_restart_is_requested_after_it(stack: StackState, ingest_db: str) -> None:
    """A gap ingest noticed (seq 4, with 5 stored) but that was not filled when it stopped is asked for by the
    restarted ingest, although the stored state (device_state.last_seq = 5) is already past it."""
    device = DEVICES[4]
    launcher.set_device_credentials(stack, [device])
    service = _ingest_service(stack, ingest_db)
    dev = connect(stack.mqtt_port, device, mosquitto.device_secret(stack.secret_key, device))
    try:
        dev.subscribe(topics.device_topic(device, topics.CMD))
        for seq in (1, 2, 3, 5):
            publish(dev, device, payload(device, seq))
        assert wait_for_count(ingest_db, "SELECT count(*) FROM open_sequence_gaps WHERE first_seq = 4", 1) == 1
        service.shutdown()
        assert wait_for_count(ingest_db, "SELECT count(*) FROM device_state WHERE last_seq = 5", 1) == 1
        service = _ingest_service(stack, ingest_db)
        gaps = service.gaps
        assert gaps is not None
        # Counted by the restarted service itself: a request of the first one still in flight proves nothing.
        asked = wait_until("the resend request", lambda: gaps.requested > 0, 30)
        assert asked, "the gap noticed before the restart was never requested after it"
        assert gaps.tracker.missing(device) == [4]
        assert wait_until("its arrival", lambda: any(json.loads(body)["first_seq"] == 4 for _, body in dev.received),
                          30)
    finally:
        dev.close()
        service.shutdown()
