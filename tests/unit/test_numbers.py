"""The one display rule for numbers people read (envmon.numbers): pages, API JSON and reports."""

from __future__ import annotations

import math

import pytest

from alerts.reports import display
from dashboard.api import for_people, rounded_series
from dashboard.render import environment
from envmon.numbers import display_value, format_number


@pytest.mark.parametrize(("value", "text"), [
    pytest.param(0.26081240000000006, "0.2608", id="api-artefact-from-issue"),
    pytest.param(0.1 * 3, "0.3", id="0.1x3"),
    pytest.param(0.010000000000000007, "0.01", id="cd-daily-mean-artefact"),
    pytest.param(28.125, "28.12", id="half-even-down-gbt8170"),
    pytest.param(28.135, "28.14", id="half-even-up-gbt8170"),
    pytest.param(12345.6, "12346", id="integer-digits-kept-no-exponent"),
    pytest.param(1500.0, "1500", id="no-trailing-zeros"),
    pytest.param(9.99996, "10", id="carry-into-new-digit"),
    pytest.param(0.0005, "0.0005", id="small-limit-precision"),
    pytest.param(0.00049996, "0.0005", id="small-rounded"),
    pytest.param(1e-7, "0", id="below-six-decimals"),
    pytest.param(-0.0, "0", id="negative-zero"),
    pytest.param(-3.14159, "-3.142", id="negative"),
    pytest.param(0.0, "0", id="zero"),
    pytest.param(None, "—", id="none"),
    pytest.param(math.nan, "—", id="nan"),
])
def test_format_number(value: float | None, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param(0.26081240000000006, 0.2608, id="api-artefact"),
    pytest.param(0.30000000000000004, 0.3, id="0.1x3"),
    pytest.param(12345.6, 12346.0, id="large"),
    pytest.param(None, None, id="none"),
    pytest.param(math.inf, None, id="infinite-absent"),
])
def test_display_value_for_json(value: float | None, expected: float | None) -> None:
    assert display_value(value) == expected


@pytest.mark.parametrize("value", [0.26081240000000006, 12345.6, 0.00049996, 7.0, 28.135])
def test_pages_reports_and_api_write_a_value_alike(value: float) -> None:
    page = environment().from_string("{{ v | number }}").render(v=value)
    report = display.number(value)
    api = display_value(value)
    assert page == report == format_number(api)


@pytest.mark.parametrize(("data", "expected"), [
    pytest.param({"value": 0.26081240000000006, "latitude": 30.918812345}, {"value": 0.2608, "latitude": 30.918812345},
                 id="values-rounded-coordinates-kept"),
    pytest.param({"readings": [{"lines": [{"kind": "warning", "value": 0.08000000000000002}], "age_seconds": 12.345}]},
                 {"readings": [{"lines": [{"kind": "warning", "value": 0.08}], "age_seconds": 12.345}]},
                 id="nested-lines"),
    pytest.param([{"last_value": 300.00000000000006, "limit_value": 0.1, "id": 7}],
                 [{"last_value": 300.0, "limit_value": 0.1, "id": 7}], id="alert-queue"),
    pytest.param({"value": None, "upper_value": 7}, {"value": None, "upper_value": 7}, id="none-and-int-untouched"),
])
def test_api_rounds_what_people_read(data: object, expected: object) -> None:
    assert for_people(data) == expected


def test_api_series_rounded_by_the_same_rule() -> None:
    series = {"t": [1.5], "avg": [0.26081240000000006], "min": [None], "max": [12345.6], "flag": ["N"]}
    assert rounded_series(series) == {"t": [1.5], "avg": [0.2608], "min": [None], "max": [12346.0], "flag": ["N"]}
