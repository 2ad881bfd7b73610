"""Quarantine entries: bad input kept with its reason, bounded raw bytes, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass

RAW_LIMIT_BYTES = 4096


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
        """The `quarantine` row, with raw bytes cut to RAW_LIMIT_BYTES."""
        truncated = len(self.raw) > RAW_LIMIT_BYTES
        return (
            self.transport,
            self.source,
            self.device_mn,
            self.reason,
            self.detail[:2000],
            self.raw[:RAW_LIMIT_BYTES],
            truncated,
        )
