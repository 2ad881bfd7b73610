"""Times and ages as people read them on the pages: local time zone, ages in the catalogue's units."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from envmon.words import text

# The largest unit that fits, as the catalogue's `age.*` names it.
_AGE_UNITS = ((86400, "age.day"), (3600, "age.hour"), (60, "age.minute"))


def local_time(value: datetime | None, zone: ZoneInfo, *, seconds: bool = True) -> str:
    """A UTC time as people read it in the local zone ('' for none)."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def age_text(seconds: float | None, locale: str) -> str:
    """How long ago, briefly: 45 s, 12 min, 3 h, 2 d."""
    if seconds is None:
        return text(locale, "page.never")
    for size, key in _AGE_UNITS:
        if seconds >= size:
            return f"{int(seconds // size)} {text(locale, key)}"
    return f"{int(max(seconds, 0))} {text(locale, 'age.second')}"
