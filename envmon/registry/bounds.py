"""What every registry value must keep, whoever writes it (the registry file, the admin pages).

Numbers are finite and of a sane size: a NaN limit reads as "no limit" and an infinite one never trips.
Text is bounded and carries no control characters: PostgreSQL refuses NUL, a 5 MB name breaks every page
and SMS that shows it, and bidirectional overrides make a name read differently from what it is.
Long free text (notes, addresses) may hold line breaks and tabs; nothing else may.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from envmon.words import text

# Names, codes, units, roles: one line.
MAX_TEXT_CHARS = 200
# Notes, enforcement history, addresses, EIA approvals: paragraphs.
MAX_LONG_TEXT_CHARS = 4000
# Fields that may hold paragraphs (by field name, in the registry file and the admin forms alike).
LONG_TEXT_FIELDS = frozenset({"notes", "enforcement_notes", "eia_approval", "address_zh", "address_en", "reason"})
# No registry quantity (a limit, a ratio, a coordinate) comes near this; beyond it a number is a typo or an attack.
MAX_ABS_NUMBER = 1e12

# DEL, C1 controls, lone surrogates, and the bidirectional embeddings, overrides and isolates; then the
# C0 controls, of which paragraphs keep tab, line feed and carriage return.
_NEVER = "\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069"
_BAD_LINE = re.compile(f"[\x00-\x1f\u2028\u2029{_NEVER}]")
_BAD_PARAGRAPH = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f{_NEVER}]")


class BoundsError(ValueError):
    """A value outside what the registry accepts; the message says why without echoing the value (the
    caller names the field: the loader by its key path, the admin pages by the form field). `problem` names
    the words (`bounds.<problem>` in the catalogue), `where` the field and item, for a page in any language."""

    def __init__(self, problem: str, *, where: tuple[str, ...] = (), **params: object) -> None:
        self.problem = problem
        self.where = where
        self.params = params
        super().__init__(": ".join([*where, self.detail("en")]))

    def detail(self, locale: str) -> str:
        """What is wrong with the value, in the locale (without where it is)."""
        return text(locale, f"bounds.{self.problem}").format(**self.params)

    def inside(self, where: str) -> BoundsError:
        """The same problem, one level further out (`item 2`, then the field's name)."""
        return BoundsError(self.problem, where=(where, *self.where), **self.params)


def check_number(value: float) -> float:
    """A finite number of a sane size; BoundsError otherwise."""
    if not math.isfinite(value):
        raise BoundsError("not_finite", value=repr(value))
    if abs(value) > MAX_ABS_NUMBER:
        raise BoundsError("too_large", limit=f"{MAX_ABS_NUMBER:g}")
    return value


def check_text(value: str, *, field: str) -> str:
    """Text of bounded length without control characters (LONG_TEXT_FIELDS may hold line breaks); BoundsError."""
    long = field in LONG_TEXT_FIELDS
    limit = MAX_LONG_TEXT_CHARS if long else MAX_TEXT_CHARS
    if len(value) > limit:
        raise BoundsError("too_long", length=len(value), limit=limit)
    bad = (_BAD_PARAGRAPH if long else _BAD_LINE).search(value)
    if bad is not None:
        raise BoundsError("control", code=f"{ord(bad.group()):04X}", position=bad.start())
    return value


def check_value(value: object, *, field: str) -> object:
    """check_text / check_number on a value, or on each item of a list or tuple of them; others pass."""
    if isinstance(value, str):
        return check_text(value, field=field)
    if isinstance(value, float):
        return check_number(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ABS_NUMBER:
        raise BoundsError("too_large", limit=f"{MAX_ABS_NUMBER:g}")
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            try:
                check_value(item, field=field)
            except BoundsError as exc:
                raise exc.inside(f"item {i}") from None
    return value


def check_fields(values: Mapping[str, object]) -> None:
    """check_value on each named value; the BoundsError names the field refused."""
    for name, value in values.items():
        try:
            check_value(value, field=name)
        except BoundsError as exc:
            raise exc.inside(name) from None
