"""Quarantine entries: bad input kept with its reason, bounded raw bytes, and where it came from.

The raw bytes go to a `bytea` column as they came. Every text field is made safe for a `text`
column first: PostgreSQL refuses NUL and cannot encode lone surrogates, and a refused quarantine row
once stopped the writer thread. Such characters are written as escapes (`\\x00`, `\\ud800`).
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_LIMIT_BYTES = 4096
DETAIL_LIMIT_CHARS = 2000
SHORT_LIMIT_CHARS = 200


def safe_text(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with NUL and lone surrogates written as backslash escapes."""
    cut = text[:limit]
    if cut.isprintable():
        return cut
    escaped = cut.encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped.replace("\x00", "\\x00")


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One refused message (or the part of one that could not be understood)."""

    transport: str
    source: str
    device_mn: str | None
    reason: str
    detail: str
    raw: bytes

    def row(self) -> tuple[str, str, str | None, str, str, bytes, bool]:
        """The `quarantine` row, with raw bytes cut to RAW_LIMIT_BYTES and every text made safe."""
        truncated = len(self.raw) > RAW_LIMIT_BYTES
        return (
            self.transport,
            safe_text(self.source, SHORT_LIMIT_CHARS),
            None if self.device_mn is None else safe_text(self.device_mn, SHORT_LIMIT_CHARS),
            safe_text(self.reason, SHORT_LIMIT_CHARS),
            safe_text(self.detail, DETAIL_LIMIT_CHARS),
            bytes(self.raw[:RAW_LIMIT_BYTES]),
            truncated,
        )

    def plain(self) -> QuarantineEntry:
        """This entry reduced to ASCII text, for when the database refused the entry itself."""
        ascii_only = [t.encode("ascii", "backslashreplace").decode("ascii") for t in (self.source, self.detail)]
        return QuarantineEntry(self.transport, ascii_only[0], None, "unstorable_entry", ascii_only[1], self.raw)
