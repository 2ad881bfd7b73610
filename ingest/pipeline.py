"""The ingest pipeline: bounded queue -> decode and validate -> batch -> commit -> ack -> subscribers.

Sources (the MQTT client, the HJ 212 gateway) `submit` items and are acknowledged through their
`ack` only after the batch holding the item is committed, in arrival order. While the database is
away the writer retries the same batch with backoff and acknowledges nothing, so the broker keeps
the messages (backpressure); it recovers by itself when the database returns.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import psycopg
from prometheus_client import Counter

from envmon.catalogue import load_catalogue
from ingest import writer
from ingest.copy_binary import CopyEncoder
from ingest.decode import decode_payload
from ingest.directory import DeviceDirectory, DeviceInfo, load_directory
from ingest.errors import RejectedMessage, WriteError
from ingest.inbox import Inbox
from ingest.metrics import IngestMetrics
from ingest.quarantine import QuarantineEntry
from ingest.rows import Row, UnitTable, message_rows

log = logging.getLogger(__name__)
# Batches prepared ahead of the writer: one keeps both stages busy; more only holds memory.
PREPARED_AHEAD = 1
# Committed batches waiting for subscribers.
SUBSCRIBER_QUEUE = 4


class AckSource(Protocol):
    """Where items come from; told which of its items are safely stored."""

    transport: str

    def ack(self, tokens: list[object]) -> None: ...


@dataclass(slots=True)
class Inbound:
    """One received message. `rows` is set when the source decoded it already (HJ 212)."""

    source: AckSource
    token: object
    origin: str
    device: str | None
    payload: bytes
    received_at: datetime
    rows: list[Row] | None = None
    problems: list[QuarantineEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A committed batch, handed to subscribers (rows include redelivered duplicates)."""

    rows: Sequence[Row]
    committed_at: datetime
    directory: DeviceDirectory


class BatchSubscriber(Protocol):
    """Receives every committed batch (the alert engine is one)."""

    def on_batch(self, batch: StoredBatch) -> None: ...


@dataclass(frozen=True)
class PipelineConfig:
    """Batch and queue sizes; defaults suit one 2-core machine."""

    batch_max_messages: int = 2000
    batch_max_seconds: float = 0.05
    queue_max: int = 65535
    directory_refresh_seconds: float = 30.0
    retry_max_seconds: float = 5.0


