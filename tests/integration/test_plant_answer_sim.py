"""The `plant_answer` scenario through the whole platform: simulated stacks -> Mosquitto -> ingest -> alert
engine -> the plant's SMS with a signed link (real twilio client, fake Twilio) -> the public form of the
dashboard -> the inspector's decision; the plant that stays silent passes its deadline and the inspectors are
told. Every step is read back from the alert's timeline."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

import alerts.service
from alerts.notify.fake_twilio import FakeTwilio
from alerts.service import AlertService
from dashboard.users import create_user
from device_sim.runner import RunOptions, SimRunner
from envmon.settings import Settings, load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from ingest.service import IngestService
from tests.alert_helpers import alert_settings, query, wait_until
from tests.browser.world import PASSWORD, World, client, login
from tests.conftest import EXAMPLE_REGISTRY, example_district_database

pytestmark = pytest.mark.services

ANSWERS, SILENT = "310120PB001G01", "310120PB003G01"  # the scenario's two stacks (FX-PB-001, FX-PB-003)
CONTACTS = {"FX-PB-001": "+8613800000011", "FX-PB-003": "+8613800000013"}
# The simulator replays the last 2.5 h in 30 s; the engine closes hours by the wall clock at its tick, so the
# tick waits until the replayed hours are in (at the default 0.2 s every replayed hour would close nearly empty
# and invalid: see the report of this branch).
TICK_SECONDS = 40
DEADLINE_SECONDS = 25  # long enough to answer on a busy machine, short enough to wait for the other
ANSWER = {"cause": "布袋除尘器滤袋破损,粉尘穿透", "measures": "已停熔铅炉,更换破损滤袋并检漏",
          "expected_recovery_at": "2030-01-01T18:00"}


@pytest.fixture
def district_db(stack: StackState, admin_url: str) -> Iterator[str]:
    url = example_district_database(admin_url, "envmon_plant_answer_sim")
    launcher.set_device_credentials(stack, [ANSWERS, SILENT])
    with psycopg.connect(url, autocommit=True) as conn:
        for code, phone in CONTACTS.items():
            conn.execute("UPDATE sites SET contacts = %s WHERE code = %s",
                         (Jsonb([{"name": "环保负责人", "role": "环保负责人", "phone": phone}]), code))
        create_user(conn, username="inspector", role="inspector", password=PASSWORD, actor="test",
                    now=datetime.now(UTC), site_codes=("FX-PB-001",))
    yield url


def _alert_of(url: str, mn: str) -> tuple[int, str]:
    """The alert of this device the plant was asked about (its instantaneous pre-warning is not asked)."""
    rows = query(url, "SELECT a.id, a.rule || ':' || a.severity FROM alerts a JOIN devices d ON d.id = a.device_id"
                      " WHERE d.mn = %s AND EXISTS (SELECT 1 FROM answer_requests r WHERE r.alert_id = a.id)"
                      " ORDER BY a.id", mn)
    return rows[0] if rows else (0, "")


def _timeline(url: str, alert_id: int) -> list[str]:
    return [r[0] for r in query(url, "SELECT reason FROM alert_events WHERE alert_id = %s AND reason LIKE"
                                     " 'answer_%%' ORDER BY id", alert_id)]


def _link(fake: FakeTwilio, phone: str) -> str | None:
    for m in fake.messages:
        found = re.search(r"https://envmon\.example(/a/[A-Za-z0-9_.-]+)", m.body)
        if m.to == phone and found:
            return found.group(1)
    return None


async def _services(settings: Settings, fake: FakeTwilio, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    alerts_service = AlertService(settings)
    # Delivery callbacks go to this alert service, not to the public address in the settings.
    fake.rewrite = lambda public: public.replace("https://envmon.example", f"http://127.0.0.1:{alerts_service.http_port}")
    ingest = IngestService(settings, hj212=False, subscribers=[alerts_service])
    tasks = [asyncio.create_task(alerts_service.run(stop)), asyncio.create_task(ingest.run(stop))]
    assert await asyncio.to_thread(alerts_service.ready.wait, 15)
    assert await asyncio.to_thread(ingest.wait_connected, 10)
    return tasks


def _answer_and_accept(world: World, path: str, alert_id: int) -> None:
    """The plant's contact on a phone (no account), then the inspector of that plant."""
    with client(world) as c:
        form = c.get(path)
        assert form.status_code == 200 and 'id="answer-form"' in form.text
        done = c.post(path, data=ANSWER, headers={"Origin": "https://testserver"})
        assert done.status_code == 200 and 'id="answer-done"' in done.text
    with client(world) as c:
        csrf = login(c, "inspector")
        page = c.get(f"/alerts/{alert_id}")
        assert ANSWER["cause"] in page.text and 'id="answer-accept"' in page.text
        assert ">请企业说明 (" in page.text  # the plant's SMS among the notifications, its reason in words
        r = c.post(f"/alerts/{alert_id}/answer/accept", data={"csrf_token": csrf, "note": "采纳"},
                   follow_redirects=False)
        assert r.status_code == 303


