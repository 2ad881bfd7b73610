"""`envmon alert`: list, acknowledge, silence and maintenance from a terminal, against a real database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from alerts import store
from alerts.lifecycle import AlertRecord
from alerts.model import AlertKey
from envmon_app.cli import main
from tests.alert_helpers import load_alert_registry, query

pytestmark = pytest.mark.services


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    load_alert_registry(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVMON_STATE_DIR", str(tmp_path))
    return database_url


def open_alert(database_url: str) -> AlertRecord:
    now = datetime.now(UTC)
    [(device_id,)] = query(database_url, "SELECT id FROM devices WHERE mn = '310120T001S01'")
    record = AlertRecord(id=None, code=None, key=AlertKey(device_id, "s02001", "gas"), category="safety",
                         severity="level2", state="open", opened_at=now, first_breach_at=now,
                         unacknowledged_since=now, latched=True, last_value=20.0, limit_value=13.2)
    with psycopg.connect(database_url) as conn:
        stored = store.insert_alert(conn, record)
    assert stored is not None
    return stored


def test_an_alert_is_listed_and_acknowledged_by_its_code(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    alert = open_alert(cli_env)
    assert main(["alert", "list"]) == 0
    assert alert.code is not None and alert.code in capsys.readouterr().out
    assert main(["alert", "ack", alert.code.lower(), "--disposition", "confirmed", "--actor", "zhang"]) == 0
    assert query(cli_env, "SELECT state, disposition, acknowledged_by FROM alerts") == [("acknowledged", "confirmed", "zhang")]
    assert query(cli_env, "SELECT to_state, actor FROM alert_events") == [("acknowledged", "zhang")]


def test_a_wrong_code_is_refused_with_a_clear_error(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alert", "ack", "ZZZZZZ", "--disposition", "confirmed"]) == 2
    assert "not an alert code" in capsys.readouterr().err


def test_silence_and_maintenance_are_recorded_with_an_audit_entry(cli_env: str) -> None:
    assert main(["alert", "silence", "--site", "T-001", "--minutes", "30", "--reason", "调试"]) == 0
    assert main(["alert", "maintenance", "--device", "310120T001W01", "--from", "2026-11-23T08:00+08:00",
                 "--to", "2026-11-23T12:00+08:00", "--reason", "校准"]) == 0
    assert query(cli_env, "SELECT reason FROM silences") == [("调试",)]
    assert query(cli_env, "SELECT reason FROM maintenance_windows") == [("校准",)]
    assert [r[0] for r in query(cli_env, "SELECT entity FROM audit_log WHERE action = 'create' ORDER BY id")] == [
        "silence", "maintenance"]


def test_a_silent_alert_is_listed_without_none_and_any_state_lists_closed_ones(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    gas = open_alert(cli_env)
    now = datetime.now(UTC)
    [(device_id,)] = query(cli_env, "SELECT id FROM devices WHERE mn = '310120T001W01'")
    silent = AlertRecord(id=None, code=None, key=AlertKey(device_id, "", "silent"), category="device",
                         severity="fault", state="open", opened_at=now, first_breach_at=now,
                         unacknowledged_since=now, latched=False, last_value=None, limit_value=None)
    with psycopg.connect(cli_env) as conn:
        stored = store.insert_alert(conn, silent)
        conn.execute("UPDATE alerts SET state = 'resolved', resolved_at = now() WHERE id = %s", (gas.id,))
    assert stored is not None and stored.code and gas.code
    assert main(["alert", "list"]) == 0
    out = capsys.readouterr().out
    assert stored.code in out and gas.code not in out and "None" not in out
    assert main(["alert", "list", "--state", "any"]) == 0
    out = capsys.readouterr().out
    assert stored.code in out and gas.code in out and "20 (limit 13.2)" in out
