"""The ingest error tree (a rejected message is envmon.protocols.errors.RejectedMessage).

IngestError (an EnvmonError)
 +-- WriteError        the database did not take a batch (recoverable: retry with backoff)
 +-- IngestFailed      a thread of the ingest service died (ingest.service)
"""

from __future__ import annotations

from envmon.errors import EnvmonError


class IngestError(EnvmonError):
    """Base of the errors ingest raises."""


class WriteError(IngestError):
    """A batch could not be committed; nothing of it was stored."""
