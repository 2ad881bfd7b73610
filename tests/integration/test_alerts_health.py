"""The alert service's health tells the truth (issue 15 §2, §3): a batch that trips the engine does not stop it,
a lagging engine, a database in retry, a dead thread and a silent alert each turn /healthz to 503 naming the
check, and a dead thread ends the service with its reason."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql

from alerts.notify.fake_twilio import FakeTwilio
from alerts.notify.sms import SendResult
from alerts.service import AlertService
from envmon.columns import ReadingColumns
from envmon.errors import ComponentError
from envmon.runtime import run_components
from envmon.stack.launcher import StackState
from tests.alert_helpers import (
    GAS,
    LEADER_PHONE,
    SAFETY_PHONE,
    WATER,
    alert_settings,
    load_alert_registry,
    query,
    start_alerts,
    wait_until,
)

pytestmark = pytest.mark.services


def healthz(service: AlertService) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{service.http_port}/healthz", timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())
    except OSError:  # the endpoint is gone (the service stopped)
        return 0, {"failing": []}


def failing(service: AlertService) -> list[str]:
    return list(healthz(service)[1]["failing"])


def columns(codes: tuple[str, ...], time_s: list[float], device_id: list[int], pollutant: list[int],
            value: list[float], flag: list[int]) -> ReadingColumns:
    """Readings of the basis `instant`, each received at its time."""
    time_us = np.array([round(t * 1e6) for t in time_s], dtype=np.int64)
    return ReadingColumns(codes, time_us, np.array(device_id, dtype=np.int32), np.array(pollutant, dtype=np.int16),
                          np.zeros(len(time_s), dtype=np.int8), np.array(value, dtype=np.float64),
                          np.array(flag, dtype=np.uint8), np.arange(len(time_s), dtype=np.int64), time_us)


def gas_batch(device_id: int, values: list[float], *, poison_rows: int = 0) -> ReadingColumns:
    """H2S readings one second apart ending now; `poison_rows` more point past the batch's code table."""
    n = len(values) + poison_rows
    now = time.time()
    return columns(("s02001",), [now - n + i for i in range(n)], [device_id] * n,
                   [0] * len(values) + [99] * poison_rows, values + [1.0] * poison_rows, [ord("N")] * n)


def gas_device(database_url: str) -> int:
    return int(query(database_url, "SELECT id FROM devices WHERE mn = %s", GAS)[0][0])


def metric(service: AlertService, name: str) -> float:
    value = service.metrics.registry.get_sample_value(name)
    return float(value or 0.0)


def test_a_batch_that_trips_the_engine_is_split_and_its_good_readings_still_alarm(
    stack: StackState, alert_db: str, fake: FakeTwilio
) -> None:
    service = start_alerts(alert_settings(stack, alert_db, fake))
    try:
        service.submit(gas_batch(gas_device(alert_db), [2.0, 3.0, 20.0], poison_rows=1))
        [sms] = fake.wait_for_messages(1)
        assert sms.to == SAFETY_PHONE
        assert wait_until(lambda: metric(service, "envmon_alerts_readings_quarantined_total") == 1)
        assert metric(service, "envmon_alerts_engine_errors_total") >= 2  # the batch, then its half
        assert all(t.is_alive() for t in service._threads if t.name == "alerts-engine")
        assert wait_until(lambda: healthz(service)[0] == 200), healthz(service)
    finally:
        service.shutdown()


def test_health_names_the_lag_when_the_engine_falls_behind_its_input(
    stack: StackState, alert_db: str, fake: FakeTwilio
) -> None:
    service = start_alerts(alert_settings(stack, alert_db, fake, alerts_max_lag_seconds=0.5))
    device = gas_device(alert_db)
    try:
        service.submit(gas_batch(device, [20.0]))
        fake.wait_for_messages(1)
        with psycopg.connect(alert_db) as blocker:
            blocker.execute("SELECT id FROM alerts FOR UPDATE")  # the engine's next step on this alert waits
            service.submit(gas_batch(device, [40.0]))  # a higher peak: an update of the locked alert
            assert wait_until(lambda: "engine_lag" in failing(service)), healthz(service)
            assert healthz(service)[0] == 503
        assert wait_until(lambda: healthz(service)[0] == 200), healthz(service)
    finally:
        service.shutdown()


def _allow_connections(admin_url: str, database_url: str, allow: bool) -> None:
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(str(name)), sql.SQL("true" if allow else "false")))
        if not allow:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])


def test_health_names_the_database_when_it_stays_in_retry(
    stack: StackState, alert_db: str, fake: FakeTwilio, admin_url: str
) -> None:
    service = start_alerts(alert_settings(stack, alert_db, fake, alerts_database_retry_max_seconds=1.0))
    try:
        assert wait_until(lambda: healthz(service)[0] == 200), healthz(service)
        _allow_connections(admin_url, alert_db, False)
        try:
            assert wait_until(lambda: "engine_database" in failing(service)), healthz(service)
        finally:
            _allow_connections(admin_url, alert_db, True)
        assert wait_until(lambda: healthz(service)[0] == 200, timeout=30), healthz(service)
    finally:
        service.shutdown()


