"""envmon.words, the one catalogue of text for people: the same keys and placeholders in every locale, no empty
text, codes named once for every surface, unknown codes shown as themselves."""

from __future__ import annotations

import string

import pytest

from envmon.words import LOCALES, WORDS, find, load_words, section, text, word


def _placeholders(value: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}


def test_every_locale_has_the_same_keys() -> None:
    """A key missing in one locale would show its dotted name to the people who read that locale."""
    keys = {locale: set(load_words(locale)) for locale in LOCALES}
    reference = keys[LOCALES[0]]
    missing = {locale: sorted(reference ^ found) for locale, found in keys.items() if found != reference}
    assert missing == {}


def test_every_text_has_the_same_placeholders_in_every_locale() -> None:
    """'{code}' in one language and not the other drops the alert code from that language's SMS."""
    differ = [key for key in WORDS["zh-CN"] if _placeholders(WORDS["zh-CN"][key]) != _placeholders(WORDS["en"][key])]
    assert differ == []


def test_only_the_sms_prefixes_and_punctuation_may_be_empty() -> None:
    """An empty text is a translation not yet written, except where nothing is the wording (no SMS prefix)."""
    empty = [f"{locale}:{key}" for locale in LOCALES for key, value in WORDS[locale].items()
             if not value and not key.startswith(("sms.reason_prefix.", "sms.basis.", "sms.unit."))]
    assert empty == []


def _shared_kinds() -> list[str]:
    return ["severity", "state", "disposition", "rule", "basis", "flag", "industry", "delivery", "notify", "actor",
            "event", "enforcement", "mark_reason"]


@pytest.mark.parametrize("kind", _shared_kinds())
def test_codes_are_named_once_outside_the_surfaces_sections(kind: str) -> None:
    """The dashboard, reports and SMS used to name severities, states and rules each their own way."""
    surfaces = ("page.", "report.", "sms.")
    codes = set(section("en", kind))
    copies = [k for k in WORDS["en"] if k.startswith(surfaces) and k.rpartition(".")[2].removeprefix(kind + "_")
              in codes and k.rpartition(".")[2].startswith(kind + "_")]
    assert codes and copies == []


@pytest.mark.parametrize(
    ("locale", "kind", "code", "expected"),
    [
        pytest.param("zh-CN", "severity", "level2", "二级报警", id="severity-zh"),
        pytest.param("en", "state", "resolved", "resolved", id="state-en"),
        pytest.param("zh-CN", "state", "resolved", "已解除", id="state-resolved-zh-as-the-sms-says"),
        pytest.param("zh-CN", "flag", "T", "超量程", id="t-over-range-zh"),
        pytest.param("en", "flag", "T", "over range", id="t-over-range-en"),
        pytest.param("zh-CN", "flag", "P", "断电", id="legacy-2005-p-power-failure-zh"),
        pytest.param("en", "flag", "P", "power failure", id="legacy-2005-p-power-failure-en"),
        pytest.param("en", "flag", "Q", "Q", id="unknown-flag-letter-shown-as-sent"),
        pytest.param("zh-CN", "rule", "manual", "持续人工录入数据", id="manual-rule-zh"),
        pytest.param("en", "rule", "implausible", "outside the measuring range", id="implausible-rule-en"),
        pytest.param("zh-CN", "notify", "new", "新告警", id="notification-reason-as-the-sender-stores-it"),
        pytest.param("zh-CN", "disposition", "a reason typed by a person", "a reason typed by a person",
                     id="free-text-passes-through"),
        pytest.param("en", "rule", None, "", id="no-code"),
        pytest.param("fr", "severity", "warning", "预警", id="unknown-locale-reads-the-default"),
    ],
)
def test_word_names_a_code(locale: str, kind: str, code: str | None, expected: str) -> None:
    assert word(locale, kind, code) == expected


def test_an_unknown_key_shows_itself_and_is_not_found() -> None:
    assert text("en", "page.no_such_key") == "page.no_such_key"
    assert find("en", "page.no_such_key") is None
    assert find("en", "page.login") == "Sign in"
