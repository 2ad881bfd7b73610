"""Text for people in zh-CN and English: the one catalogue the dashboard, the reports and the SMS read.

The words live in `envmon/data/words/<locale>.toml`, one file per locale with the same keys
(tests/unit/test_words.py). A key is `section.name`: a kind of code that every surface names the same way
(`severity.level2`, `state.open`, `rule.day_avg`, `flag.T`, ...) or a surface's own word (`page.login`,
`report.title`, `sms.reply_help`). Both files are read once, at import: a lookup is two dict accesses, as
cheap as the tables they replace on the alert path (the SMS render).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

Locale = Literal["zh-CN", "en"]
LOCALES: tuple[Locale, ...] = ("zh-CN", "en")
DEFAULT_LOCALE: Locale = "zh-CN"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested TOML tables as dotted keys ({"sms": {"link": ...}} -> {"sms.link": ...})."""
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = str(value)
    return flat


def load_words(locale: str) -> dict[str, str]:
    """Every word of one locale by dotted key, read from the package's data file."""
    data = resources.files("envmon.data").joinpath("words", f"{locale}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(data))


def _by_kind(words: dict[str, str]) -> dict[str, dict[str, str]]:
    """The same words grouped by section (`sms.basis` -> {"hour_avg": ...}): a code's name without building its key."""
    kinds: dict[str, dict[str, str]] = {}
    for key, value in words.items():
        kind, _, code = key.rpartition(".")
        kinds.setdefault(kind, {})[code] = value
    return kinds


WORDS: dict[str, dict[str, str]] = {locale: load_words(locale) for locale in LOCALES}
_KINDS: dict[str, dict[str, dict[str, str]]] = {locale: _by_kind(words) for locale, words in WORDS.items()}


def _words_of(locale: str) -> dict[str, str]:
    # An unknown locale reads as the default, as the dashboard always did (locales are checked where they enter).
    return WORDS.get(locale) or WORDS[DEFAULT_LOCALE]


# text() and word() try the plain subscripts first: they run on the alert path (the SMS render), where a miss
# is rare, and a `try` costs nothing until it catches; find() is for keys that may well be missing.
def find(locale: str, key: str) -> str | None:
    """The text of a key in the locale, or None when the catalogue has no such key."""
    return (WORDS.get(locale) or WORDS[DEFAULT_LOCALE]).get(key)  # a miss is expected here: no exception


def text(locale: str, key: str) -> str:
    """The text of a key in the locale (the key itself when unknown, so a gap shows instead of failing)."""
    try:
        return WORDS[locale][key]
    except KeyError:
        return _words_of(locale).get(key, key)


def word(locale: str, kind: str, code: str | None) -> str:
    """A code as people read it (`kind.code` in the catalogue); the code itself when the catalogue has none
    (free text, such as a person's reason or an unknown flag letter, passes through), '' for none."""
    if code is None:
        return ""
    try:
        return _KINDS[locale][kind][code]
    except KeyError:
        return _words_of(locale).get(f"{kind}.{code}", code)


@cache
def section(locale: str, name: str) -> Mapping[str, str]:
    """The words of one section by their short key (`report` -> {"title": ..., ...}), built once."""
    prefix = name + "."
    return MappingProxyType({k.removeprefix(prefix): v for k, v in _words_of(locale).items() if k.startswith(prefix)})


def pick_locale(requested: str | None, default: str) -> str:
    """A supported locale: the requested one when known, else the default."""
    return requested if requested in LOCALES else default
