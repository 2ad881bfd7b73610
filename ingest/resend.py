"""Turns stored batches into sequence tracking, and due gaps into resend requests to devices.

MQTT devices get `{"cmd": "resend", "first_seq": a, "last_seq": b, "attempt": n}` on their
`cmd` topic; they answer by publishing those messages again (same seq), and the database's
unique key makes any overlap harmless. See docs/mqtt.md.

Tracking survives a restart: once a second the tracker's highest seq per device
(`sequence_tracking`) and its open gaps (`open_sequence_gaps`) are saved in one transaction, and
before the first message a restart seeds from that snapshot: each MQTT device starts at its saved
high (up to a second behind the readings, so after a crash a device may be asked once for messages
already stored; the unique key ignores them), and the open gaps are asked for again with their
attempts counted. Not from `device_state.last_seq`, written by another thread: a crash between its
save and the gaps' left the restart past a gap it had noticed. That one only seeds devices missing
from the snapshot (first start after migration 0023, a device first heard in the last second).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from envmon.columns import BASIS_INDEX
from envmon.db import Backoff, Reconnecting, connect_url
from ingest.gaps import SeqGap, SequenceTracker
from ingest.pipeline import StoredBatch

log = logging.getLogger(__name__)
# Reading the stored tracking at start: retried until the database answers (see GapMonitor.restore).
RESTORE_BACKOFF = Backoff(first_seconds=0.25, max_seconds=5.0)


_RECORD_GAP = """
INSERT INTO sequence_gaps (device_id, first_seq, last_seq, abandoned_at)
SELECT id, %(first)s, %(last)s, now() FROM devices WHERE mn = %(mn)s
"""


def record_abandoned_gap(database_url: str, gap: SeqGap) -> None:
    """Write a gap that never came back, for the alert engine's seq_gap rule (rare: one connection each)."""
    try:
        with connect_url(database_url, application="envmon-gaps") as conn:
            conn.execute(_RECORD_GAP, {"first": gap.first_seq, "last": gap.last_seq, "mn": gap.device})
    except psycopg.Error as exc:
        log.warning("could not record the abandoned gap of %s: %s", gap.device, exc)


_TRACKED_SEQS = """
SELECT d.mn, t.high_seq FROM sequence_tracking t JOIN devices d ON d.id = t.device_id
WHERE t.ingest = %s AND d.transport = 'mqtt'
"""

# Only for devices the tracker has not saved yet (first start after migration 0023, a device first
# heard less than a second before a crash): their gaps, if any, were never saved either.
_STORED_SEQS = """
SELECT d.mn, s.last_seq FROM device_state s JOIN devices d ON d.id = s.device_id
WHERE d.transport = 'mqtt' AND s.last_seq IS NOT NULL
"""

_OPEN_GAPS = """
SELECT d.mn, g.first_seq, g.last_seq, g.attempts FROM open_sequence_gaps g JOIN devices d ON d.id = g.device_id
WHERE g.ingest = %s ORDER BY d.mn, g.first_seq
"""

_REPLACE_OPEN_GAPS = """
INSERT INTO open_sequence_gaps (ingest, device_id, first_seq, last_seq, attempts)
SELECT %s, d.id, u.f, u.l, u.a FROM unnest(%s::text[], %s::int8[], %s::int8[], %s::int4[]) AS u(mn, f, l, a)
JOIN devices d ON d.mn = u.mn
"""

# The tracker's own high, not the greatest ever: after a counter reset it goes down with the device.
_SAVE_HIGHS = """
INSERT INTO sequence_tracking (ingest, device_id, high_seq)
SELECT %s, d.id, u.h FROM unnest(%s::text[], %s::int8[]) AS u(mn, h) JOIN devices d ON d.mn = u.mn
ORDER BY d.id
ON CONFLICT (ingest, device_id) DO UPDATE SET high_seq = EXCLUDED.high_seq
"""


@dataclass(frozen=True, slots=True)
class StoredTracking:
    """What a restart seeds the tracker from: highest seq per MQTT device and the open gaps per device."""

    highs: dict[str, int]
    gaps: dict[str, list[SeqGap]]
    saved_highs: dict[str, int]  # the part of `highs` this tracker saved itself (the rest: device_state)


