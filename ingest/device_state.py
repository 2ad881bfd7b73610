"""Device state (last seen, last reading time, last sequence number), written once a second off the batches' path.

Each committed batch's per-device maxima are merged in memory; a thread writes what changed once a
second, in one statement on a connection of its own, and tells live views which devices have new
readings (NOTIFY envmon_events). Inside each batch's transaction this statement cost the database a
tenth of its time at full load, and two committers queued behind each other's row locks on the same
device rows. The table lags the readings by about a second; it is soft state (presence, dashboards),
and after a crash the next messages bring it up to date.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import psycopg

from envmon.columns import ReadingColumns
from envmon.db import Reconnecting
from ingest.batches import StoredBatch

log = logging.getLogger(__name__)

_UPSERT = """
WITH seen AS (
INSERT INTO device_state (device_id, last_seen_at, last_reading_at, last_seq, online, updated_at)
SELECT d, timestamptz 'epoch' + r * interval '1 microsecond', timestamptz 'epoch' + t * interval '1 microsecond',
       s, true, now()
FROM unnest(%s::int4[], %s::int8[], %s::int8[], %s::int8[]) AS u(d, r, t, s) ORDER BY d
ON CONFLICT (device_id) DO UPDATE SET
    last_seen_at = greatest(device_state.last_seen_at, EXCLUDED.last_seen_at),
    last_reading_at = greatest(device_state.last_reading_at, EXCLUDED.last_reading_at),
    last_seq = greatest(device_state.last_seq, EXCLUDED.last_seq),
    -- A status message ('offline', a last will) received after these readings wins: this runs up
    -- to a second after they came, and must not undo a device's goodbye that followed them.
    online = CASE WHEN EXCLUDED.last_seen_at >= device_state.last_seen_at THEN true ELSE device_state.online END,
    updated_at = now()
RETURNING device_id
)
SELECT pg_notify('envmon_events', json_build_object(
    'kind', 'readings', 'devices', CASE WHEN count(*) <= 500 THEN array_agg(device_id) END)::text)
FROM seen
"""


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """Per device (ascending id): the latest arrival and reading time (us since the Unix epoch) and the
    highest sequence number."""

    device_id: list[int]
    received_us: list[int]
    time_us: list[int]
    seq: list[int]

    def params(self) -> tuple[list[int], list[int], list[int], list[int]]:
        return self.device_id, self.received_us, self.time_us, self.seq


def device_summary(columns: ReadingColumns) -> DeviceSummary:
    """The device summary of these readings; looks at the first reading of each sample only."""
    heads = columns.sample_starts()
    devices = columns.device_id[heads]
    order = np.argsort(devices, kind="stable")
    devices = devices[order]
    first = np.flatnonzero(np.r_[True, devices[1:] != devices[:-1]]) if devices.size else heads[:0]

    def latest(values: npt.NDArray[np.int64]) -> list[int]:
        return np.maximum.reduceat(values[heads][order], first).tolist() if first.size else []

    return DeviceSummary(
        devices[first].tolist(), latest(columns.received_us), latest(columns.time_us), latest(columns.seq)
    )


def write_device_state(conn: psycopg.Connection, summary: DeviceSummary) -> None:
    """Merge a summary into `device_state` (committed; never moves a field back)."""
    if summary.device_id:
        with conn.transaction():
            conn.execute(_UPSERT, summary.params())


class DeviceStateWriter:
    """A batch subscriber that keeps the newest state per device and writes it once a second (`run`)."""

    def __init__(self, database_url: str, *, interval_seconds: float = 1.0) -> None:
        self._db = Reconnecting(database_url, application="envmon-ingest-state", autocommit=True)
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[int, int, int]] = {}
        self.written = 0

    def on_batch(self, batch: StoredBatch) -> None:
        """Merge a committed batch's per-device maxima."""
        s = device_summary(batch.readings)
        with self._lock:
            for d, r, t, q in zip(s.device_id, s.received_us, s.time_us, s.seq, strict=True):
                _merge(self._pending, d, (r, t, q))

    def run(self, stop: threading.Event) -> None:
        """Write every `interval_seconds` until `stop`, then once more."""
        while not stop.wait(self._interval):
            self.flush()
        self.flush()
        self._db.close()

    def flush(self) -> bool:
        """Write what is pending now; False (and kept for the next try) when the database is away."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return True
        ids = sorted(pending)
        summary = DeviceSummary(ids, [pending[d][0] for d in ids], [pending[d][1] for d in ids],
                                [pending[d][2] for d in ids])
        try:
            self._db.attempt(lambda conn: write_device_state(conn, summary))
        except psycopg.Error as exc:
            log.warning("device state not written (kept for the next try): %s", exc)
            with self._lock:
                for d, values in pending.items():
                    _merge(self._pending, d, values)
            return False
        self.written += len(ids)
        return True

def _merge(pending: dict[int, tuple[int, int, int]], device: int, values: tuple[int, int, int]) -> None:
    """Keep the larger of each field (arrival, reading time, seq) for a device."""
    old = pending.get(device)
    if old is not None:
        values = (max(old[0], values[0]), max(old[1], values[1]), max(old[2], values[2]))
    pending[device] = values
