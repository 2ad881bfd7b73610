"""The outbox sender: takes due SMS, sends them through the SmsSender, records what happened.

Recoverable errors are retried with backoff (alerts.notify.sms.retry_delay_seconds); permanent ones mark
the row failed, and the planner tells the next step of the chain at once. The sender is woken
right after a step commits new rows, so the first SMS leaves within milliseconds of the reading.

SMS are not idempotent, so each request's start is committed before it goes out (mark_request_started).
A row a crash cut off mid-request is looked up at the provider before it is sent again
(alerts.notify.sms.resend_decision): found, its SID is recorded; not found, it is sent; no answer, it is sent
again only while fewer than two requests may have landed, else it fails and the next step is told.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg

from alerts.metrics import AlertMetrics
from alerts.notify.callbacks import TWILIO_STATUS
from alerts.notify.outbox import (
    ClaimedSms,
    claim_due,
    defer,
    mark_failed,
    mark_not_landed,
    mark_request_started,
    mark_retry,
    mark_sent,
    reset_interrupted,
)
from alerts.notify.sms import (
    Lookup,
    Resend,
    RetryPolicy,
    SendError,
    SendResult,
    SmsLookup,
    SmsSender,
    resend_decision,
    retry_delay_seconds,
)
from envmon.db import Reconnecting

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class OutboxSender:
    """Sends due notifications on its own thread (`run`) until stopped."""

    def __init__(
        self, database_url: str, sender: SmsSender, metrics: AlertMetrics, *, status_callback: str | None,
        on_failed: Callable[[], None] = lambda: None, retry: RetryPolicy | None = None, source: str = "alerts",
    ) -> None:
        self._db = Reconnecting(database_url, application="envmon-sms", autocommit=True)
        self._sender = sender
        self._metrics = metrics
        self._status_callback = status_callback
        self._on_failed = on_failed
        self._retry = retry or RetryPolicy()
        self._source = source  # which outbox rows this sender takes ('alerts' or 'watchdog')
        self._wake = threading.Event()
        self._handed: queue.SimpleQueue[ClaimedSms] = queue.SimpleQueue()

    @property
    def failing_since(self) -> float | None:
        """Monotonic time the outbox became unreachable (health); None while it answers."""
        return self._db.retrying_since

    def wake(self) -> None:
        """New rows are due: look now rather than at the next poll."""
        self._wake.set()

    def hand(self, taken: Sequence[ClaimedSms]) -> None:
        """Send these rows (already marked 'sending' by the step that wrote them) right away."""
        for sms in taken:
            self._handed.put(sms)
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Send until `stop` is set; database trouble is logged and retried."""
        first = True
        while not stop.is_set():
            try:
                conn = self._db.connection()
                if first:
                    with conn.transaction():
                        resent = reset_interrupted(conn, self._source)
                    if resent:
                        log.warning("%d SMS interrupted by a stop will be sent again", resent)
                    first = False
                while self._send_due(conn) and not stop.is_set():
                    pass
                self._db.succeeded()
            except psycopg.Error as exc:
                log.warning("outbox unavailable (will retry): %s", exc)
                self._db.failed()
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
        self._db.close()

    def _send_due(self, conn: psycopg.Connection) -> bool:
        """Send what was handed over, then one round of due rows; True when there may be more."""
        while not self._handed.empty():
            self._send_one(conn, self._handed.get())
        claimed = claim_due(conn, datetime.now(UTC), source=self._source)
        for sms in claimed:
            self._send_one(conn, sms)
        return len(claimed) > 0

    def _decide(self, sms: ClaimedSms) -> tuple[Resend, Lookup, SendResult | None, str | None]:
        """resend_decision, asking the provider once when it says so: (step, lookup, found, lookup error)."""
        lookup, found, lookup_error = Lookup.NOT_ASKED, None, None
        step = resend_decision(unresolved_since=sms.unresolved_since, possible_landings=sms.possible_landings,
                               lookup=lookup, now=datetime.now(UTC), policy=self._retry)
        if step is Resend.LOOK_UP:
            lookup, found, lookup_error = self._look_up(sms)
            step = resend_decision(unresolved_since=sms.unresolved_since, possible_landings=sms.possible_landings,
                                   lookup=lookup, now=datetime.now(UTC), policy=self._retry)
        return step, lookup, found, lookup_error

    def _send_one(self, conn: psycopg.Connection, sms: ClaimedSms) -> None:
        step, lookup, found, lookup_error = self._decide(sms)
        if step is Resend.SEND:
            if lookup is Lookup.NOT_FOUND:
                mark_not_landed(conn, sms.id)
                sms = replace(sms, possible_landings=max(0, sms.possible_landings - 1), unresolved_since=None)
                log.warning("SMS %d: the interrupted request did not reach the provider: sending", sms.id)
            self._send(conn, sms)
        elif step is Resend.RECORD_FOUND and found is not None:
            log.warning("SMS %d: the interrupted request had landed (%s): not sent again", sms.id, found.provider_id)
            self._record(conn, sms, found)
        elif step is Resend.WAIT and sms.unresolved_since is not None:
            until = sms.unresolved_since + timedelta(seconds=self._retry.lookup_settle_seconds)
            defer(conn, sms.id, until=until, error=None)
        else:
            reason = (f"may have been sent {sms.possible_landings} times and the provider cannot tell"
                      f" ({lookup_error or 'no lookup'}): not sent again")
            self._give_up(conn, sms, SendError(recoverable=False, code="unverified", message=reason))

    def _look_up(self, sms: ClaimedSms) -> tuple[Lookup, SendResult | None, str | None]:
        """Ask the provider whether an interrupted request for this SMS landed."""
        if not isinstance(self._sender, SmsLookup) or sms.unresolved_since is None:
            return Lookup.FAILED, None, "the provider cannot look messages up"
        try:
            found = self._sender.find_sent(sms.phone, sms.body, since=sms.unresolved_since)
        except Exception as exc:  # SendError or a provider bug: either way no answer
            log.warning("SMS %d: looking up the interrupted request failed: %r", sms.id, exc)
            return Lookup.FAILED, None, repr(exc)[:300]
        return (Lookup.FOUND, found, None) if found is not None else (Lookup.NOT_FOUND, None, None)

    def _send(self, conn: psycopg.Connection, sms: ClaimedSms) -> None:
        # Committed before the request: after a crash from here on, the row may have been sent.
        mark_request_started(conn, sms.id, datetime.now(UTC))
        try:
            result = self._sender.send(sms.phone, sms.body, status_callback=self._status_callback)
        except SendError as exc:
            self._failed(conn, sms, exc)
            return
        except Exception as exc:  # a provider bug: it may have sent; retried as such, never a dead sender
            log.error("SMS %d: the sender failed unexpectedly: %r", sms.id, exc, exc_info=True)
            self._failed(conn, sms, SendError(recoverable=True, code=None, message=repr(exc)[:500], maybe_sent=True))
            return
        self._record(conn, sms, result)

    def _record(self, conn: psycopg.Connection, sms: ClaimedSms, result: SendResult) -> None:
        # Twilio answers "queued" (accepted, not yet out): for the outbox that is sent; callbacks move it on.
        status = TWILIO_STATUS.get(result.status, "sent")
        mark_sent(conn, sms.id, result.provider_id, status, datetime.now(UTC))
        self._metrics.notifications.labels("sent").inc()

    def _failed(self, conn: psycopg.Connection, sms: ClaimedSms, exc: SendError) -> None:
        landings = sms.possible_landings + int(exc.maybe_sent)
        delay = retry_delay_seconds(exc, sms.attempts, self._retry, possible_landings=landings)
        if delay is None:
            self._give_up(conn, sms, exc)
            return
        log.warning("SMS %d to %s failed (%s): retry in %.0f s", sms.id, sms.phone, exc, delay)
        mark_retry(conn, sms.id, error=exc.message, code=exc.code, delay_seconds=delay, maybe_sent=exc.maybe_sent,
                   now=datetime.now(UTC))
        self._metrics.notifications.labels("retry").inc()

    def _give_up(self, conn: psycopg.Connection, sms: ClaimedSms, exc: SendError) -> None:
        log.error("SMS %d to %s failed for good (%s): escalating", sms.id, sms.phone, exc)
        mark_failed(conn, sms.id, error=exc.message, code=exc.code)
        self._metrics.notifications.labels("failed").inc()
        self._on_failed()
