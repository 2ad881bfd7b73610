"""The ingest pipeline: bounded queue -> decode and validate -> batch -> commit -> ack -> subscribers.

Sources (the MQTT client, the HJ 212 gateway) `submit` items and are acknowledged through their
`ack` only after the batch holding the item is committed, in arrival order. While the database is
away the committers retry their batches with backoff and nothing is acknowledged, so the broker keeps
the messages (backpressure); the pipeline recovers by itself when the database returns.

Stages and threads: a preparer decodes and checks batch N+2 while committers (`committers`, each
with its own connection) write batches N and N+1; committed batches are acknowledged and handed to
subscribers strictly in the order they were taken (`ingest.reorder`).

The priority lane (ingest/lane.py, `priority_lane`): messages of life-safety devices (gas detectors) are
taken ahead of the backlog by their own thread, committed on their own connection in small batches and
handed to subscribers at once, ahead of the backlog they passed. Their acknowledgements still wait, in
arrival order, for every message that arrived before them (`ingest.lane.AckOrder`): the lane changes the
order of commits and of deliveries, never of acknowledgements, and nothing is acknowledged before its
rows are committed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import psycopg
from prometheus_client import Counter

from envmon.catalogue import load_catalogue
from envmon.columns import ReadingColumns, Row, concat_columns
from envmon.db import Reconnecting
from envmon.protocols.errors import RejectedMessage
from envmon.protocols.mqtt_json import decode_payload
from envmon.registry.watch import RegistryWatcher
from ingest import writer
from ingest.assemble import Assembled, Assembler
from ingest.batches import AckSource, BatchSubscriber, Inbound, PreparedBatch, StoredBatch
from ingest.committer import Committer
from ingest.copy_binary import encode_columns, in_key_order
from ingest.corrected import derive_corrected
from ingest.device_state import DeviceStateWriter
from ingest.directory import DeviceDirectory, DeviceInfo, load_directory
from ingest.health import Vitals
from ingest.inbox import Inbox
from ingest.lane import BULK, LANE, AckOrder, lane_devices, life_safety_codes
from ingest.metrics import IngestMetrics
from ingest.plausible import RowCheck
from ingest.quarantine import QuarantineEntry
from ingest.reorder import InOrder
from ingest.rows import UnitTable, message_rows

__all__ = ["AckSource", "BatchSubscriber", "Inbound", "Pipeline", "PipelineConfig", "StoredBatch"]

log = logging.getLogger(__name__)
# Committed batches waiting for subscribers.
SUBSCRIBER_QUEUE = 4
# What a committer hands back: the batch, what it stored (None: stopped with the database away), its time.
_Done = tuple[PreparedBatch, writer.WriteResult | None, float]


@dataclass(frozen=True)
class PipelineConfig:
    """Batch and queue sizes; defaults suit one 2-core machine."""

    batch_max_messages: int = 2000
    batch_max_seconds: float = 0.05
    queue_max: int = 65535
    # Bytes of payload in a batch and in the queue: 2,000 live messages weigh ~0.6 MB, but a store-and-forward
    # message may carry 1,000 samples in 64 KiB (a batch of them would hold millions of rows, the full queue GBs).
    batch_max_bytes: int = 1 << 20
    queue_max_bytes: int = 64 << 20
    directory_refresh_seconds: float = 30.0
    retry_max_seconds: float = 5.0
    # Connections writing at once: two overlap one batch's commit with the next one's COPY.
    committers: int = 2
    # How often device state (last seen, last seq) is written (ingest/device_state.py).
    device_state_seconds: float = 1.0
    # Life-safety devices' messages pass the backlog (ingest/lane.py); off: one first-in first-out queue.
    priority_lane: bool = True


def _payload_bytes(item: Inbound) -> int:
    return len(item.payload)


class Pipeline:
    """Runs in the caller's thread (`run`), fed by `submit` from source threads."""

    def __init__(
        self,
        database_url: str,
        *,
        config: PipelineConfig | None = None,
        metrics: IngestMetrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.config = config or PipelineConfig()
        self.metrics = metrics or IngestMetrics()
        self._url = database_url
        self._clock = clock
        # Acknowledgements in arrival order across the backlog and the priority lane.
        self._order: AckOrder[Inbound] = AckOrder()
        self._queue: Inbox[Inbound] = Inbox(self.config.queue_max, weigh=_payload_bytes,
                                            weight_capacity=self.config.queue_max_bytes, on_arrival=self._order.arrived)
        self._safety_codes = life_safety_codes(load_catalogue())
        self._lane_mns: frozenset[str] = frozenset()  # devices riding the lane, from the directory
        self._subscribers: list[BatchSubscriber] = []
        self._committed: queue.Queue[StoredBatch | None] = queue.Queue(maxsize=SUBSCRIBER_QUEUE)
        self._units = UnitTable(load_catalogue())
        self._assembler = Assembler(load_catalogue())
        self._row_check = RowCheck(load_catalogue())
        self._committers = [
            Committer(
                database_url,
                self.metrics,
                retry_max_seconds=self.config.retry_max_seconds,
                # The database just answered: reload now, even if a failed attempt was a moment ago
                # (else the first messages after an outage are quarantined as unknown devices).
                on_connect=lambda: self._refresh_directory(force=True, min_age=0.0),
            )
            for _ in range(max(1, self.config.committers))
        ]
        self._lane_committer = (
            Committer(database_url, self.metrics, name="envmon-ingest-lane",
                      retry_max_seconds=self.config.retry_max_seconds)
            if self.config.priority_lane else None
        )
        self.device_state = DeviceStateWriter(database_url, interval_seconds=self.config.device_state_seconds)
        self._subscribers.append(self.device_state)
        self._directory = DeviceDirectory([])
        self._directory_loaded_at = float("-inf")
        self._directory_db = Reconnecting(database_url, application="envmon-ingest-registry", autocommit=True)
        self._directory_lock = threading.Lock()
        # Devices added, changed or deactivated reach ingest (and the HJ 212 gateway) within a second;
        # the periodic refresh above stays as the safety net.
        self.registry_watch = RegistryWatcher(
            database_url, lambda _tables: self._refresh_directory(force=True, min_age=0.0),
            name="envmon-ingest-registry-watch", tables={"devices"},
        )
        self._received_by_transport: dict[str, Counter] = {}
        self.ready = threading.Event()
        # For health: the pipeline's threads while it runs, and when each unacknowledged batch was taken.
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._taken: dict[tuple[int, int], float] = {}  # (lane, batch number) -> when taken
        self._last_take = time.monotonic()  # the preparer's last look at the backlog
        self._last_lane_take = time.monotonic()  # the lane thread's last look at the lane
        self._failed: list[str] = []  # threads that ended by an unexpected error, kept after the stop

    def submit(self, item: Inbound) -> None:
        """Queue an item; blocks when the queue is full (the source stops reading)."""
        self.submit_many([item])

    def submit_many(self, items: list[Inbound]) -> None:
        """Queue items of one source in order; blocks when the queue is full (the source stops reading)."""
        if items:
            self._received(items[0].source.transport).inc(len(items))
            self._queue.put_many(items, self._lanes_of(items))

    def _lanes_of(self, items: list[Inbound]) -> list[bool] | None:
        """Which items ride the priority lane; None when none does (the common case, at no cost per item)."""
        lane = self._lane_mns
        if not lane:
            return None
        flags = [item.device in lane for item in items]
        return flags if any(flags) else None

    def _received(self, transport: str) -> Counter:
        # Counter.labels() costs more than the increment: look each child up once.
        child = self._received_by_transport.get(transport)
        if child is None:
            child = self._received_by_transport[transport] = self.metrics.messages_received.labels(transport)
        return child

    def subscribe(self, subscriber: BatchSubscriber) -> None:
        """Hand every committed batch to this subscriber too."""
        self._subscribers.append(subscriber)

    @property
    def database_url(self) -> str:
        """The database this pipeline writes to (the HJ 212 gateway keeps its history windows there)."""
        return self._url

    @property
    def directory(self) -> DeviceDirectory:
        return self._directory

    def lookup_device(self, mn: str) -> DeviceInfo | None:
        """A registered device; an unknown MN reloads the registry first (at most every 2 s), so a device
        added a moment ago, or one that connects before the first load, is not refused."""
        found = self._directory.get(mn)
        if found is None:
            self._refresh_directory(force=True)
            found = self._directory.get(mn)
        return found

    def run(self, stop: threading.Event) -> None:
        """Process batches until `stop` is set and the queue is drained (or the database is away)."""
        self._connect_with_retry(stop)
        self.registry_watch.start()
        self.ready.set()
        handoff: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=len(self._committers))
        done: queue.Queue[_Done | None] = queue.Queue()
        halt = threading.Event()
        threads = [threading.Thread(target=self._prepare_loop, args=(stop, halt, handoff), name="ingest-prepare")]
        threads += [
            threading.Thread(
                target=self._commit_loop, args=(c, stop, halt, handoff, done), name=f"ingest-commit-{n}"
            )
            for n, c in enumerate(self._committers)
        ]
        if self._lane_committer is not None:
            threads.append(threading.Thread(
                target=self._lane_loop, args=(self._lane_committer, stop, halt, done), name="ingest-lane"
            ))
        dispatcher = threading.Thread(target=self._dispatch_loop, name="ingest-subscribers", daemon=True)
        dispatcher.start()
        state_stop = threading.Event()
        state = threading.Thread(target=self.device_state.run, args=(state_stop,), name="ingest-device-state")
        state.start()
        for thread in threads:
            thread.start()
        self._threads = [*threads, dispatcher, state]
        try:
            self._finish_in_order(done, len(self._committers) + (self._lane_committer is not None))
        except Exception:
            self._failed.append(threading.current_thread().name)
            raise
        finally:
            self._stopping.set()
            halt.set()
            for thread in threads:
                thread.join()
            self._committed.put(None)
            dispatcher.join(timeout=60)
            state_stop.set()  # after the last batch reached it: it writes what is pending, then ends
            state.join(timeout=60)
            self.registry_watch.stop()
            self._close()

    def _prepare_loop(
        self, stop: threading.Event, halt: threading.Event, handoff: queue.Queue[PreparedBatch | None]
    ) -> None:
        number = 0
        try:
            while not halt.is_set() and not (stop.is_set() and not self._queue.backlog_depth):
                items = self._queue.take(self.config.batch_max_messages, 0.2, self.config.batch_max_seconds,
                                         self.config.batch_max_bytes)
                self._last_take = time.monotonic()
                self.metrics.queue_depth.set(len(self._queue))
                if not items:
                    self._refresh_directory(force=False)
                    continue
                self._taken[BULK, number] = time.monotonic()
                if not _put_unless(handoff, self._prepare(number, items), halt):
                    return
                number += 1
        except Exception:  # a bug here must not leave the committers waiting forever; health reports it
            log.exception("the preparer failed; stopping the pipeline")
            self._failed.append(threading.current_thread().name)
        finally:
            for _ in self._committers:  # one end mark for each committer
                _put_unless(handoff, None, halt)

    def _commit_loop(
        self,
        committer: Committer,
        stop: threading.Event,
        halt: threading.Event,
        handoff: queue.Queue[PreparedBatch | None],
        done: queue.Queue[_Done | None],
    ) -> None:
        try:
            while not halt.is_set():
                try:
                    batch = handoff.get(timeout=0.2)
                except queue.Empty:
                    continue
                if batch is None:
                    return
                started = time.monotonic()
                result = committer.commit(batch, stop)
                done.put((batch, result, started))
                if result is None:
                    return
        except Exception:  # commit() keeps content errors to itself: this is a bug; health reports it
            log.exception("a committer failed; stopping the pipeline")
            self._failed.append(threading.current_thread().name)
        finally:
            done.put(None)

    def _lane_loop(
        self, committer: Committer, stop: threading.Event, halt: threading.Event, done: queue.Queue[_Done | None]
    ) -> None:
        """The priority lane: take, prepare, commit and hand to subscribers at once, one batch at a time (so
        the lane's batches keep their order); acknowledging is left to `_finish_in_order`."""
        number = 0
        try:
            while not halt.is_set() and not (stop.is_set() and not self._queue.lane_depth):
                items = self._queue.take_lane(self.config.batch_max_messages, 0.2, self.config.batch_max_bytes)
                self._last_lane_take = time.monotonic()
                if not items:
                    continue
                self._taken[LANE, number] = time.monotonic()
                batch = self._prepare(number, items, lane=True)
                started = time.monotonic()
                result = committer.commit(batch, stop)
                if result is not None:
                    self._deliver(StoredBatch(batch.readings, self._clock(), self._directory, lane=True))
                done.put((batch, result, started))
                if result is None:
                    return
                number += 1
        except Exception:  # a bug here must not leave the lane's messages waiting unseen; health reports it
            log.exception("the priority lane failed; stopping the pipeline")
            self._failed.append(threading.current_thread().name)
        finally:
            done.put(None)

    def _finish_in_order(self, done: queue.Queue[_Done | None], committers: int) -> None:
        """Acknowledge committed batches in arrival order and publish the backlog's in the order they were
        taken, until every committer ended or a batch stays unstored (then nothing after it is acknowledged)."""
        order: InOrder[_Done] = InOrder()
        while committers:
            finished = done.get()
            if finished is None:
                committers -= 1
                continue
            if finished[0].lane:  # one lane thread commits them one by one: already in order
                if not self._finish(finished, LANE):
                    return
            else:
                for released in order.add(finished[0].number, finished):
                    if not self._finish(released, BULK):
                        return
                    self._publish(released[0].readings)
            self.metrics.unacked.set(len(self._queue) + order.waiting + self._order.waiting)

    def _finish(self, finished: _Done, lane: int) -> bool:
        """Count a committed batch and acknowledge what arrival order now allows; False when it was not stored."""
        batch, result, started = finished
        if result is None:
            return False
        self._record(result, len(batch.readings), started)
        # MQTT 3.1.1 and 5.0, section 4.6 (Message ordering, [MQTT-4.6.0-2]): PUBACKs go in the order the
        # PUBLISHes were received, so a lane message committed early waits here for the backlog that arrived before it.
        self._ack(self._order.committed(lane, batch.items))
        self._taken.pop((lane, batch.number), None)
        return True

    def vitals(self, now: float) -> Vitals:
        """Health facts at monotonic time `now`: dead threads (while running), the age of the oldest
        batch taken but not acknowledged, how long the database has been retried."""
        running = bool(self._threads) and not self._stopping.is_set()
        stopped = [t.name for t in self._threads if not t.is_alive()] if running else []
        dead = tuple(dict.fromkeys([*self._failed, *stopped]))
        # Work waits either in a batch taken but not acknowledged, or in the queue while the preparer
        # takes nothing (stuck, or held back by committers that do not finish).
        waiting = list(self._taken.values()) + ([self._last_take] if self._queue.backlog_depth else [])
        waiting += [self._last_lane_take] if self._queue.lane_depth else []
        committers = [*self._committers, *([self._lane_committer] if self._lane_committer is not None else [])]
        retrying = [c.retrying_since for c in committers if c.retrying_since is not None]
        return Vitals(
            dead_threads=dead,
            oldest_unacked_seconds=now - min(waiting) if waiting else None,
            database_retry_seconds=now - min(retrying) if retrying else None,
            queue_depth=len(self._queue),
        )

    def _prepare(self, number: int, items: list[Inbound], *, lane: bool = False) -> PreparedBatch:
        try:
            assembled, copy_data = self._assemble(items)
        except Exception:  # no content of one message may stop the preparer: find the message(s)
            log.exception("preparing batch %d failed; preparing its %d messages one by one", number, len(items))
            assembled, copy_data = self._assemble_one_by_one(items)
        for q in assembled.quarantine:
            self.metrics.quarantined.labels(q.reason).inc()
        return PreparedBatch(
            number, items, assembled.columns, assembled.item_index, assembled.quarantine, copy_data, lane
        )

    def _assemble(self, items: list[Inbound]) -> tuple[Assembled, bytes]:
        assembled = self._assembler.assemble(items, self._directory.fast_ids_by_mn, self._rows_of)
        assembled = derive_corrected(assembled, self._directory, self.metrics)
        return assembled, encode_columns(in_key_order(assembled.columns))

    def _assemble_one_by_one(self, items: list[Inbound]) -> tuple[Assembled, bytes]:
        """Each message alone; one that still fails is quarantined with the error, the others kept."""
        parts: list[Assembled] = []
        for i, item in enumerate(items):
            try:
                part, _ = self._assemble([item])
            except Exception as exc:
                log.exception("message from %s could not be prepared; quarantined", item.origin)
                entry = item.quarantined("internal_error", f"preparing it failed: {type(exc).__name__}: {exc}")
                part = Assembled(ReadingColumns.empty(), np.zeros(0, dtype=np.intp), [entry])
            parts.append(Assembled(part.columns, part.item_index + i, part.quarantine))
        columns = concat_columns([p.columns for p in parts])
        assembled = Assembled(
            columns,
            np.concatenate([p.item_index for p in parts]),
            [q for p in parts for q in p.quarantine],
        )
        return assembled, encode_columns(in_key_order(columns))

    def _rows_of(self, item: Inbound) -> tuple[list[Row], list[QuarantineEntry]]:
        """The full path for one message (ingest.assemble takes the common ones without it): its rows
        that fit their columns and the physics, and what was refused, one entry per reason."""
        entries = list(item.problems)
        problems: list[tuple[str, str]] = []
        if item.rows is not None:
            rows = item.rows
        else:
            try:
                rows, problems = self._decoded_rows(item)
            except RejectedMessage as exc:
                return [], [item.quarantined(exc.reason, exc.detail)]
        kept, refused = self._row_check.split(rows)
        return kept, entries + _entries_by_reason(item, problems + refused)

    def _decoded_rows(self, item: Inbound) -> tuple[list[Row], list[tuple[str, str]]]:
        msg = decode_payload(item.payload, now=item.received_at)
        if self._directory.get(msg.device) is None:
            self._refresh_directory(force=True)
        rows, unknown = message_rows(msg, item.device or "", self._directory, self._units, item.received_at)
        problems = list(msg.problems)
        if unknown:
            problems.append(("unknown_pollutant", f"not in the catalogue: {', '.join(map(repr, unknown))}"))
        return rows, problems

    def _record(self, result: writer.WriteResult, count: int, started: float) -> None:
        self.metrics.readings_stored.inc(result.inserted)
        self.metrics.readings_duplicate.inc(result.duplicates)
        self.metrics.batch_readings.observe(count)
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        self.metrics.last_commit.set(time.time())

    def _ack(self, items: list[Inbound]) -> None:
        by_source: dict[int, tuple[AckSource, list[object]]] = {}
        for item in items:
            by_source.setdefault(id(item.source), (item.source, []))[1].append(item.token)
        for source, tokens in by_source.values():
            source.ack(tokens)
        self.metrics.unacked.set(len(self._queue))

    def _publish(self, readings: ReadingColumns) -> None:
        # Subscribers run on their own thread so the writer can start the next round trip; the
        # queue is small and blocking, so a slow subscriber slows ingest rather than losing batches.
        if len(readings):
            self._committed.put(StoredBatch(readings, self._clock(), self._directory))

    def _dispatch_loop(self) -> None:
        while (batch := self._committed.get()) is not None:
            self._deliver(batch)

    def _deliver(self, batch: StoredBatch) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber.on_batch(batch)
            except Exception:  # a subscriber's bug must not stop ingest
                log.exception("batch subscriber %r failed", subscriber)

    def _connect_with_retry(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._committers[0].connect()
                self._connect_lane()
                return
            except psycopg.Error as exc:
                delay = self._committers[0].retry_delay_seconds
                log.warning("cannot reach the database, retrying in %.1f s: %s", delay, exc)
                stop.wait(delay)

    def _connect_lane(self) -> None:
        """Open the lane's connection before its first alarm needs it; if that fails, its first commit retries."""
        if self._lane_committer is None:
            return
        try:
            self._lane_committer.connect()
        except psycopg.Error as exc:
            log.warning("the priority lane cannot reach the database yet: %s", exc)

    def _refresh_directory(self, *, force: bool, min_age: float | None = None) -> None:
        """Reload the registry on its own connection: both stages and the registry watcher call this, and
        the writer's connection may be inside a batch's transaction. `min_age` 0: a change was announced."""
        with self._directory_lock:
            now = time.monotonic()
            if min_age is None:
                min_age = 2.0 if force else self.config.directory_refresh_seconds
            if now - self._directory_loaded_at < min_age:
                return
            try:
                directory = self._directory_db.attempt(load_directory)
                self._lane_mns = self._lane_of(directory)
                self._directory = directory
                self._directory_loaded_at = now
            except psycopg.Error as exc:
                log.warning("cannot reload the device registry: %s", exc)
                self._directory_loaded_at = now  # not again for min_age: the database may be away

    def _lane_of(self, directory: DeviceDirectory) -> frozenset[str]:
        """The devices of this directory that ride the priority lane (none when it is off)."""
        if self._lane_committer is None:
            return frozenset()
        registered = ((mn, info.pollutants) for mn in directory.ids_by_mn if (info := directory.get(mn)) is not None)
        return lane_devices(registered, self._safety_codes)

    def _close(self) -> None:
        for committer in [*self._committers, *([self._lane_committer] if self._lane_committer else [])]:
            committer.close()
        with self._directory_lock:
            self._directory_db.close()


def _entries_by_reason(item: Inbound, problems: list[tuple[str, str]]) -> list[QuarantineEntry]:
    """One quarantine entry per reason, its sentences joined."""
    by_reason: dict[str, list[str]] = {}
    for reason, sentence in problems:
        by_reason.setdefault(reason, []).append(sentence)
    return [item.quarantined(reason, "; ".join(sentences)) for reason, sentences in by_reason.items()]


def _put_unless(
    handoff: queue.Queue[PreparedBatch | None], batch: PreparedBatch | None, halt: threading.Event
) -> bool:
    """Hand a batch to the committers; False when they stopped before taking it."""
    while not halt.is_set():
        try:
            handoff.put(batch, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False