class SenderCrash(BaseException):
    """Not an Exception: nothing in the sender may catch it, so its thread dies."""


class CrashingSender:
    """A test double of the SMS provider whose send kills the calling thread."""

    def send(self, to: str, body: str, *, status_callback: str | None) -> SendResult:
        raise SenderCrash("the provider library blew up")


def test_a_dead_thread_turns_health_503_naming_the_thread(stack: StackState, alert_db: str, fake: FakeTwilio) -> None:
    service = start_alerts(alert_settings(stack, alert_db, fake), sender=CrashingSender())
    try:
        service.submit(gas_batch(gas_device(alert_db), [20.0]))
        assert wait_until(lambda: healthz(service)[0] == 503), healthz(service)
        code, facts = healthz(service)
        assert "threads" in facts["failing"] and facts["dead_threads"] == ["alerts-sms"]
        assert service.failure is not None and "alerts-sms" in service.failure
    finally:
        service.shutdown()


def test_a_dead_thread_stops_the_running_service_with_its_reason(
    stack: StackState, alert_db: str, fake: FakeTwilio
) -> None:
    service = AlertService(alert_settings(stack, alert_db, fake), sender=CrashingSender())
    device = gas_device(alert_db)

    def alarm() -> None:
        if service.ready.wait(15):
            service.submit(gas_batch(device, [20.0]))

    threading.Thread(target=alarm, daemon=True).start()
    started = time.monotonic()
    # run_components raises for a failed component: that is how `envmon alerts` and the demo exit non-zero.
    with pytest.raises(ComponentError, match="alerts-sms"):
        asyncio.run(run_components([service], duration_seconds=60))
    assert time.monotonic() - started < 30, "the service went on after its sender thread died"
    assert service.failure is not None and "alerts-sms" in service.failure


def test_an_alert_that_reached_nobody_is_counted_silent_and_turns_health_503(
    stack: StackState, alert_db: str, fake: FakeTwilio
) -> None:
    fake.fail_number(SAFETY_PHONE, 21211)  # every step of the gas chain has an invalid number
    fake.fail_number(LEADER_PHONE, 21211)
    service = start_alerts(alert_settings(stack, alert_db, fake, alerts_silent_grace_seconds=0.5))
    try:
        service.submit(gas_batch(gas_device(alert_db), [20.0]))
        assert wait_until(lambda: metric(service, "envmon_alerts_silent") == 1, timeout=30)
        code, facts = healthz(service)
        assert code == 503 and "silent_alerts" in facts["failing"] and facts["silent_alerts"] == 1
    finally:
        service.shutdown()


def test_an_alert_no_chain_routes_records_why_and_is_not_silent(
    stack: StackState, database_url: str, fake: FakeTwilio
) -> None:
    from tests.alert_helpers import ALERT_REGISTRY

    no_gas_chain = ALERT_REGISTRY[: ALERT_REGISTRY.index('[[escalation_chains]]\ncode = "gas"')]
    load_alert_registry(database_url, no_gas_chain)
    service = start_alerts(alert_settings(stack, database_url, fake, alerts_silent_grace_seconds=0.5))
    try:
        service.submit(gas_batch(gas_device(database_url), [20.0]))
        rows = wait_until(lambda: query(database_url, "SELECT status, last_error FROM notifications"))
        assert rows == [("suppressed", "no_recipient")]
        assert wait_until(lambda: healthz(service)[0] == 200 and healthz(service)[1]["silent_alerts"] == 0)
        assert query(database_url, "SELECT count(*) FROM alerts WHERE state = 'open'") == [(1,)]
    finally:
        service.shutdown()


def test_readings_that_would_poison_the_saved_state_are_set_aside_or_cleaned_at_the_edge(
    stack: StackState, alert_db: str, fake: FakeTwilio
) -> None:
    """A NUL flag reached the snapshot's jsonb (PostgreSQL refuses it) and an infinite value its JSON: every save
    after them failed. The flag is judged as an unknown one ('?'), the infinite reading is set aside."""
    gas = gas_device(alert_db)
    water = int(query(alert_db, "SELECT id FROM devices WHERE mn = %s", WATER)[0][0])
    now = time.time()
    batch = columns(("s02001", "w20117"), [now - 2, now - 1, now], [gas, water, water], [0, 1, 1],
                    [20.0, 0.05, np.inf], [ord("N"), 0, ord("N")])
    service = start_alerts(alert_settings(stack, alert_db, fake))
    try:
        service.submit(batch)
        fake.wait_for_messages(1)
        # One device-fault alert per device lists each pollutant's flag: the NUL came through as '?'.
        saved = "SELECT count(*) FROM engine_snapshots WHERE state::text LIKE '%%\"w20117\": \"?\"%%'"
        assert wait_until(lambda: query(alert_db, saved) == [(1,)]), query(alert_db, "SELECT state FROM engine_snapshots")
        assert metric(service, "envmon_alerts_readings_quarantined_total") == 1
        assert metric(service, "envmon_alerts_engine_errors_total") == 0
        assert healthz(service)[0] == 200
    finally:
        service.shutdown()
