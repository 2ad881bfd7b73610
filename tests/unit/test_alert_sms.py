"""SMS sending policy: error classification, retry backoff, at most two possible landings, the console sender."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from alerts.notify.sms import (
    ConsoleSmsSender,
    Lookup,
    Resend,
    RetryPolicy,
    SendError,
    is_permanent_error_code,
    resend_decision,
    retry_delay_seconds,
)
from alerts.notify.twilio_sms import is_same_body, rest_error, transport_error

POLICY = RetryPolicy(base_seconds=2, max_delay_seconds=60, max_attempts=6, max_possible_landings=2)


@pytest.mark.parametrize(
    ("status", "code", "recoverable"),
    [
        pytest.param(500, None, True, id="500"),
        pytest.param(503, 20503, True, id="503"),
        pytest.param(429, 20429, True, id="429"),
        pytest.param(400, 21211, False, id="21211-invalid-number"),
        pytest.param(400, 21610, False, id="21610-opted-out"),
        pytest.param(400, 21614, False, id="21614-not-mobile"),
        pytest.param(401, 20003, False, id="bad-credentials"),
        pytest.param(400, 21602, False, id="other-4xx"),
    ],
)
def test_rest_errors(status: int, code: int | None, recoverable: bool) -> None:
    error = rest_error(status, code, "m")
    assert (error.recoverable, error.maybe_sent) == (recoverable, False)


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "maybe_sent"),
    [
        pytest.param(refused(), False, id="refused-never-landed"),
        pytest.param(requests.ConnectTimeout("connect timed out"), False, id="connect-timeout-never-landed"),
        pytest.param(requests.ReadTimeout("read timed out"), True, id="read-timeout-may-have-landed"),
        pytest.param(requests.ConnectionError(ProtocolError("Connection aborted.")), True, id="dropped-after-send"),
    ],
)
def test_transport_errors_are_recoverable_and_say_whether_they_may_have_landed(exc: requests.RequestException, maybe_sent: bool) -> None:
    error = transport_error(exc)
    assert (error.recoverable, error.maybe_sent) == (True, maybe_sent)


def err(recoverable: bool = True, maybe_sent: bool = False, retry_after: float | None = None) -> SendError:
    return SendError(recoverable=recoverable, code="x", message="m", maybe_sent=maybe_sent, retry_after_seconds=retry_after)


@pytest.mark.parametrize(
    ("error", "attempts", "landings", "delay"),
    [
        pytest.param(err(), 1, 0, 2.0, id="first-retry"),
        pytest.param(err(), 3, 0, 8.0, id="exponential"),
        pytest.param(err(), 5, 0, 32.0, id="fifth"),
        pytest.param(err(), 6, 0, None, id="gives-up-after-max-attempts"),
        pytest.param(err(recoverable=False), 1, 0, None, id="permanent-never-retried"),
        pytest.param(err(maybe_sent=True), 1, 1, 2.0, id="maybe-sent-retried-once"),
        pytest.param(err(maybe_sent=True), 2, 2, None, id="two-possible-landings-stop"),
        pytest.param(err(), 3, 1, 8.0, id="after-one-possible-landing-plain-errors-still-retry"),
        pytest.param(err(retry_after=30), 1, 0, 30.0, id="retry-after-honoured"),
    ],
)
def test_retry_delay(error: SendError, attempts: int, landings: int, delay: float | None) -> None:
    assert retry_delay_seconds(error, attempts, POLICY, possible_landings=landings) == delay


def test_backoff_is_capped() -> None:
    assert retry_delay_seconds(err(), 5, RetryPolicy(base_seconds=10, max_delay_seconds=60)) == 60


@pytest.mark.parametrize(
    ("code", "permanent"),
    [pytest.param(21211, True, id="int"), pytest.param("30007", True, id="text"), pytest.param("30001", False, id="transient"),
     pytest.param("abc", False, id="garbage"), pytest.param(None, False, id="none")],
)
def test_permanent_error_codes(code: int | str | None, permanent: bool) -> None:
    assert is_permanent_error_code(code) is permanent


def test_console_sender_prints_each_sms_with_its_own_id() -> None:
    out = io.StringIO()
    sender = ConsoleSmsSender(out)
    first = sender.send("+8613900000001", "【超标】总铬\n告警码CE5Y5Q", status_callback=None)
    second = sender.send("+8613900000002", "second", status_callback=None)
    assert (first.status, first.provider_id != second.provider_id) == ("sent", True)
    assert "+8613900000001" in out.getvalue() and "【超标】总铬\n告警码CE5Y5Q" in out.getvalue()


NOW = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
SETTLE = RetryPolicy(max_possible_landings=2, lookup_settle_seconds=15)


@pytest.mark.parametrize(
    ("started_seconds_ago", "landings", "lookup", "expected"),
    [
        # Claimed into memory and never started (the case that made the naive fix miss SMS): always sent.
        pytest.param(None, 0, Lookup.NOT_ASKED, Resend.SEND, id="only-claimed"),
        pytest.param(None, 2, Lookup.NOT_ASKED, Resend.SEND, id="only-claimed-after-two-timeouts-is-not-a-landing"),
        pytest.param(60, 1, Lookup.NOT_ASKED, Resend.LOOK_UP, id="interrupted-mid-request-asks-first"),
        pytest.param(15, 1, Lookup.NOT_ASKED, Resend.LOOK_UP, id="settled-exactly"),
        pytest.param(5, 1, Lookup.NOT_ASKED, Resend.WAIT, id="request-may-still-be-landing"),
        pytest.param(60, 1, Lookup.FOUND, Resend.RECORD_FOUND, id="landed-record-sid"),
        pytest.param(60, 2, Lookup.FOUND, Resend.RECORD_FOUND, id="landed-after-two-crashes"),
        pytest.param(60, 2, Lookup.NOT_FOUND, Resend.SEND, id="provider-says-not-landed"),
        pytest.param(60, 1, Lookup.FAILED, Resend.SEND, id="no-answer-one-possible-copy-second-allowed"),
        pytest.param(60, 2, Lookup.FAILED, Resend.GIVE_UP, id="no-answer-two-possible-copies-no-third"),
        pytest.param(60, 3, Lookup.FAILED, Resend.GIVE_UP, id="no-answer-beyond-the-limit"),
    ],
)
def test_resend_decision(started_seconds_ago: int | None, landings: int, lookup: Lookup, expected: Resend) -> None:
    since = None if started_seconds_ago is None else NOW - timedelta(seconds=started_seconds_ago)
    decision = resend_decision(unresolved_since=since, possible_landings=landings, lookup=lookup, now=NOW, policy=SETTLE)
    assert decision is expected


@pytest.mark.parametrize(
    ("listed", "sent", "same"),
    [
        pytest.param("【超标】总铬 1.5mg/L", "【超标】总铬 1.5mg/L", True, id="equal"),
        pytest.param("【超标】总铬 1.5mg/L\nReply STOP to unsubscribe", "【超标】总铬 1.5mg/L", True, id="opt-out-appended"),
        pytest.param("【超标】总铬 1.5mg/L", "【超标】总铬 1.5mg/L\n", True, id="trailing-newline"),
        pytest.param("【超标】总铬 9.9mg/L", "【超标】总铬 1.5mg/L", False, id="other-value"),
        pytest.param("anything", "  ", False, id="empty-body-matches-nothing"),
    ],
)
def test_is_same_body(listed: str, sent: str, same: bool) -> None:
    assert is_same_body(listed, sent) is same