async def _run(stack: StackState, url: str, fake: FakeTwilio) -> None:
    settings = alert_settings(stack, url, fake, ingest_http_port=0, hj212_port=0, ingest_client_id="answer-sim",
                              ingest_publish_batches=False, answer_deadline_seconds=DEADLINE_SECONDS,
                              answer_reminder_seconds=3600, alerts_tick_seconds=TICK_SECONDS)
    # The dashboard with the same secret (the link's signature) and a state folder of its own.
    world = World(url, settings.model_copy(update={"state_dir": Path(tempfile.mkdtemp(prefix="envmon-answer-"))}),
                  {}, {})
    stop = asyncio.Event()
    tasks = await _services(settings, fake, stop)
    sim_settings = load_settings(environment="test", mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER),
                                 state_dir=stack.state_dir, secret_key=stack.secret_key)
    options = RunOptions(registry_path=EXAMPLE_REGISTRY, scenario="plant_answer", speed=300.0, seed=11,
                         devices=(ANSWERS, SILENT), hj212=False)
    sim = asyncio.create_task(SimRunner(sim_settings, options).run(asyncio.Event()))
    try:
        path = await asyncio.to_thread(wait_until, lambda: _link(fake, CONTACTS["FX-PB-001"]), 120)
        assert path, "FX-PB-001's contact got no SMS with a link"
        alert_id, _ = _alert_of(url, ANSWERS)
        await asyncio.to_thread(_answer_and_accept, world, path, alert_id)
        silent_id, _ = _alert_of(url, SILENT)
        assert await asyncio.to_thread(wait_until, lambda: "answer_overdue" in _timeline(url, silent_id),
                                       DEADLINE_SECONDS + 60)
    finally:
        await sim
        stop.set()
        await asyncio.gather(*tasks)


def test_one_plant_answers_and_is_accepted_the_other_goes_overdue(
    stack: StackState, district_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service checks answers every 30 s in production; the scenario's steps are seconds apart.
    monkeypatch.setattr(alerts.service, "ANSWER_CHECK_SECONDS", 0.2)
    with FakeTwilio(auto_callbacks=("sent", "delivered")) as fake:
        asyncio.run(_run(stack, district_db, fake))
        bodies = [(m.to, m.body) for m in fake.messages]
    answered, answered_severity = _alert_of(district_db, ANSWERS)
    silent, silent_severity = _alert_of(district_db, SILENT)
    # Hourly means over the limit are exceedances (not pre-warnings): the plant is asked.
    assert {answered_severity, silent_severity} <= {"hour_avg:exceedance", "hour_avg:severe"}
    assert _timeline(district_db, answered) == ["answer_requested", "answer_submitted", "answer_accepted"]
    assert _timeline(district_db, silent) == ["answer_requested", "answer_overdue"]
    asked = [to for to, body in bodies if body.startswith("【超标说明】")]
    assert sorted(asked) == sorted(CONTACTS.values())  # each contact asked once, through the real SMS path
    overdue = query(district_db, "SELECT count(*) FROM notifications WHERE reason = 'answer_overdue'"
                                 " AND alert_id = %s AND recipient_id IS NOT NULL", silent)
    told = query(district_db, "SELECT detail->>'inspectors_told' FROM alert_events WHERE alert_id = %s"
                              " AND reason = 'answer_overdue'", silent)
    assert overdue == [(int(told[0][0]),)] and overdue[0][0] >= 1  # the inspectors this alert reached
    accepted_by = query(district_db, "SELECT decided_by, state FROM answer_requests WHERE alert_id = %s", answered)
    assert accepted_by == [("inspector", "accepted")]
