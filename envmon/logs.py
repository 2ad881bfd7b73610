"""Logging set-up shared by every command: UTC timestamps, one line per event."""

from __future__ import annotations

import logging
import sys
import time


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is when a record comes, as logging's last-resort handler does.

    A handler holding the stream of its creation breaks when that stream is replaced and closed: a command run
    in-process by a test got pytest's capture of that test, and every later line from any thread then failed
    with "I/O operation on closed file"."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> object:
        return sys.stderr


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr as `time level logger: message`."""
    handler = _StderrHandler()
    handler.setFormatter(_UtcFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
