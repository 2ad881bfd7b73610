"""The HJ 212 error tree; every error the codec raises on purpose is one of these.

HJ212Error (a ProtocolError, envmon/protocols/errors.py)
 +-- FrameError     the framing is wrong: header, length, CRLF, size, non-ASCII bytes
 |    +-- CrcError  the CRC in the frame does not match the data segment (`expected`, `found`)
 +-- FieldError     a data segment or CP field is missing, repeated or malformed (`field`)
"""

from __future__ import annotations

from envmon.protocols.errors import ProtocolError


class HJ212Error(ProtocolError):
    """Base of every error the HJ 212 codec raises on purpose."""


class FrameError(HJ212Error):
    """The frame around the data segment is wrong (header, length, CRLF, size, encoding)."""


class CrcError(FrameError):
    """The frame's CRC differs from the one computed over its data segment."""

    def __init__(self, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(f"CRC mismatch: frame says {found}, computed {expected}")


class FieldError(HJ212Error):
    """A field of the data segment or of the CP data area is missing, repeated or malformed."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)
