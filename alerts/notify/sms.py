"""Sending SMS: the `SmsSender` role, its errors, the console sender, and the retry policy for the outbox.

SendError tells the outbox what a retry can do:
  recoverable=False            permanent (invalid or opted-out number, rejected): mark failed, escalate
  recoverable=True             the request did not land (refused, connect timeout, 429, 5xx): retry with backoff
  recoverable=True, maybe_sent the request may have landed (read timeout, connection lost after sending):
                               retried, but never so often that more than two tries may have landed
                               (SMS are not idempotent: at most twice, never silently dropped after one)
"""

from __future__ import annotations

import logging
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TextIO, runtime_checkable

from alerts.errors import AlertsError

log = logging.getLogger("envmon.alerts.sms")


# Twilio error codes that no retry will fix; the next recipient of the chain is told instead.
PERMANENT_ERROR_CODES: frozenset[int] = frozenset({
    21211,  # invalid 'To' number
    21408,  # no permission to send to this region
    21610,  # the recipient replied STOP (opted out)
    21612,  # 'To' cannot be reached from this sender
    21614,  # 'To' is not a mobile number
    30003,  # unreachable handset
    30004,  # message blocked
    30005,  # unknown destination handset
    30006,  # landline or unreachable carrier
    30007,  # filtered as spam by the carrier
})


def is_permanent_error_code(code: int | str | None) -> bool:
    """True for provider error codes after which the same message to the same number will never arrive."""
    try:
        return code is not None and int(code) in PERMANENT_ERROR_CODES
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider said: its message id (stored as notifications.provider_id) and first status."""

    provider_id: str
    status: str


class SendError(AlertsError):
    """A send that failed; `recoverable` says whether a retry can help, `maybe_sent` whether it may have landed."""

    def __init__(
        self, *, recoverable: bool, code: str | None, message: str, maybe_sent: bool = False,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(f"{code or 'error'}: {message}")
        self.recoverable = recoverable
        self.code = code
        self.message = message
        self.maybe_sent = maybe_sent
        self.retry_after_seconds = retry_after_seconds


class SmsSender(Protocol):
    """Sends one SMS; raises SendError."""

    def send(self, to: str, body: str, *, status_callback: str | None) -> SendResult:
        """Send `body` to `to` (E.164); the provider reports delivery to `status_callback` if given."""
        ...


@runtime_checkable
class SmsLookup(Protocol):
    """A provider that can say whether a message went out (Twilio's message list); raises SendError."""

    def find_sent(self, to: str, body: str, *, since: datetime) -> SendResult | None:
        """The message with this body sent to `to` at or after `since`, None when there is none."""
        ...


class ConsoleSmsSender:
    """Writes each SMS to a stream (stdout) and the log: the demo's sender when no Twilio account is set."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, to: str, body: str, *, status_callback: str | None) -> SendResult:
        """Print the SMS; it counts as sent (there is no delivery report)."""
        provider_id = f"console-{uuid.uuid4().hex[:16]}"  # unique across runs: the outbox keys on it
        stream = self._stream or sys.stdout
        print(f"--- SMS to {to} ({provider_id}) ---\n{body}\n---", file=stream, flush=True)
        log.info("SMS to %s (%s): %s", to, provider_id, body.replace("\n", " | "))
        return SendResult(provider_id, "sent")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for recoverable send errors."""

    base_seconds: float = 2.0
    max_delay_seconds: float = 300.0
    max_attempts: int = 12  # about 40 minutes of trying before the message is given up and escalates
    max_possible_landings: int = 2  # a message that may have landed is sent at most this many times
    # Before asking the provider about a request a crash cut off, let it finish there (> the read timeout).
    lookup_settle_seconds: float = 15.0


def retry_delay_seconds(
    error: SendError, attempts: int, policy: RetryPolicy, *, possible_landings: int = 0
) -> float | None:
    """Seconds until the next attempt after `attempts` tries failed with `error`; None: give up (failed).

    `possible_landings` counts the tries so far (this one included) that may have reached the provider
    (SendError.maybe_sent): once another try could exceed `max_possible_landings`, we stop.
    """
    if not error.recoverable or attempts >= policy.max_attempts:
        return None
    if possible_landings + 1 > policy.max_possible_landings:
        return None
    delay = min(policy.max_delay_seconds, policy.base_seconds * 2.0 ** max(0, attempts - 1))
    if error.retry_after_seconds is not None:
        delay = max(delay, error.retry_after_seconds)
    return delay


class Resend(StrEnum):
    """What to do with a claimed SMS (see `resend_decision`)."""

    SEND = "send"
    WAIT = "wait"  # an interrupted request may still be landing: ask the provider later
    LOOK_UP = "look_up"  # ask the provider whether the interrupted request landed
    RECORD_FOUND = "record_found"  # it landed: record its SID, do not send again
    GIVE_UP = "give_up"  # it may have gone out as often as allowed and nobody can tell: escalate


class Lookup(StrEnum):
    """What the provider said about an interrupted request."""

    NOT_ASKED = "not_asked"
    FOUND = "found"
    NOT_FOUND = "not_found"
    FAILED = "failed"  # the lookup failed, or the provider cannot look messages up


def resend_decision(
    *, unresolved_since: datetime | None, possible_landings: int, lookup: Lookup, now: datetime, policy: RetryPolicy
) -> Resend:
    """Send a claimed SMS, or first find out whether a request a crash cut off already sent it.

    Never a missed SMS: a row that was only claimed is sent; one whose lookup says "not there" is sent. At
    most `max_possible_landings` copies: without an answer from the provider it is sent again only while
    fewer requests than that may have landed; otherwise it gives up (failed, the next step is told).
    """
    if unresolved_since is None:
        return Resend.SEND
    if lookup is Lookup.NOT_ASKED:
        settled = (now - unresolved_since).total_seconds() >= policy.lookup_settle_seconds
        return Resend.LOOK_UP if settled else Resend.WAIT
    if lookup is Lookup.FOUND:
        return Resend.RECORD_FOUND
    if lookup is Lookup.NOT_FOUND or possible_landings < policy.max_possible_landings:
        return Resend.SEND
    return Resend.GIVE_UP
