"""A sender killed while Twilio holds its answer, then restarted: the SMS arrives at least once, at most twice.

The sender runs in a child process (the real OutboxSender, the real twilio client, the fake Twilio) and is
killed with SIGKILL once the fake has the message, so the outbox row is left exactly as a crash leaves it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from alerts.metrics import AlertMetrics
from alerts.notify.fake_twilio import FakeTwilio
from alerts.notify.sender import OutboxSender
from alerts.notify.sms import RetryPolicy
from alerts.notify.twilio_sms import TwilioSmsSender
from tests.patience import patience

TO = "+8613998369006"
BODY = "【超标】总铬 1.5mg/L 告警码CE5Y5Q"
POLICY = RetryPolicy(base_seconds=0.01, max_delay_seconds=0.05, lookup_settle_seconds=0.0)
ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import sys, threading
from alerts.metrics import AlertMetrics
from alerts.notify.sender import OutboxSender
from alerts.notify.sms import RetryPolicy
from alerts.notify.twilio_sms import TwilioSmsSender
url, base, sid, token = sys.argv[1:5]
sms = TwilioSmsSender(account_sid=sid, auth_token=token, api_base_url=base, from_number="+15005550006",
                      read_timeout_seconds=120)
policy = RetryPolicy(base_seconds=0.01, max_delay_seconds=0.05, lookup_settle_seconds=0.0)
OutboxSender(url, sms, AlertMetrics(), status_callback=None, retry=policy).run(threading.Event())
"""


def add_sms(url: str, status: str = "pending", request_started: bool = False, started_seconds_ago: float = 60) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO notifications (phone, reason, body, status, attempts, request_started_at)"
            " VALUES (%s, 'new', %s, %s, %s, CASE WHEN %s THEN now() - make_interval(secs => %s) END) RETURNING id",
            [TO, BODY, status, int(status == "sending"), request_started, started_seconds_ago],
        ).fetchone()
    assert row is not None
    return int(row[0])


def row_of(url: str, notification_id: int) -> tuple[str, str | None, int, int, str | None]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT status, provider_id, attempts, possible_landings, last_error FROM notifications WHERE id = %s",
            [notification_id],
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3], row[4]


def wait_for_final(url: str, notification_id: int, timeout_seconds: float = 20.0) -> tuple[str, str | None, int, int, str | None]:
    """Poll the row until the sender recorded an outcome ('sent' or 'failed')."""
    deadline = time.monotonic() + patience(timeout_seconds)
    while (row := row_of(url, notification_id))[0] not in ("sent", "failed"):
        assert time.monotonic() < deadline, f"no outcome recorded: {row}"
        time.sleep(0.05)
    return row


def crash_while_held(url: str, fake: FakeTwilio, messages: int) -> None:
    """Run a sender in a child process; kill it once the fake has its `messages`-th message (answer held)."""
    fake.hang_next(1, seconds=120)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, fake.base_url, fake.account_sid, fake.auth_token], cwd=ROOT, env=env
    )
    try:
        fake.wait_for_messages(messages, timeout_seconds=30)
    finally:
        child.kill()
        child.wait()


def restart(
    url: str, fake: FakeTwilio, notification_id: int, policy: RetryPolicy = POLICY
) -> tuple[str, str | None, int, int, str | None]:
    """A fresh sender in this process until the row has an outcome."""
    sms = TwilioSmsSender(account_sid=fake.account_sid, auth_token=fake.auth_token, api_base_url=fake.base_url,
                          from_number="+15005550006", read_timeout_seconds=5)
    stop = threading.Event()
    sender = OutboxSender(url, sms, AlertMetrics(), status_callback=None, retry=policy)
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    try:
        return wait_for_final(url, notification_id)
    finally:
        stop.set()
        sender.wake()
        thread.join(10)
        sms.close()


def test_a_message_that_landed_before_the_crash_is_found_and_not_sent_again(database_url: str, fake: FakeTwilio) -> None:
    notification_id = add_sms(database_url)
    crash_while_held(database_url, fake, messages=1)
    status, provider_id, _, _, _ = restart(database_url, fake, notification_id)
    assert [m.body for m in fake.messages] == [BODY]
    assert (status, provider_id) == ("sent", fake.messages[0].sid)
    assert fake.lookups == 1


def test_two_crashes_without_lookups_send_twice_then_escalate_with_the_reason(database_url: str, fake: FakeTwilio) -> None:
    fake.fail_lookups(100)
    notification_id = add_sms(database_url)
    crash_while_held(database_url, fake, messages=1)
    crash_while_held(database_url, fake, messages=2)  # lookup failed: one possible copy, a second is allowed
    status, provider_id, _, landings, error = restart(database_url, fake, notification_id)
    assert len(fake.messages) == 2  # the old sender sent a third copy here
    assert (status, provider_id, landings) == ("failed", None, 2)
    assert error is not None and "may have been sent 2 times" in error


def test_two_crashes_the_second_found_by_lookup(database_url: str, fake: FakeTwilio) -> None:
    fake.fail_lookups(1)  # the first restart cannot ask, so it sends a second copy (and is killed)
    notification_id = add_sms(database_url)
    crash_while_held(database_url, fake, messages=1)
    crash_while_held(database_url, fake, messages=2)
    status, provider_id, _, _, _ = restart(database_url, fake, notification_id)
    assert len(fake.messages) == 2
    assert (status, provider_id) == ("sent", fake.messages[1].sid)  # the newest copy: Twilio lists newest first


@pytest.mark.parametrize(
    ("request_started", "lookups"),
    [
        pytest.param(False, 0, id="only-claimed-never-started-is-sent-without-asking"),
        pytest.param(True, 1, id="started-but-never-landed-is-sent-after-asking"),
    ],
)
def test_a_row_left_sending_that_never_went_out_is_sent_once(
    database_url: str, fake: FakeTwilio, request_started: bool, lookups: int
) -> None:
    notification_id = add_sms(database_url, status="sending", request_started=request_started)
    status, provider_id, _, landings, _ = restart(database_url, fake, notification_id)
    assert len(fake.messages) == 1
    assert (status, provider_id, landings) == ("sent", fake.messages[0].sid, 0)
    assert fake.lookups == lookups


def test_a_request_cut_off_moments_ago_is_looked_up_only_after_it_could_settle(
    database_url: str, fake: FakeTwilio
) -> None:
    notification_id = add_sms(database_url, status="sending", request_started=True, started_seconds_ago=0)
    started = time.monotonic()
    status, _, _, _, _ = restart(database_url, fake, notification_id, replace(POLICY, lookup_settle_seconds=1.0))
    assert time.monotonic() - started >= 0.9  # deferred, not looked up at once
    assert (status, len(fake.messages), fake.lookups) == ("sent", 1, 1)
