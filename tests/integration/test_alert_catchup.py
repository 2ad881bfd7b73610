"""The engine catches up from the database: readings stored while no engine evaluated them still alarm."""

from __future__ import annotations

import pytest

from alerts.notify.fake_twilio import FakeTwilio
from envmon.stack.launcher import StackState
from tests.alert_helpers import GAS, SAFETY_PHONE, alert_settings, load_alert_registry, query, start_alerts, wait_until

pytestmark = pytest.mark.services


def _store_gas(database_url: str, values_ppm: list[float]) -> None:
    """H2S readings stored as ingest stores them (one second apart, ending now), handed to no engine."""
    device = int(query(database_url, "SELECT id FROM devices WHERE mn = %s", GAS)[0][0])
    for i, value in enumerate(values_ppm):
        query(database_url, "INSERT INTO readings (time, device_id, pollutant, basis, value, flag, seq)"
              " VALUES (now() - make_interval(secs => %s), %s, 's02001', 'instant', %s, 'N', %s) RETURNING 1",
              len(values_ppm) - i, device, value, i + 1)


def test_a_reading_stored_before_the_engine_started_alarms_without_any_batch(
    stack: StackState, database_url: str, fake: FakeTwilio
) -> None:
    load_alert_registry(database_url)
    _store_gas(database_url, [2.0, 20.0])  # above the H2S level-2 alarm, never handed to the engine
    service = start_alerts(alert_settings(stack, database_url, fake))
    try:
        [sms] = fake.wait_for_messages(1)
        assert sms.to == SAFETY_PHONE
        assert query(database_url, "SELECT count(*) FROM alerts")[0][0] == 1
        assert wait_until(lambda: service.metrics.registry.get_sample_value("envmon_alerts_readings_evaluated_total") == 2)
    finally:
        service.shutdown()
