"""The two-minute chaos run: kills and outages under a scenario, judged by replay and the readings ledger.

It starts its own private stack (it kills Mosquitto and stops PostgreSQL, which the session's shared
servers must survive), on free ports, and waits for signals (log lines, a stored probe reading, the
ledger, the outbox), never for fixed times, except the driver's own random restart delays.
"""

from __future__ import annotations

import json
import sys

import pytest

from alerts.chaos.bench import ChaosRun, build_parser
from alerts.chaos.faults import KINDS, MIN_EACH


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
