"""The outbox sender: takes due SMS, sends them through the SmsSender, records what happened.

Recoverable errors are retried with backoff (alerts.sms.retry_delay_seconds); permanent ones mark
the row failed, and the planner tells the next step of the chain at once. The sender is woken
right after a step commits new rows, so the first SMS leaves within milliseconds of the reading.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import psycopg

from alerts.callbacks import TWILIO_STATUS
from alerts.metrics import AlertMetrics
from alerts.outbox import ClaimedSms, claim_due, mark_failed, mark_retry, mark_sent, reset_interrupted
from alerts.sms import RetryPolicy, SendError, SmsSender, retry_delay_seconds

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class OutboxSender:
    """Sends due notifications on its own thread (`run`) until stopped."""

    def __init__(
        self, database_url: str, sender: SmsSender, metrics: AlertMetrics, *, status_callback: str | None,
        on_failed: Callable[[], None] = lambda: None, retry: RetryPolicy | None = None, source: str = "alerts",
    ) -> None:
        self._url = database_url
        self._sender = sender
        self._metrics = metrics
        self._status_callback = status_callback
        self._on_failed = on_failed
        self._retry = retry or RetryPolicy()
        self._source = source  # which outbox rows this sender takes ('alerts' or 'watchdog')
        self._wake = threading.Event()
        self._handed: queue.SimpleQueue[ClaimedSms] = queue.SimpleQueue()
        self._conn: psycopg.Connection | None = None
        self.failing_since: float | None = None  # monotonic time the outbox became unreachable (health)

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
                conn = self._connection()
                if first:
                    with conn.transaction():
                        resent = reset_interrupted(conn, self._source)
                    if resent:
                        log.warning("%d SMS interrupted by a stop will be sent again", resent)
                    first = False
                while self._send_due(conn) and not stop.is_set():
                    pass
                self.failing_since = None
            except psycopg.Error as exc:
                log.warning("outbox unavailable (will retry): %s", exc)
                self.failing_since = self.failing_since or time.monotonic()
                self._drop()
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
        self._drop()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, application_name="envmon-sms", connect_timeout=5, autocommit=True)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _send_due(self, conn: psycopg.Connection) -> bool:
        """Send what was handed over, then one round of due rows; True when there may be more."""
        while not self._handed.empty():
            self._send_one(conn, self._handed.get())
        claimed = claim_due(conn, datetime.now(UTC), source=self._source)
        for sms in claimed:
            self._send_one(conn, sms)
        return len(claimed) > 0

    def _send_one(self, conn: psycopg.Connection, sms: ClaimedSms) -> None:
        try:
            result = self._sender.send(sms.phone, sms.body, status_callback=self._status_callback)
        except SendError as exc:
            self._failed(conn, sms, exc)
            return
        except Exception as exc:  # a provider bug: it may have sent; retried as such, never a dead sender
            log.error("SMS %d: the sender failed unexpectedly: %r", sms.id, exc, exc_info=True)
            self._failed(conn, sms, SendError(recoverable=True, code=None, message=repr(exc)[:500], maybe_sent=True))
            return
        # Twilio answers "queued" (accepted, not yet out): for the outbox that is sent; callbacks move it on.
        status = TWILIO_STATUS.get(result.status, "sent")
        mark_sent(conn, sms.id, result.provider_id, status, datetime.now(UTC))
        self._metrics.notifications.labels("sent").inc()

    def _failed(self, conn: psycopg.Connection, sms: ClaimedSms, exc: SendError) -> None:
        landings = sms.possible_landings + int(exc.maybe_sent)
        delay = retry_delay_seconds(exc, sms.attempts, self._retry, possible_landings=landings)
        if delay is None:
            log.error("SMS %d to %s failed for good (%s): escalating", sms.id, sms.phone, exc)
            mark_failed(conn, sms.id, error=exc.message, code=exc.code)
            self._metrics.notifications.labels("failed").inc()
            self._on_failed()
            return
        log.warning("SMS %d to %s failed (%s): retry in %.0f s", sms.id, sms.phone, exc, delay)
        mark_retry(conn, sms.id, error=exc.message, code=exc.code, delay_seconds=delay, maybe_sent=exc.maybe_sent,
                   now=datetime.now(UTC))
        self._metrics.notifications.labels("retry").inc()
