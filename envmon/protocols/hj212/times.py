"""HJ 212 times: China Standard Time (UTC+8) as YYYYMMDDhhmmss, and QN as YYYYMMDDhhmmsszzz.

Real loggers also send DataTime with milliseconds, YYYYMMDDhhmmsszzz like a QN (17 digits); both
forms are read. Impossible dates (month 13, 30 February) are refused by the calendar.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from envmon.protocols.hj212.errors import FieldError

CST = timezone(timedelta(hours=8), "CST")
_TIME = re.compile(r"[0-9]{14}(?:[0-9]{3})?")


def _as_cst(moment: datetime) -> datetime:
    """An aware datetime moved to CST; naive datetimes are a programming error."""
    if moment.tzinfo is None:
        raise ValueError("HJ 212 times must be built from timezone-aware datetimes")
    return moment.astimezone(CST)


def format_cst(moment: datetime) -> str:
    """`moment` as HJ 212 local time YYYYMMDDhhmmss (CST, UTC+8)."""
    return _as_cst(moment).strftime("%Y%m%d%H%M%S")


def format_qn(moment: datetime) -> str:
    """A QN request id for `moment`: YYYYMMDDhhmmsszzz in CST."""
    local = _as_cst(moment)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def parse_cst(text: str, name: str) -> datetime:
    """An HJ 212 local time YYYYMMDDhhmmss[zzz] as an aware UTC datetime; FieldError naming `name`."""
    if not _TIME.fullmatch(text):
        raise FieldError(name, f"{name} {text!r} is not a time YYYYMMDDhhmmss or YYYYMMDDhhmmsszzz")
    try:
        local = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=CST, microsecond=int(text[14:] or 0) * 1000)
        return local.astimezone(UTC)
    except (ValueError, OverflowError):  # 0000, month 13, 30 February; 0001-01-01 00:00 CST is before UTC's year 1
        raise FieldError(name, f"{name} {text!r} is not a valid date and time") from None
