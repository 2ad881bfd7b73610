"""alerts.people, the interface for people: every action tells live views on commit, whoever acted."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest

from alerts import people, store
from alerts.lifecycle import AlertRecord
from alerts.model import AlertKey
from envmon_app.cli import main
from tests.alert_helpers import query

pytestmark = pytest.mark.services

Act = Callable[[psycopg.Connection, int, datetime], object]


def open_alert(database_url: str, *, latched: bool = True) -> int:
    """An open H2S alert on the registry's gas detector."""
    now = datetime.now(UTC)
    [(device_id,)] = query(database_url, "SELECT id FROM devices WHERE mn = '310120T001S01'")
    record = AlertRecord(id=None, code=None, key=AlertKey(device_id, "s02001", "gas"), category="safety",
                         severity="level2", state="open", opened_at=now, first_breach_at=now,
                         unacknowledged_since=now, latched=latched, last_value=20.0, limit_value=13.2)
    with psycopg.connect(database_url) as conn:
        stored = store.insert_alert(conn, record)
    assert stored is not None and stored.id is not None
    return stored.id


def heard_after(database_url: str, act: Callable[[], object]) -> list[dict[str, object]]:
    """The alert events live views hear (LISTEN envmon_events) when act commits."""
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN envmon_events")
        act()
        heard: list[dict[str, object]] = []
        for note in listener.notifies(timeout=5, stop_after=1):
            heard.append(json.loads(note.payload))
    return heard


def _ack(conn: psycopg.Connection, alert_id: int, now: datetime) -> object:
    return people.acknowledge_alert(conn, alert_id, actor="sms", disposition="confirmed", note=None, now=now)


def _resolve(conn: psycopg.Connection, alert_id: int, now: datetime) -> object:
    return people.resolve_alert(conn, alert_id, actor="zhang", reason="resolved_by_hand", now=now)


def _note(conn: psycopg.Connection, alert_id: int, now: datetime) -> object:
    return people.add_note(conn, alert_id, actor="zhang", note="on site at 10:05", now=now)


@pytest.mark.parametrize(
    ("act", "state"),
    [
        pytest.param(_ack, "acknowledged", id="acknowledge-as-an-sms-reply-does"),
        pytest.param(_resolve, "resolved", id="resolve-as-the-dashboard-does"),
        pytest.param(_note, "open", id="note-keeps-the-state"),
    ],
)
def test_each_action_tells_live_views_on_commit(alert_db: str, act: Act, state: str) -> None:
    alert_id = open_alert(alert_db, latched=False)  # resolving a latched one needs its disposition first

    def run() -> None:
        with psycopg.connect(alert_db) as conn:
            act(conn, alert_id, datetime.now(UTC))

    heard = heard_after(alert_db, run)
    assert [(e["kind"], e["id"], e["state"]) for e in heard] == [("alert", alert_id, state)]


def test_an_acknowledgement_from_the_terminal_reaches_live_views(
    alert_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("DATABASE_URL", alert_db)
    monkeypatch.setenv("ENVMON_STATE_DIR", str(tmp_path))
    alert_id = open_alert(alert_db)
    [(code,)] = query(alert_db, "SELECT code FROM alerts WHERE id = %s", alert_id)
    heard = heard_after(alert_db, lambda: main(["alert", "ack", code, "--disposition", "confirmed"]))
    assert [(e["id"], e["state"]) for e in heard] == [(alert_id, "acknowledged")]


def test_a_note_is_an_event_of_its_own_and_an_empty_one_is_refused(alert_db: str) -> None:
    alert_id = open_alert(alert_db)
    with psycopg.connect(alert_db) as conn:
        _note(conn, alert_id, datetime.now(UTC))
        with pytest.raises(people.LifecycleError, match="empty note"):
            people.add_note(conn, alert_id, actor="zhang", note="  ", now=datetime.now(UTC))
    assert query(alert_db, "SELECT from_state, to_state, actor, reason, detail->>'note' FROM alert_events") == [
        ("open", "open", "zhang", "note", "on site at 10:05")
    ]
