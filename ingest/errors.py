"""The ingest error tree.

IngestError (an EnvmonError)
 +-- RejectedMessage   a message that goes to quarantine: carries a short `reason` and a `detail`
 +-- WriteError        the database did not take a batch (recoverable: retry with backoff)
 +-- IngestFailed      a thread of the ingest service died (ingest.service)
"""

from __future__ import annotations

from envmon.errors import EnvmonError


class IngestError(EnvmonError):
    """Base of the errors ingest raises."""


class RejectedMessage(IngestError):
    """A message that cannot be stored; it is quarantined with this reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class WriteError(IngestError):
    """A batch could not be committed; nothing of it was stored."""