def load_tracking(conn: psycopg.Connection, owner: str) -> StoredTracking:
    """The tracking `owner` saved last (its highs and open gaps, one consistent snapshot)."""
    saved = {str(mn): int(seq) for mn, seq in conn.execute(_TRACKED_SEQS, [owner])}
    highs = {str(mn): int(seq) for mn, seq in conn.execute(_STORED_SEQS)} | saved
    gaps: dict[str, list[SeqGap]] = {}
    for mn, first, last, attempts in conn.execute(_OPEN_GAPS, [owner]):
        gaps.setdefault(str(mn), []).append(SeqGap(str(mn), int(first), int(last), int(attempts)))
    return StoredTracking(highs, gaps, saved)


def save_tracking(conn: psycopg.Connection, owner: str, highs: dict[str, int], gaps: list[SeqGap] | None) -> None:
    """Write changed `highs` and (unless None: unchanged) replace `owner`'s open gaps, in ONE transaction.

    Together or not at all: a high saved without the gaps it opened is what lost gaps across a crash.
    """
    with conn.transaction():
        if highs:
            devices = sorted(highs)
            conn.execute(_SAVE_HIGHS, [owner, devices, [highs[d] for d in devices]])
        if gaps is not None:
            save_open_gaps(conn, owner, gaps)


def save_open_gaps(conn: psycopg.Connection, owner: str, gaps: list[SeqGap]) -> None:
    """Replace `owner`'s open gaps with these, in one transaction (nested in the caller's, if any)."""
    with conn.transaction():
        conn.execute("DELETE FROM open_sequence_gaps WHERE ingest = %s", [owner])
        if gaps:
            conn.execute(_REPLACE_OPEN_GAPS, [owner, [g.device for g in gaps], [g.first_seq for g in gaps],
                                              [g.last_seq for g in gaps], [g.attempts for g in gaps]])


class OpenGapStore:
    """Where one ingest process keeps its tracking between runs (a connection of its own, reopened on error)."""

    def __init__(self, database_url: str, owner: str) -> None:
        self._db = Reconnecting(database_url, application="envmon-gaps", autocommit=True)
        self.owner = owner
        self._saved: list[SeqGap] | None = None
        self._saved_highs: dict[str, int] = {}

    def load(self) -> StoredTracking:
        """See `load_tracking`; raises psycopg.Error when the database is away."""
        stored = load_tracking(self._db.connection(), self.owner)
        self._saved = [g for device in sorted(stored.gaps) for g in stored.gaps[device]]
        self._saved_highs = dict(stored.saved_highs)
        return stored

    def save(self, gaps: list[SeqGap], highs: dict[str, int] | None = None) -> bool:
        """Write the highs and open gaps that changed, together; False (retried on the next call) when the
        database is away."""
        changed = {d: h for d, h in (highs or {}).items() if self._saved_highs.get(d) != h}
        if gaps == self._saved and not changed:
            return True
        replaced = None if gaps == self._saved else gaps
        try:
            self._db.attempt(lambda conn: save_tracking(conn, self.owner, changed, replaced))
        except psycopg.Error as exc:
            log.warning("sequence tracking not saved (tried again next second): %s", exc)
            return False
        self._saved = gaps
        self._saved_highs.update(changed)
        return True

    def close(self) -> None:
        """Close the store's connection (the next use reopens it)."""
        self._db.close()


def resend_payload(request: SeqGap) -> bytes:
    """The command a device receives for a resend request."""
    body = {"cmd": "resend", "first_seq": request.first_seq, "last_seq": request.last_seq, "attempt": request.attempts}
    return json.dumps(body).encode()


