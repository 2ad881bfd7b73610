"""The simulator against the real platform: Mosquitto, the ingest service with its HJ 212 gateway,
PostgreSQL. Readings arrive in canonical units, lost messages come back on request (MQTT resend,
HJ 212 history request), malformed messages are quarantined."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from device_sim.runner import RunOptions, SimRunner
from device_sim.stats import Stats
from envmon import topics
from envmon.settings import load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from ingest.service import IngestService
from tests.conftest import EXAMPLE_REGISTRY, example_district_database
from tests.mqtt_helpers import connect, wait_for_logins
from tests.patience import patience

MQTT_WATER, MQTT_GAS = "310120EP001W01", "310120CH001S01"
HJ212_WATER, HJ212_CHEM = "310120EP002W01", "310120CH003W01"
SPEED = 60.0
PROBE_DEVICE = "310120PROBE99"  # not in the example registry: its message is quarantined
PROBE = b'{"probe": 1}'
DURATION_SECONDS = 900.0
SCENARIO = f"""
name = "end-to-end"
[[incidents]]
device = "{MQTT_WATER}"
kind = "drop"
at_seconds = 120
duration_seconds = 90
[[incidents]]
device = "{MQTT_WATER}"
kind = "spike"
pollutant = "w20117"
at_seconds = 300
duration_seconds = 120
peak_ratio = 2.5
[[incidents]]
device = "{MQTT_GAS}"
kind = "malformed"
at_seconds = 60
count = 7
[[incidents]]
device = "{MQTT_GAS}"
kind = "offline"
at_seconds = 400
duration_seconds = 120
store_and_forward = true
[[incidents]]
device = "{HJ212_CHEM}"
kind = "drop"
at_seconds = 180
duration_seconds = 240
[[incidents]]
device = "{HJ212_WATER}"
kind = "calibration"
at_seconds = 200
duration_seconds = 120
"""


async def _run(stack: StackState, database_url: str, scenario: Path) -> Stats:
    ingest_settings = load_settings(
        environment="test", database_url=database_url, mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER),
        state_dir=stack.state_dir, ingest_http_port=0, hj212_port=0, ingest_client_id="sim-e2e-ingest",
    )
    service = IngestService(ingest_settings, hj212=True)
    stop_ingest = asyncio.Event()
    ingest_task = asyncio.create_task(service.run(stop_ingest))
    assert service.gateway is not None
    await asyncio.wait_for(service.gateway.listening.wait(), 10)
    assert await asyncio.to_thread(service.wait_connected, 10)
    # The gateway answers an MN it does not know yet with QnRtn 4: let the pipeline load the registry first.
    deadline = time.monotonic() + patience(60)
    while not len(service.pipeline.directory):
        assert time.monotonic() < deadline, "the pipeline never loaded the registry"
        await asyncio.sleep(0.05)
    sim_settings = load_settings(
        environment="test", mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER), state_dir=stack.state_dir,
        secret_key=stack.secret_key, hj212_port=service.gateway.port,
    )
    options = RunOptions(registry_path=EXAMPLE_REGISTRY, scenario=str(scenario), speed=SPEED,
                         duration_seconds=DURATION_SECONDS, devices=(MQTT_WATER, MQTT_GAS, HJ212_WATER, HJ212_CHEM))
    runner = SimRunner(sim_settings, options)
    stats = await runner.run(asyncio.Event())
    await asyncio.to_thread(_drain, stack, database_url, service)
    stop_ingest.set()
    await ingest_task
    return stats


def _drain(stack: StackState, database_url: str, service: IngestService, timeout: float = 120) -> None:
    """Wait until ingest has stored what the simulator sent: a probe published after the run comes back
    through ingest (the broker delivers in order), and nothing received is left unacknowledged."""
    probe = connect(stack.mqtt_port, mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
    deadline = time.monotonic() + patience(timeout)
    try:
        probe.publish(topics.device_topic(PROBE_DEVICE, topics.UP), PROBE)
        while _rows(database_url, "SELECT count(*) FROM quarantine WHERE raw = %s", PROBE) == [(0,)] or (
            service.pipeline.metrics.unacked._value.get()
        ):
            assert time.monotonic() < deadline, "ingest did not take the simulator's last messages"
            time.sleep(0.05)
    finally:
        probe.close()


@pytest.fixture(scope="module")
def district(stack: StackState, admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Stats]:
    """One accelerated run of four devices (two MQTT, two HJ 212) into a fresh database."""
    url = example_district_database(admin_url, "envmon_sim_e2e")
    launcher.set_device_credentials(stack, [MQTT_WATER, MQTT_GAS])
    wait_for_logins(stack.mqtt_port, {mn: mosquitto.device_secret(stack.secret_key, mn) for mn in (MQTT_WATER, MQTT_GAS)})
    scenario = tmp_path_factory.mktemp("sim") / "e2e.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    stats = asyncio.run(_run(stack, url, scenario))
    return url, stats


def _rows(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _device_sql(where: str) -> str:
    return f"SELECT {{}} FROM readings r JOIN devices d ON d.id = r.device_id WHERE d.mn = %s AND {where}"


def test_run_has_no_errors_and_answers_resends(district: tuple[str, Stats]) -> None:
    _, stats = district
    snap = stats.snapshot()
    assert snap["errors"] == 0
    assert snap["held"] > 0 and snap["resent"] > 0
    assert snap["malformed"] == 7


def test_mqtt_gap_is_filled_from_the_ring_buffer(district: tuple[str, Stats]) -> None:
    url, _ = district
    (count, low, high), = _rows(url, _device_sql("r.basis = 'instant'").format("count(DISTINCT r.seq), min(r.seq), max(r.seq)"), MQTT_WATER)
    assert count == high - low + 1, "a sequence gap was left open"
    assert high >= DURATION_SECONDS / 30 - 2


def test_store_and_forward_delivers_every_sample_of_the_outage(district: tuple[str, Stats]) -> None:
    url, stats = district
    assert stats.snapshot()["stored"] >= 120 / 5 - 1 and stats.snapshot()["offline_periods"] == 1
    times = [t for (t,) in _rows(url, _device_sql("r.basis = 'instant'").format("r.time") + " ORDER BY 1", MQTT_GAS)]
    steps = {(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)}  # type: ignore[operator]
    assert steps == {5.0}, "samples measured during the outage are missing"
    (count, low, high), = _rows(url, _device_sql("true").format("count(DISTINCT r.seq), min(r.seq), max(r.seq)"), MQTT_GAS)
    assert count == high - low + 1


def test_spike_arrives_in_canonical_units(district: tuple[str, Stats]) -> None:
    url, _ = district
    values = [float(v) for (v,) in _rows(url, _device_sql("r.pollutant = 'w20117'").format("r.value"), MQTT_WATER)]
    assert max(values) == pytest.approx(0.25, rel=0.1)  # 2.5 x 0.1 mg/L, sent as ~250 ug/L
    assert min(values) < 0.08
    assert sum(v > 0.1 for v in values) == pytest.approx(120 / 30, abs=1)


def test_malformed_burst_is_quarantined(district: tuple[str, Stats]) -> None:
    url, _ = district
    reasons = {r for (r,) in _rows(url, "SELECT reason FROM quarantine WHERE device_mn = %s", MQTT_GAS)}
    assert {"malformed_json", "invalid_schema", "invalid_time", "invalid_flag", "time_in_future"} <= reasons


def test_hj212_minute_data_lost_on_the_way_comes_back_by_history_request(district: tuple[str, Stats]) -> None:
    url, _ = district
    times = [t for (t,) in _rows(url, _device_sql("r.basis = 'minute' AND r.pollutant = 'w01018'").format("r.time") + " ORDER BY 1", HJ212_CHEM)]
    assert len(times) >= DURATION_SECONDS / 60 - 2
    steps = {(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)}  # type: ignore[operator]
    assert steps == {60.0}, "minute data has holes"


def test_hj212_calibration_flag_is_stored(district: tuple[str, Stats]) -> None:
    url, _ = district
    flags = {f for (f,) in _rows(url, _device_sql("r.basis = 'instant'").format("DISTINCT r.flag"), HJ212_WATER)}
    assert flags == {"N", "C"}
    hours = _rows(url, _device_sql("r.basis = 'minute'").format("count(*)"), HJ212_WATER)
    assert hours[0][0] > 0
    assert datetime.now(UTC)  # the run ended at the real clock (accelerated runs end there)
