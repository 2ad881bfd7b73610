"""What flows through the ingest pipeline: received items, prepared batches, committed batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from envmon.columns import ReadingColumns, Row
from ingest.directory import DeviceDirectory
from ingest.quarantine import QuarantineEntry


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

    def quarantined(self, reason: str, detail: str) -> QuarantineEntry:
        """This message as a quarantine entry."""
        return QuarantineEntry(self.source.transport, self.origin, self.device, reason, detail, self.payload)


@dataclass(slots=True)
class PreparedBatch:
    """A decoded and checked batch, waiting for a committer; `number` orders acknowledgements."""

    number: int
    items: list[Inbound]
    readings: ReadingColumns  # in item order
    item_index: npt.NDArray[np.intp]  # the item each reading came from
    quarantine: list[QuarantineEntry]
    copy_data: bytes  # the readings in binary COPY format, grouped by device
    lane: bool = False  # the priority lane's (ingest/lane.py): numbered apart from the backlog's batches


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A committed batch, handed to subscribers (readings include redelivered duplicates).

    `lane`: the priority lane's (life-safety devices only, ingest/lane.py), handed over ahead of backlog
    batches committed earlier or later; each device rides one lane, so its readings still come in order."""

    readings: ReadingColumns
    committed_at: datetime
    directory: DeviceDirectory
    lane: bool = False


class BatchSubscriber(Protocol):
    """Receives every committed batch (the alert engine is one)."""

    def on_batch(self, batch: StoredBatch) -> None: ...
