"""`envmon watchdog`: the dead man's switch that pages the on-call administrators when envmon itself is blind.

A small process of its own (also a task of `envmon demo`) that needs only PostgreSQL and the SMS provider:
every `watchdog_interval_seconds` it reads the heartbeats ingest and the alert engine write
(envmon/heartbeat.py) and how many of each district's devices are silent, decides with alerts/platform.py,
and writes one SMS per fault and one per recovery to the recipients whose registry role is
`watchdog_recipient_role`, through the outbox (rows with source 'watchdog') and a sender of its own, so it
pages while the alert service is down, at least once and never twice per episode.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime

import psycopg

from alerts import platform_store
from alerts.metrics import AlertMetrics
from alerts.notify.callbacks import STATUS_CALLBACK_PATH, public_url
from alerts.notify.render import render_platform_sms
from alerts.notify.sender import OutboxSender
from alerts.notify.sms import SmsSender
from alerts.notify.twilio_sms import sms_sender_from_settings
from alerts.platform import Cause, Decision, Episode, WatchdogPolicy, decide, district_causes, service_causes
from envmon.db import Backoff, Reconnecting
from envmon.settings import Settings

log = logging.getLogger(__name__)
# Heartbeats and devices not heard of for a day are forgotten (decommissioned instances, retired devices).
FORGET_SECONDS = 86400.0
RETRY_MAX_SECONDS = 30.0


def watchdog_policy(settings: Settings) -> WatchdogPolicy:
    """The fault policy from the settings."""
    return WatchdogPolicy(
        services=tuple(settings.watchdog_services), stale_seconds=settings.watchdog_stale_seconds,
        district_silent_fraction=settings.watchdog_district_silent_fraction,
        district_min_silent_devices=settings.watchdog_district_min_silent_devices,
        recovery_hold_seconds=settings.watchdog_recovery_hold_seconds,
    )


class Watchdog:
    """Checks the platform on a thread of its own and sends its SMS on another; a demo component."""

    name = "watchdog"

    def __init__(self, settings: Settings, *, sender: SmsSender | None = None) -> None:
        self._settings = settings
        self._url = settings.require_database_url()
        self.policy = watchdog_policy(settings)
        self.metrics = AlertMetrics()
        callback = public_url(settings, STATUS_CALLBACK_PATH) if settings.twilio_account_sid else None
        self.outbox = OutboxSender(self._url, sender or sms_sender_from_settings(settings), self.metrics,
                                   status_callback=callback, source="watchdog")
        self._started: datetime | None = None
        self._db = Reconnecting(self._url, application="envmon-watchdog", autocommit=True,
                                backoff=Backoff(first_seconds=1.0, max_seconds=RETRY_MAX_SECONDS))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failure: str | None = None

    # ----- one check ----------------------------------------------------------------------------

    def check(self, now: datetime) -> Decision:
        """Look once and act: open, update, calm or recover the platform fault (committed with its SMS)."""
        self._started = self._started or now
        conn = self._db.connection()
        with conn.transaction():
            platform_store.lock_watchdog(conn)
            episode = platform_store.open_fault(conn, lock=True)
            decision, changed = decide(episode, self._causes(conn, now), now, self.policy)
            if changed is not None and decision != "none":
                changed = platform_store.save_episode(conn, changed, now)
                self._page(conn, decision, changed, now)
        if decision in ("open", "recover"):
            self.outbox.wake()
        return decision

    def _causes(self, conn: psycopg.Connection, now: datetime) -> list[Cause]:
        """What is wrong now. Right after a start, services may not have beaten yet and devices not reported
        since the platform was last stopped: each is judged once it had the time to show it is alive."""
        assert self._started is not None
        running_seconds = (now - self._started).total_seconds()
        silent_seconds = self._settings.watchdog_device_silent_seconds
        causes: list[Cause] = []
        if running_seconds >= self.policy.stale_seconds:
            causes += service_causes(platform_store.load_beats(conn, now, FORGET_SECONDS), self.policy, now)
        if running_seconds >= silent_seconds:
            silences = platform_store.load_district_silence(conn, now, silent_seconds=silent_seconds,
                                                            forget_seconds=FORGET_SECONDS)
            causes += district_causes(silences, self.policy)
        return causes

    def _page(self, conn: psycopg.Connection, decision: Decision, episode: Episode, now: datetime) -> None:
        """Log every change; on opening and on recovery, queue one SMS to each on-call administrator."""
        causes = [(c.kind, c.subject, c.detail) for c in episode.causes]
        log.log(logging.ERROR if decision == "open" else logging.WARNING, "platform fault %s: %s (%s)",
                episode.id, decision, "; ".join(f"{k} {s} {d}" for k, s, d in causes) or "calm")
        if decision not in ("open", "recover"):
            return
        assert episode.id is not None
        people = platform_store.on_call(conn, self._settings.watchdog_recipient_role)
        if not people:
            log.error("platform fault %s: no active recipient has role %r; nobody can be paged", episode.id,
                      self._settings.watchdog_recipient_role)
        held = episode.all_districts or bool(episode.districts)
        messages = [
            (p, render_platform_sms(causes, recovered=decision == "recover", opened_at=episode.opened_at, now=now,
                                    held_back=held, locale=p.locale, zone=self._settings.zone))
            for p in people
        ]
        reason = "platform_fault" if decision == "open" else "platform_recovered"
        platform_store.insert_platform_sms(conn, episode.id, messages, reason, now)

    def _database_now(self) -> datetime:
        """The database's clock: heartbeats are stamped with it, so other hosts' clocks do not matter."""
        row = self._db.connection().execute("SELECT now()").fetchone()
        return row[0] if row else datetime.now(UTC)

    # ----- running ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check(self._database_now())
                self._db.succeeded()
                self._stop.wait(self._settings.watchdog_interval_seconds)
            except Exception as exc:  # the dead man's switch must outlive any one bad check: log, retry
                delay = self._db.failed()
                if isinstance(exc, psycopg.Error):
                    log.warning("watchdog cannot reach the database (will retry in %.0f s): %s", delay, exc)
                else:
                    log.exception("watchdog check failed (will retry in %.0f s)", delay)
                self._stop.wait(delay)
        self._db.close()

    def start(self) -> None:
        """Start checking and sending."""
        self._threads = [
            threading.Thread(target=self._loop, name="watchdog-check", daemon=True),
            threading.Thread(target=self.outbox.run, args=(self._stop,), name="watchdog-sms", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("watchdog running: services %s, pages role %r", ", ".join(self.policy.services),
                 self._settings.watchdog_recipient_role)

    def shutdown(self) -> None:
        """Stop both threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def alive(self) -> bool:
        """True while both threads run."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    async def run(self, stop: asyncio.Event) -> None:
        """Run as a component until `stop` is set."""
        self.start()
        try:
            while not stop.is_set() and self.alive():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    continue
            if not stop.is_set():
                self.failure = "a watchdog thread died: " + ", ".join(t.name for t in self._threads if not t.is_alive())
        finally:
            await asyncio.to_thread(self.shutdown)


def run_watchdog(settings: Settings) -> int:
    """`envmon watchdog`: run until SIGINT/SIGTERM; 1 (logged) if a thread of it died, for systemd to restart it."""
    from envmon.runtime import run_components

    watchdog = Watchdog(settings)
    asyncio.run(run_components([watchdog]))
    if watchdog.failure is not None:
        log.critical("watchdog exit: %s", watchdog.failure)
        return 1
    return 0
