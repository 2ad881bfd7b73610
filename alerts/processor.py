"""One alert step: engine transitions -> lifecycle -> notification plan -> one committed transaction.

The processor owns the engine and a database connection, and runs on one thread. A step writes the
alert rows, their events, the outbox rows and (when anything changed) the engine snapshot in one
transaction: after a crash the database holds all of a step or none of it, and the engine restarts
from the snapshot that matches the alerts. Acknowledgements made elsewhere (SMS replies, the CLI,
the dashboard) change alert rows only; every step reads the rows it needs, so it sees them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg

from alerts import store
from alerts.lifecycle import AlertRecord, Outcome, on_transition
from alerts.model import Transition
from alerts.notify.directory import RoutingData, load_routing
from alerts.notify.escalation import NotifyPolicy
from alerts.notify.heard import NO_RECIPIENT
from alerts.notify.outbox import ClaimedSms, insert_notifications, load_sent
from alerts.planner import LinkMaker, no_link, plan_step, select_active, sent_lookback
from alerts.platform_store import open_fault
from alerts.rules.engine import Engine
from alerts.rules.policy import Policy
from alerts.rules.registry import EngineRegistry, load_engine_registry
from envmon.columns import ReadingColumns
from envmon.db import connect_url
from envmon.settings import Settings

log = logging.getLogger(__name__)
# Save the snapshot at least this often while readings flow, so a restart replays little.
SNAPSHOT_SECONDS = 5.0
# Hold progress alone (no alert changed) is saved at most this often; see `AlertProcessor.checkpoint`.
HOLD_SNAPSHOT_SECONDS = 1.0
ROUTING_REFRESH_SECONDS = 30.0


@dataclass
class StepResult:
    """What a committed step did, for the service to act on after the commit."""

    transitions: int = 0
    opened: tuple[int, ...] = ()
    changed: tuple[int, ...] = ()
    to_send: tuple[ClaimedSms, ...] = ()
    active_alerts: int | None = None  # set when the step planned notifications


class AlertProcessor:
    """Runs engine steps against the database (one thread)."""

    def __init__(
        self, settings: Settings, policy: Policy, *, shard: str = "*", link: LinkMaker | None = None,
        notify_policy: NotifyPolicy | None = None, monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._monotonic = monotonic
        self._policy = policy
        self._shard = shard
        self._link = link or no_link
        self._notify_policy = notify_policy or NotifyPolicy()
        self._conn: psycopg.Connection | None = None
        self.engine: Engine | None = None
        self.registry: EngineRegistry | None = None
        self._routing: RoutingData | None = None
        self._routing_at = float("-inf")
        self._snapshot_at = float("-inf")
        self._dirty = False
        self._saved_revision = 0
        # When the snapshot the engine stands on was saved (None: none yet), and whether the readings stored
        # since then (alerts/catchup.py) are still to be evaluated: after every rebuild from the snapshot.
        self.saved_at: datetime | None = None
        self.catch_up_pending = True
        self._reload = threading.Event()
        # When the engine last took a registry change (monotonic), for tests and logs.
        self.registry_loaded_at = float("-inf")

    # ----- connection and state ---------------------------------------------------------------

    def connect(self) -> None:
        """(Re)connect and rebuild the engine from the registry and its last snapshot."""
        self.close()
        # Autocommit: every step opens its own transaction block, so nothing is left half open.
        conn = connect_url(self._settings.require_database_url(), application="envmon-alerts", autocommit=True)
        self._conn = conn
        self._reload.clear()  # before reading: a change committed after this read is announced again
        self.registry = shard_registry(load_engine_registry(conn), self._shard)
        self.registry_loaded_at = self._monotonic()
        snap = store.load_snapshot(conn, self._shard)
        self.saved_at = store.snapshot_saved_at(conn, self._shard) if snap else None
        self.catch_up_pending = True
        self.engine = Engine(self.registry, self._policy, snap)
        # Silence counts from what ingest last stored, not from this (re)start: a crash loop stays heard;
        # a time the whole platform was down counts for no device (no district-wide flood on a cold start).
        self.engine.seed_last_seen(store.stored_last_seen(conn), alive_s=store.ingest_alive_s(conn))
        self._saved_revision = self.engine.revision
        self._routing_at = float("-inf")
        # Limit rows (as `registry check` and the demo banner count them) matched to each device that measures
        # their pollutant.
        log.info("alert engine ready: %d devices, %d device limits, %s", len(self.registry.devices),
                 len(self.registry.limits), "resumed from its snapshot" if snap else "fresh state")

    def close(self) -> None:
        """Drop the connection (state is rebuilt on the next connect)."""
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def request_reload(self) -> None:
        """The registry changed (any thread): the engine thread reloads it before its next step."""
        self._reload.set()

    @property
    def needs_catch_up(self) -> bool:
        """Whether the next step rebuilds the engine from its snapshot, or the last rebuild was not caught up."""
        return self.catch_up_pending or self._conn is None or self._conn.closed or self.engine is None

    def device_ids(self) -> list[int]:
        """The devices this engine judges (connecting first when needed)."""
        self._ready()
        assert self.registry is not None
        return sorted(self.registry.devices)

    def _ready(self) -> tuple[psycopg.Connection, Engine]:
        if self._conn is None or self._conn.closed or self.engine is None:
            self.connect()
        elif self._reload.is_set():
            self._reload_registry(self._conn, self.engine)
        assert self._conn is not None and self.engine is not None
        return self._conn, self.engine

    def _reload_registry(self, conn: psycopg.Connection, engine: Engine) -> None:
        """Take a changed registry on the engine thread; hold timers, firing alerts and averages carry over."""
        self._reload.clear()
        started = self._monotonic()
        registry = shard_registry(load_engine_registry(conn), self._shard)
        self._routing_at = float("-inf")  # chains, recipients, windows and silences are read again too
        if registry != self.registry:
            engine.set_registry(registry)
            self.registry = registry
            log.info("alert engine took a registry change: %d devices, %d device limits (%.0f ms)",
                     len(registry.devices), len(registry.limits), (self._monotonic() - started) * 1000)
        self.registry_loaded_at = self._monotonic()

    # ----- steps --------------------------------------------------------------------------------

    def evaluate(self, batch: ReadingColumns, now: datetime) -> StepResult:
        """Evaluate a batch of stored readings."""
        conn, engine = self._ready()
        transitions = engine.evaluate(batch, now)
        if not transitions:  # the common case: nothing to write, no round trips
            return StepResult()
        with conn.transaction():  # a failure rolls it back; the service then rebuilds from the snapshot
            return self._commit(conn, transitions, now, plan=True)

    def tick(self, now: datetime) -> StepResult:
        """Timers: silent devices, closed hours and days, maturing holds, gaps, escalations and reminders."""
        conn, engine = self._ready()
        with conn.transaction():
            transitions = engine.tick(now)
            for device_id, first, last, at in store.take_unhandled_gaps(conn, now):
                transitions += engine.observe_gap(device_id, first, last, at)
            for device_id, basis, begin, end, outcome, at in store.take_lost_history(conn, now):
                transitions += engine.observe_history_gap(device_id, basis, begin, end, outcome, at)
            return self._commit(conn, transitions, now, plan=True, every_site=True)

    def _commit(
        self, conn: psycopg.Connection, transitions: list[Transition], now: datetime, *, plan: bool,
        every_site: bool = False,
    ) -> StepResult:
        """Write what a step changed; the caller holds the transaction (any failure rolls all of it back).

        A batch step plans notifications only for the plants whose alerts it changed (the first SMS of an
        incident must not wait for a district's worth of planning); the timer plans every plant."""
        result = StepResult(transitions=len(transitions))
        opened, changed = self._apply_all(conn, transitions, now)
        sites = None if every_site else self._sites_of(transitions)
        if plan:
            to_send, escalated, planned = self._plan(conn, now, sites)
            result.active_alerts = planned if every_site else None
            result.to_send = tuple(to_send)
            changed += escalated
        store.notify_changes(conn, [*opened, *changed])
        self._dirty = self._dirty or bool(transitions)
        result.opened, result.changed = tuple(opened), tuple(changed)
        return result

    def checkpoint(self, now: datetime, *, force: bool = False) -> bool:
        """Save the engine snapshot when a step changed alerts, when hold progress moved and the last save
        is HOLD_SNAPSHOT_SECONDS old, every SNAPSHOT_SECONDS anyway, or when `force`d. True when the saved
        snapshot now covers every alert and hold the engine has (the bus acknowledges batches then).

        Called after the step committed and its SMS went to the sender, so the snapshot is off the alarm's
        path. A crash before it restarts the engine from the previous snapshot; batches from the bus
        that it does not cover were not acknowledged, so the broker delivers them again and the engine
        sees the conditions again; the lifecycle turns a condition that returns to an open alert into no
        new alert and no new SMS. Hold progress is saved at most once a second: a save is ~10 ms of
        Python for a district, and saving after every batch (50 a second under load) took half the
        engine thread's time and delayed alarms by hundreds of milliseconds.
        """
        conn, engine = self._ready()
        started = self._monotonic()
        moved = engine.revision != self._saved_revision
        age = started - self._snapshot_at
        if force or self._dirty or (moved and age >= HOLD_SNAPSHOT_SECONDS) or age >= SNAPSHOT_SECONDS:
            with conn.transaction():
                store.save_snapshot(conn, self._shard, engine.snapshot(), now)
            self._snapshot_at, self._dirty, self._saved_revision = started, False, engine.revision
            self.saved_at = now
            return True
        return not moved

    def _apply_all(
        self, conn: psycopg.Connection, transitions: list[Transition], now: datetime
    ) -> tuple[list[int], list[int]]:
        opened: list[int] = []
        changed: list[int] = []
        for t in transitions:
            current = store.lock_active_alert(conn, t.key)
            record = self._apply(conn, current, t, now)
            if record is None or record.id is None or record == current:
                continue
            (changed if current is not None and current.id == record.id else opened).append(record.id)
        return opened, changed

    def _apply(
        self, conn: psycopg.Connection, current: AlertRecord | None, t: Transition, now: datetime
    ) -> AlertRecord | None:
        outcome = on_transition(current, t, now)
        record = self._persist(conn, current, outcome)
        if record is None and outcome.record is not None and outcome.record.id is None:
            # Another engine opened this slot between our read and insert: apply to its alert instead.
            current = store.lock_active_alert(conn, t.key)
            record = self._persist(conn, current, on_transition(current, t, now))
        return record

    def _persist(self, conn: psycopg.Connection, current: AlertRecord | None, outcome: Outcome) -> AlertRecord | None:
        record = outcome.record
        if record is None or (record == current and not outcome.events):
            return record
        if record.id is None:
            stored = store.insert_alert(conn, record)
            if stored is None:
                return None
            record = stored
        else:
            store.update_alert(conn, record)
        assert record.id is not None
        store.insert_events(conn, record.id, outcome.events)
        return record

    def silent_alerts(self, now: datetime, grace_seconds: float) -> list[int]:
        """Open pollution and safety alerts that reached nobody and carry no reason (alerts/notify/heard.py)."""
        conn, _ = self._ready()
        return store.silent_alert_ids(conn, now, grace_seconds)

    # ----- notifications ------------------------------------------------------------------------

    def _routing_data(self, conn: psycopg.Connection, now: datetime) -> RoutingData:
        if self._routing is None or time.monotonic() - self._routing_at >= ROUTING_REFRESH_SECONDS:
            self._routing = load_routing(conn, now)
            self._routing_at = time.monotonic()
        return self._routing

    def _sites_of(self, transitions: list[Transition]) -> set[str]:
        assert self.registry is not None
        devices = self.registry.devices
        return {devices[t.key.device_id].site_code for t in transitions if t.key.device_id in devices}

    def _plan(
        self, conn: psycopg.Connection, now: datetime, sites: set[str] | None
    ) -> tuple[list[ClaimedSms], list[int], int]:
        """Plan what is due for the active alerts (of these plants; None: all), apply escalations, and write
        the outbox rows. Returns the SMS to send now, the alerts that escalated, and how many were planned."""
        assert self.registry is not None
        devices = self.registry.devices
        active = select_active(store.load_active_alerts(conn).values(), devices, sites)
        if not active:
            return [], [], 0
        routing = self._routing_data(conn, now)
        sent = load_sent(conn, list(active.values()), now - sent_lookback(routing))
        # The fault is not cached: a platform fault must hold back device alerts from its first minute.
        plan = plan_step(active, devices, routing, sent, now, policy=self._notify_policy, zone=self._settings.zone,
                         fault=open_fault(conn), link=self._link)
        store.record_unheard(conn, list(plan.unheard), NO_RECIPIENT, now)
        for alert_id, outcome in plan.escalations:
            self._persist(conn, active[alert_id], outcome)
        escalated = [alert_id for alert_id, _ in plan.escalations]
        return insert_notifications(conn, plan.outbox_rows(), now), escalated, len(active)


def shard_registry(registry: EngineRegistry, shard: str) -> EngineRegistry:
    """The devices of one district and their limits ("*": everything)."""
    if shard == "*":
        return registry
    devices = {i: d for i, d in registry.devices.items() if d.district == shard}
    return EngineRegistry(devices, [lim for lim in registry.limits if lim.device_id in devices])


def link_maker(settings: Settings) -> LinkMaker:
    """Signed report links under settings.public_base_url, valid for settings.report_link_ttl_seconds."""
    from alerts.reports.links import new_report_link, report_url

    secret = settings.require_secret()

    def make(alert_id: int, now: datetime, locale: str) -> str:
        token = new_report_link(secret, alert_id, now=now, ttl_seconds=settings.report_link_ttl_seconds,
                                locale=locale)
        return report_url(settings.public_base_url, token)

    return make
