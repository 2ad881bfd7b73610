"""One target's sender: a TCP client to the upstream that sends queued frames in order and deletes them on 9014.

A frame's QN is committed on its rows before it is first sent; after a disconnect, a missing 9014 or a
restart, the unacknowledged frames go first again, in queue order and with the same QN (the resend
HJ 212 expects from a logger that got no reply). Up to `window` frames are in flight; the upstream answers
in order on one connection, so order per device is the queue's. Reconnects wait by `Backoff` (bounded).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from envmon.catalogue import Catalogue
from envmon.db import DATABASE_AWAY, Backoff, close_quietly, connect_url
from envmon.protocols.hj212 import FrameReader, FrameReceived, HJ212Error, Message, decode_message, parse_cp
from ingest.forward import queue
from ingest.forward.frames import OutFrame, QnClock, plan_frames, resend_frames
from ingest.forward.metrics import ForwardMetrics

log = logging.getLogger(__name__)
READ_BYTES = 4096


@dataclass(frozen=True, slots=True)
class SenderConfig:
    """Timing of a sender (tests shorten them)."""

    window: int = 16
    batch_rows: int = 500
    poll_seconds: float = 0.2
    ack_timeout_seconds: float = 20.0
    connect_timeout_seconds: float = 5.0
    backoff: Backoff = Backoff(first_seconds=1.0, max_seconds=60.0)


class TargetSender:
    """Forwards one target's queue until stopped; `run` is a thread's body."""

    def __init__(
        self, database_url: str, target: queue.Target, catalogue: Catalogue, metrics: ForwardMetrics,
        config: SenderConfig | None = None, clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._url, self._target, self._catalogue, self._metrics = database_url, target, catalogue, metrics
        self._config = config or SenderConfig()
        self._now = clock or (lambda: datetime.now(UTC))
        self._db: psycopg.Connection | None = None
        self._qns: QnClock | None = None
        self.connected = threading.Event()

    @property
    def target_id(self) -> int:
        """The id of the target this sender forwards to."""
        return self._target.id

    def run(self, stop: threading.Event) -> None:
        """Connect, send, and reconnect with bounded backoff until `stop` is set."""
        failures = 0
        while not stop.is_set():
            try:
                with socket.create_connection((self._target.host, self._target.port),
                                              timeout=self._config.connect_timeout_seconds) as sock:
                    failures = 0
                    self._session(sock, stop)
            except (OSError, HJ212Error) as exc:
                failures += 1
                self._lost(f"upstream {self._target.host}:{self._target.port}: {exc!r}")
            except DATABASE_AWAY as exc:
                failures += 1
                close_quietly(self._db)
                self._db = None
                self._lost(f"database away: {exc!r}", store=False)
            except Exception as exc:  # a sender thread must outlive any one bad moment; the rows stay queued
                failures += 1
                log.exception("forward target %s: unexpected error", self._target.name)
                self._lost(f"unexpected error: {exc!r}")
            stop.wait(self._config.backoff.delay_seconds(max(failures, 1)) if failures else 0)
        self._store(lambda db: queue.record_state(db, self._target.id, connected=False, error=None, now=self._now()))
        close_quietly(self._db)

    def _lost(self, why: str, *, store: bool = True) -> None:
        """A session ended: count it, say why, and show it on the dashboard (the backlog waits in the queue)."""
        self.connected.clear()
        self._metrics.connected.labels(self._target.name).set(0)
        self._metrics.reconnects.labels(self._target.name).inc()
        log.warning("forward target %s: %s; reconnecting", self._target.name, why)
        if store:  # with the database away there is nowhere to say it; the service's heartbeat goes stale
            self._store(lambda db: queue.record_state(db, self._target.id, connected=False, error=why,
                                                      now=self._now()))

    def _store(self, write: Callable[[psycopg.Connection], None]) -> None:
        """Write state for the dashboard; it must never end a session or the thread (the metrics still count)."""
        try:
            write(self._database())
        except psycopg.Error as exc:  # DATABASE_AWAY included
            close_quietly(self._db)
            self._db = None
            log.warning("forward target %s: state not stored: %r", self._target.name, exc)

    def _database(self) -> psycopg.Connection:
        """The sender's own connection (autocommit: each step commits or is one transaction)."""
        if self._db is None or self._db.closed:
            self._db = connect_url(self._url, autocommit=True, application="envmon-forward")
        return self._db

    def _clock(self) -> QnClock:
        """The QN source, started after the highest QN still queued."""
        if self._qns is None:
            self._qns = QnClock(self._now, queue.last_qn(self._database(), self._target.id))
        return self._qns

    def _session(self, sock: socket.socket, stop: threading.Event) -> None:
        """One connection: resend what is unacknowledged, then keep the window full until stopped."""
        self.connected.set()
        self._metrics.connected.labels(self._target.name).set(1)
        log.info("forward target %s: connected to %s:%d", self._target.name, self._target.host, self._target.port)
        db = self._database()
        queue.record_state(db, self._target.id, connected=True, error=None, now=self._now())
        routes = queue.load_routes(db, self._target.id)
        inflight: OrderedDict[str, OutFrame] = OrderedDict()
        for frame in resend_frames(queue.sent_rows(db, self._target.id), routes, self._target.version,
                                   self._catalogue):
            inflight[frame.qn] = frame
            sock.sendall(frame.data)
            self._metrics.resent.labels(self._target.name).inc()
        queue.count_frames(db, self._target.id, "resent_frames", len(inflight))
        reader = FrameReader()
        # Since when the oldest frame in flight has waited without any 9014 arriving.
        last_progress = time.monotonic()
        while not stop.is_set():
            if not inflight:
                last_progress = time.monotonic()
            self._fill(sock, inflight)
            if self._receive(sock, reader, inflight):
                last_progress = time.monotonic()
            if inflight and time.monotonic() - last_progress > self._config.ack_timeout_seconds:
                raise TimeoutError(f"no 9014 for QN {next(iter(inflight))} within "
                                   f"{self._config.ack_timeout_seconds:g} s")

    def _fill(self, sock: socket.socket, inflight: OrderedDict[str, OutFrame]) -> None:
        """Plan and send new frames while the window has room."""
        room = self._config.window - len(inflight)
        if room <= 0:
            return
        db = self._database()
        rows = queue.new_rows(db, self._target.id, self._config.batch_rows)
        if not rows:
            return
        routes = queue.load_routes(db, self._target.id)
        frames = plan_frames(rows, routes, self._target.version, self._catalogue, self._clock())[:room]
        queue.mark_planned(db, self._target.id, frames, self._now())
        for frame in frames:
            inflight[frame.qn] = frame
            sock.sendall(frame.data)
            self._metrics.sent.labels(self._target.name).inc()
        queue.count_frames(db, self._target.id, "sent_frames", len(frames))

    def _receive(self, sock: socket.socket, reader: FrameReader, inflight: OrderedDict[str, OutFrame]) -> bool:
        """Read what the upstream sent within one poll interval and handle it; True when a 9014 came."""
        sock.settimeout(self._config.poll_seconds)
        try:
            data = sock.recv(READ_BYTES)
        except TimeoutError:
            return False
        if not data:
            raise ConnectionError("the upstream closed the connection")
        frames = [event.frame for event in reader.feed(data) if isinstance(event, FrameReceived)]
        return any([self._on_frame(frame, inflight) for frame in frames])

    def _on_frame(self, frame: bytes, inflight: OrderedDict[str, OutFrame]) -> bool:
        """A 9014 completes its frame; a refusal is logged and the frame waits for the ack timeout's resend."""
        try:
            msg = decode_message(frame)
        except HJ212Error as exc:
            log.warning("forward target %s: bad frame from the upstream: %s", self._target.name, exc)
            return False
        if msg.cn == "9014" and msg.qn is not None and msg.qn in inflight:
            inflight.pop(msg.qn)
            queue.acknowledge(self._database(), self._target.id, msg.qn, self._now())
            self._metrics.acked.labels(self._target.name).inc()
            return True
        if msg.cn == "9011":
            self._on_refusal(msg)
        else:
            # History requests (2051/2061/2031) and commands are not answered: the queue already holds
            # every stored reading for this target, so nothing the upstream can ask for is missing here.
            log.info("forward target %s: upstream sent CN=%s (not answered)", self._target.name, msg.cn)
        return False

    def _on_refusal(self, msg: Message) -> None:
        """A 9011 QnRtn other than 1 (ready): wrong MN or PW is a configuration error worth shouting about."""
        area = parse_cp(msg.cp)
        if area.qn_rtn not in (None, 1):
            self._metrics.refused.labels(self._target.name).inc()
            why = f"refused MN {msg.mn} with QnRtn={area.qn_rtn}: check its upstream_mn and upstream_pw"
            log.error("forward target %s %s", self._target.name, why)
            db = self._database()
            queue.count_frames(db, self._target.id, "refusals", 1)
            queue.record_state(db, self._target.id, connected=True, error=why, now=self._now())