class Pipeline:
    """Runs the writer loop in the caller's thread (`run`), fed by `submit` from source threads."""

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
        self._queue: Inbox[Inbound] = Inbox(self.config.queue_max)
        self._subscribers: list[BatchSubscriber] = []
        self._committed: queue.Queue[StoredBatch | None] = queue.Queue(maxsize=SUBSCRIBER_QUEUE)
        self._units = UnitTable(load_catalogue())
        self._encoder = CopyEncoder()
        self._conn: psycopg.Connection | None = None
        self._directory = DeviceDirectory([])
        self._directory_loaded_at = float("-inf")
        self._directory_conn: psycopg.Connection | None = None
        self._directory_lock = threading.Lock()
        self._received_by_transport: dict[str, Counter] = {}
        self.ready = threading.Event()

    def submit(self, item: Inbound) -> None:
        """Queue an item; blocks when the queue is full (the source stops reading)."""
        self.submit_many([item])

    def submit_many(self, items: list[Inbound]) -> None:
        """Queue items of one source in order; blocks when the queue is full (the source stops reading)."""
        if items:
            self._received(items[0].source.transport).inc(len(items))
            self._queue.put_many(items)

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
        """Process batches until `stop` is set and the queue is drained (or the database is away).

        Two stages overlap: a preparer thread decodes and checks batch N+1 while this thread
        writes batch N (the database works without the GIL). Batches are written, acknowledged
        and published in the order they were taken, so acknowledgements stay in arrival order.
        """
        self._connect_with_retry(stop)
        self.ready.set()
        handoff: queue.Queue[_Prepared | None] = queue.Queue(maxsize=PREPARED_AHEAD)
        halt = threading.Event()
        preparer = threading.Thread(
            target=self._prepare_loop, args=(stop, halt, handoff), name="ingest-prepare", daemon=True
        )
        preparer.start()
        dispatcher = threading.Thread(target=self._dispatch_loop, name="ingest-subscribers", daemon=True)
        dispatcher.start()
        try:
            while (batch := handoff.get()) is not None:
                if not self._process(batch, stop):
                    break
        finally:
            halt.set()
            preparer.join()
            self._committed.put(None)
            dispatcher.join(timeout=60)
            self._close()

    def _prepare_loop(
        self, stop: threading.Event, halt: threading.Event, handoff: queue.Queue[_Prepared | None]
    ) -> None:
        try:
            while not halt.is_set() and not (stop.is_set() and not len(self._queue)):
                items = self._queue.take(self.config.batch_max_messages, 0.2, self.config.batch_max_seconds)
                self.metrics.queue_depth.set(len(self._queue))
                if not items:
                    self._refresh_directory(force=False)
                    continue
                if not _put_unless(handoff, self._prepare(items), halt):
                    return
        except Exception:  # a bug here must not leave the writer waiting forever
            log.exception("preparing a batch failed; stopping the pipeline")
        finally:
            _put_unless(handoff, None, halt)

    def _process(self, batch: _Prepared, stop: threading.Event) -> bool:
        items, rows = batch.items, batch.rows
        self.metrics.unacked.set(len(items) + len(self._queue))
        started = time.monotonic()
        result = self._write(batch, stop)
        if result is None:
            return False
        self._record(result, len(rows), started)
        self._ack(items)
        self._publish(rows)
        return True

    def _prepare(self, items: list[Inbound]) -> _Prepared:
        per_item: list[list[Row]] = []
        quarantine: list[QuarantineEntry] = []
        for item in items:
            rows, problems = self._rows_of(item)
            per_item.append(rows)
            quarantine.extend(problems)
        for q in quarantine:
            self.metrics.quarantined.labels(q.reason).inc()
        rows = [r for item_rows in per_item for r in item_rows]
        return _Prepared(
            items, per_item, quarantine, rows, self._encoder.encode(rows), writer.device_summary(per_item)
        )

    def _rows_of(self, item: Inbound) -> tuple[list[Row], list[QuarantineEntry]]:
        if item.rows is not None:
            return item.rows, item.problems
        try:
            msg = decode_payload(item.payload, now=item.received_at)
            if self._directory.get(msg.device) is None:
                self._refresh_directory(force=True)
            rows, unknown = message_rows(msg, item.device or "", self._directory, self._units, item.received_at)
        except RejectedMessage as exc:
            return [], [self._quarantine(item, exc.reason, exc.detail)]
        if unknown:
            return rows, [self._quarantine(item, "unknown_pollutant", f"not in the catalogue: {', '.join(unknown)}")]
        return rows, []

    def _quarantine(self, item: Inbound, reason: str, detail: str) -> QuarantineEntry:
        return QuarantineEntry(item.source.transport, item.origin, item.device, reason, detail, item.payload)

    def _write(self, batch: _Prepared, stop: threading.Event) -> writer.WriteResult | None:
        items, per_item, quarantine = batch.items, batch.per_item, batch.quarantine
        delay = 0.1
        while True:
            try:
                return writer.write_batch(self._connection(), batch.rows, quarantine, batch.copy_data, batch.summary)
            except (WriteError, psycopg.OperationalError) as exc:
                self.metrics.database_errors.inc()
                if _is_content_error(exc) and self._conn is not None and not self._conn.closed:
                    return self._write_one_by_one(per_item, items, quarantine)
                log.warning("database unavailable, retrying in %.1f s (nothing acknowledged): %s", delay, exc)
                _close_quietly(self._conn)
                self._conn = None
                if stop.wait(delay):
                    log.warning("stopping while the database is away: %d messages stay unacknowledged", len(items))
                    return None
                delay = min(delay * 2, self.config.retry_max_seconds)

    def _write_one_by_one(
        self, per_item: list[list[Row]], items: list[Inbound], quarantine: list[QuarantineEntry]
    ) -> writer.WriteResult:
        """A batch the database refused for its content: store item by item, quarantine the refused ones."""
        inserted = duplicates = 0
        conn = self._connection()
        for rows, item in zip(per_item, items, strict=True):
            try:
                result = writer.write_batch(conn, rows, [])
                inserted, duplicates = inserted + result.inserted, duplicates + result.duplicates
            except WriteError as exc:
                log.error("database refused a message from %s: %s", item.origin, exc)
                quarantine.append(self._quarantine(item, "database_rejected", str(exc)))
        writer.write_batch(conn, [], quarantine)
        return writer.WriteResult(inserted, duplicates, len(quarantine))

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

    def _publish(self, rows: list[Row]) -> None:
        # Subscribers run on their own thread so the writer can start the next round trip; the
        # queue is small and blocking, so a slow subscriber slows ingest rather than losing batches.
        if rows and self._subscribers:
            self._committed.put(StoredBatch(rows, self._clock(), self._directory))

    def _dispatch_loop(self) -> None:
        while (batch := self._committed.get()) is not None:
            self._deliver(batch)

    def _deliver(self, batch: StoredBatch) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber.on_batch(batch)
            except Exception:  # a subscriber's bug must not stop ingest
                log.exception("batch subscriber %r failed", subscriber)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, application_name="envmon-ingest", connect_timeout=5)
            writer.prepare(self._conn)
            self._refresh_directory(force=True)
        return self._conn

    def _connect_with_retry(self, stop: threading.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            try:
                self._connection()
                return
            except psycopg.Error as exc:
                log.warning("cannot reach the database, retrying in %.1f s: %s", delay, exc)
                stop.wait(delay)
                delay = min(delay * 2, self.config.retry_max_seconds)

    def _refresh_directory(self, *, force: bool) -> None:
        """Reload the registry on its own connection: both stages call this, and the writer's
        connection may be inside a batch's transaction."""
        with self._directory_lock:
            now = time.monotonic()
            min_age = 2.0 if force else self.config.directory_refresh_seconds
            if now - self._directory_loaded_at < min_age:
                return
            try:
                if self._directory_conn is None or self._directory_conn.closed:
                    self._directory_conn = psycopg.connect(
                        self._url, application_name="envmon-ingest-registry", connect_timeout=5, autocommit=True
                    )
                self._directory = load_directory(self._directory_conn)
                self._directory_loaded_at = now
            except psycopg.Error as exc:
                log.warning("cannot reload the device registry: %s", exc)
                self._directory_loaded_at = now  # not again for min_age: the database may be away
                _close_quietly(self._directory_conn)
                self._directory_conn = None

    def _close(self) -> None:
        _close_quietly(self._conn)
        self._conn = None
        with self._directory_lock:
            _close_quietly(self._directory_conn)
            self._directory_conn = None


@dataclass(slots=True)
class _Prepared:
    """A decoded and checked batch, waiting for the writer."""

    items: list[Inbound]
    per_item: list[list[Row]]
    quarantine: list[QuarantineEntry]
    rows: list[Row]
    copy_data: bytes  # rows in binary COPY format
    summary: str  # writer.device_summary of the rows


def _put_unless(handoff: queue.Queue[_Prepared | None], batch: _Prepared | None, halt: threading.Event) -> bool:
    """Hand a batch to the writer; False when the writer stopped before taking it."""
    while not halt.is_set():
        try:
            handoff.put(batch, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _close_quietly(conn: psycopg.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(psycopg.Error):
            conn.close()


def _is_content_error(exc: Exception) -> bool:
    """True when the database refused the data itself, not because it was unreachable."""
    cause = exc.__cause__ if isinstance(exc, WriteError) else exc
    return isinstance(cause, psycopg.Error) and not isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError)