class GapMonitor:
    """A batch subscriber that tracks MQTT devices' sequence numbers and requests what is missing."""

    def __init__(self, send: Callable[[SeqGap], None], tracker: SequenceTracker | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_abandoned: Callable[[SeqGap], None] | None = None,
                 store: OpenGapStore | None = None) -> None:
        self.tracker = tracker or SequenceTracker()
        self._store = store
        self._send = send
        self._on_abandoned = on_abandoned
        self._clock = clock
        self._lock = threading.Lock()
        self.requested = 0
        self.abandoned = 0
        # Set once `restore` has run: before that the tracker is empty, and saving it would erase the stored
        # tracking it is about to read. `_trusted` is False when it never could be read: never save over it.
        self.restored = threading.Event()
        self._trusted = True
        self.restore_failures = 0

    def on_batch(self, batch: StoredBatch) -> None:
        readings = batch.readings
        heads = readings.sample_starts()
        heads = heads[readings.basis[heads] == BASIS_INDEX["instant"]]
        seqs: dict[int, set[int]] = {}
        for device_id, seq in zip(readings.device_id[heads].tolist(), readings.seq[heads].tolist(), strict=True):
            seqs.setdefault(device_id, set()).add(seq)
        now = self._clock()
        with self._lock:
            for device_id, numbers in seqs.items():
                info = batch.directory.get(batch.directory.mn_of(device_id))
                if info is not None and info.transport == "mqtt":
                    self.tracker.observe(info.mn, numbers, now)

    def restore(self, stop: threading.Event | None = None, backoff: Backoff = RESTORE_BACKOFF) -> bool:
        """Seed the tracker from the store; call before the first message. A database that is away is waited
        for (ingest cannot store a message without it anyway): starting from scratch would forget every saved
        gap, and a device's messages lost while ingest was down would start its tracking past them. False only
        when `stop` is set first (or, without `stop`, after one failed try)."""
        try:
            return self._restore(stop, backoff)
        finally:
            self.restored.set()

    def _restore(self, stop: threading.Event | None, backoff: Backoff) -> bool:
        if self._store is None:
            return True
        failures = 0
        while True:
            try:
                stored = self._store.load()
                break
            except psycopg.Error as exc:
                self._store.close()
                failures += 1
                self.restore_failures = failures
                delay = backoff.delay_seconds(failures)
                if stop is None:
                    log.warning("sequence tracking starts from scratch (stored state not read): %s", exc)
                    self._trusted = False
                    return False
                log.warning("sequence tracking not read yet; messages wait for it (retrying in %.1f s): %s",
                            delay, exc)
                if stop.wait(delay):
                    self._trusted = False
                    return False
        highs, gaps = stored.highs, stored.gaps
        now = self._clock()
        with self._lock:
            for device in highs.keys() | gaps.keys():
                open_gaps = gaps.get(device, [])
                high = highs.get(device, max((g.last_seq + 1 for g in open_gaps), default=0))
                self.tracker.restore(device, high, open_gaps, now)
            open_now, highs_now = self.tracker.open_gaps(), self.tracker.highs()
        # Saved at once: the devices seeded from device_state become part of this tracker's snapshot.
        self._store.save(open_now, highs_now)
        log.info("sequence tracking restored: %d devices, %d open gaps", len(highs), sum(map(len, gaps.values())))
        return True

    def tick(self) -> None:
        """Send the resend requests that are due; log the gaps given up on; save the open gaps."""
        with self._lock:
            requests, abandoned = self.tracker.due(self._clock())
            open_gaps = self.tracker.open_gaps() if self._store is not None else []
            highs = self.tracker.highs() if self._store is not None else {}
        for request in requests:
            log.info("asking %s to resend seq %d-%d (attempt %d)", request.device, request.first_seq,
                     request.last_seq, request.attempts)
            self._send(request)
        for gap in abandoned:
            log.warning("gap not filled: %s seq %d-%d never came back", gap.device, gap.first_seq, gap.last_seq)
            if self._on_abandoned is not None:
                self._on_abandoned(gap)
        self.requested += len(requests)
        self.abandoned += len(abandoned)
        if self._store is not None and self._trusted:
            self._store.save(open_gaps, highs)

    def run(self, stop: threading.Event, interval_seconds: float = 1.0) -> None:
        """Tick until stopped (from the moment the stored tracking was read)."""
        while not self.restored.wait(interval_seconds):
            if stop.is_set():
                return
        while not stop.wait(interval_seconds):
            self.tick()
        if self._store is not None:
            if self._trusted:
                with self._lock:
                    open_gaps, highs = self.tracker.open_gaps(), self.tracker.highs()
                self._store.save(open_gaps, highs)
            self._store.close()
