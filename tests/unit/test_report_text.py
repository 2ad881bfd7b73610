"""alerts.reports.text: codes named for people in both locales; unknown codes shown as themselves."""

from __future__ import annotations

import pytest

from alerts.reports.text import name_of


@pytest.mark.parametrize(
    ("kind", "code", "locale", "expected"),
    [
        pytest.param("flag", "T", "zh-CN", "超量程", id="t-over-range-zh"),
        pytest.param("flag", "T", "en", "over range", id="t-over-range-en"),
        pytest.param("flag", "P", "zh-CN", "断电", id="legacy-2005-p-power-failure-zh"),
        pytest.param("flag", "P", "en", "power failure", id="legacy-2005-p-power-failure-en"),
        pytest.param("flag", "Q", "en", "Q", id="unknown-letter-shown-as-sent"),
        pytest.param("rule", "manual", "zh-CN", "持续人工录入数据", id="manual-rule-zh"),
        pytest.param("rule", "implausible", "en", "outside the measuring range", id="implausible-rule-en"),
        pytest.param("flag", None, "en", "", id="no-code"),
    ],
)
def test_codes_are_named_in_each_locale(kind: str, code: str | None, locale: str, expected: str) -> None:
    assert name_of(kind, code, locale) == expected
