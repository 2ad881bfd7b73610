"""Report arithmetic and wording: multiples, durations, windows, rates, number and time formats, chart scale."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.reports import chart, display, measures
from alerts.reports.checklists import checks_for, parse_checklists
from alerts.reports.model import LimitFacts, SeriesPoint
from alerts.reports.render_html import page_counter_css

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _limit(**kw: object) -> LimitFacts:
    base: dict[str, object] = dict(
        limit_id=1, scheme="discharge", basis="day", direction="upper", lower=None, upper=0.1, warning_ratio=0.8,
        severe_multiple=3.0, level2_lower=None, level2_upper=None, unit="mg/L", source="GB 21900-2008 表3",
        valid_from=T0, valid_to=None,
    )
    base.update(kw)
    return LimitFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "limit", "multiple", "ratio"),
    [
        pytest.param(0.23, 0.1, 1.3, 2.3, id="crvi-2.3-times"),
        pytest.param(0.1, 0.1, 0.0, 1.0, id="at-the-limit"),
        pytest.param(0.05, 0.1, -0.5, 0.5, id="below"),
        pytest.param(1.7, 0.5, 2.4, 3.4, id="lead-over-severe"),
        pytest.param(0.2, 0.0, None, None, id="zero-limit-has-no-multiple"),
        pytest.param(None, 0.1, None, None, id="no-value"),
        pytest.param(0.2, None, None, None, id="no-limit"),
    ],
)
def test_exceedance_multiple_is_value_minus_limit_over_limit(
    value: float | None, limit: float | None, multiple: float | None, ratio: float | None
) -> None:
    assert measures.exceedance_multiple(value, limit) == (None if multiple is None else pytest.approx(multiple))
    assert measures.value_to_limit(value, limit) == (None if ratio is None else pytest.approx(ratio))


@pytest.mark.parametrize(
    ("resolved", "now", "seconds"),
    [
        pytest.param(None, T0 + timedelta(hours=2, minutes=25), 8700, id="open-counts-to-now"),
        pytest.param(T0 + timedelta(hours=1), T0 + timedelta(hours=5), 3600, id="resolved-counts-to-resolution"),
        pytest.param(T0 + timedelta(hours=9), T0 + timedelta(hours=5), 18000, id="future-resolution-counts-to-now"),
        pytest.param(None, T0 - timedelta(minutes=1), 0, id="never-negative"),
    ],
)
def test_duration(resolved: datetime | None, now: datetime, seconds: float) -> None:
    assert measures.duration_seconds(T0, resolved, now) == seconds


@pytest.mark.parametrize(
    ("first", "resolved", "now", "start", "end"),
    [
        pytest.param(T0, None, T0 + timedelta(hours=2), T0 - timedelta(hours=22), T0 + timedelta(hours=2), id="last-24h"),
        pytest.param(T0, None, T0 + timedelta(hours=30), T0 - timedelta(hours=1), T0 + timedelta(hours=30), id="long-event-stretches-back"),
        pytest.param(T0, T0 + timedelta(hours=2), T0 + timedelta(days=2), T0 - timedelta(hours=21), T0 + timedelta(hours=3), id="resolved-ends-an-hour-after"),
    ],
)
def test_chart_window(first: datetime, resolved: datetime | None, now: datetime, start: datetime, end: datetime) -> None:
    assert measures.chart_window(first, resolved, now) == (start, end)


@pytest.mark.parametrize(
    ("received", "expected", "rate"),
    [
        pytest.param(20040, 20160, 20040 / 20160, id="one-hour-gap"),
        pytest.param(20200, 20160, 1.0, id="resends-capped-at-one"),
        pytest.param(0, 0, 0.0, id="nothing-expected"),
    ],
)
def test_transmission_rate(received: int, expected: int, rate: float) -> None:
    assert measures.transmission_rate(received, expected) == pytest.approx(rate)


def test_expected_samples_and_validity_rate() -> None:
    assert measures.expected_samples(7 * 86400, 30) == 20160
    assert measures.expected_samples(-5, 30) == 0
    assert measures.validity_rate(99, 100) == pytest.approx(0.99)
    assert measures.validity_rate(0, 0) is None


@pytest.mark.parametrize(
    ("limit", "warning", "line"),
    [
        pytest.param(_limit(), 0.08, 0.1, id="discharge-80-percent"),
        pytest.param(_limit(warning_ratio=None), None, 0.1, id="no-warning-ratio"),
        pytest.param(_limit(scheme="gas_alarm", upper=25.0, level2_upper=50.0, warning_ratio=None), 25.0, 50.0, id="gas-levels"),
        pytest.param(_limit(direction="range", lower=6.0, upper=9.0), None, 9.0, id="ph-range"),
    ],
)
def test_warning_and_limit_lines(limit: LimitFacts, warning: float | None, line: float | None) -> None:
    assert measures.warning_value(limit) == (None if warning is None else pytest.approx(warning))
    assert measures.limit_line(limit) == line


@pytest.mark.parametrize(
    ("value", "limit", "over"),
    [
        pytest.param(0.11, _limit(), True, id="above-upper"),
        pytest.param(0.1, _limit(), False, id="at-upper"),
        pytest.param(5.5, _limit(direction="range", lower=6.0, upper=9.0), True, id="ph-below-range"),
        pytest.param(7.0, _limit(direction="range", lower=6.0, upper=9.0), False, id="ph-inside"),
        pytest.param(None, _limit(), False, id="no-value"),
    ],
)
def test_is_over_limit(value: float | None, limit: LimitFacts, over: bool) -> None:
    assert measures.is_over_limit(value, limit) is over


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(0.23, "0.23", id="two-decimals"),
        pytest.param(0.0005, "0.0005", id="small"),
        pytest.param(0.002002, "0.002002", id="four-significant"),
        pytest.param(28.1234, "28.12", id="rounded"),
        pytest.param(1500.0, "1500", id="integer"),
        pytest.param(0.0, "0", id="zero"),
        pytest.param(-0.25, "-0.25", id="negative"),
        pytest.param(None, "—", id="missing"),
    ],
)
def test_numbers_are_written_exactly(value: float | None, text: str) -> None:
    assert display.number(value) == text


@pytest.mark.parametrize(
    ("seconds", "zh", "en"),
    [
        pytest.param(8700, "2小时25分", "2 h 25 min", id="hours-minutes"),
        pytest.param(59, "0分", "0 min", id="under-a-minute"),
        pytest.param(90061, "1天1小时1分", "1 d 1 h 1 min", id="days"),
    ],
)
def test_durations_in_both_languages(seconds: float, zh: str, en: str) -> None:
    assert (display.duration(seconds, "zh-CN"), display.duration(seconds, "en")) == (zh, en)


def test_times_are_shown_in_local_time_with_the_zone() -> None:
    assert display.local_time(T0, SHANGHAI) == "2026-11-22 11:00"
    assert display.zone_label(SHANGHAI, T0) == "Asia/Shanghai (UTC+08:00)"
    assert display.quantity(0.23, "mg/L") == "0.23 mg/L" and display.quantity(7.6, "pH") == "7.6"
    assert display.multiple(1.3, "zh-CN") == "1.30 倍" and display.multiple(1.3, "en") == "1.30x"


@pytest.mark.parametrize(
    ("value", "top"),
    [pytest.param(0.23, 0.25, id="quarter"), pytest.param(0.19, 0.2, id="two"), pytest.param(7.0, 10.0, id="ten"),
     pytest.param(41.0, 50.0, id="fifty"), pytest.param(0.0, 1.0, id="zero")],
)
def test_axis_tops_are_round(value: float, top: float) -> None:
    assert chart.nice_ceiling(value) == pytest.approx(top)


def test_value_ticks_are_round_steps() -> None:
    assert chart.value_ticks(0.0, 0.25) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.25])


def test_event_chart_draws_limit_warning_peak_and_flags() -> None:
    points = [SeriesPoint(T0 + timedelta(minutes=i), 0.02 if i < 30 else 0.2, "C" if i == 5 else "N") for i in range(60)]
    svg = chart.line_chart(
        points, start=T0, end=T0 + timedelta(hours=1), zone=SHANGHAI, unit="mg/L",
        lines=[chart.RefLine(0.08, "预警线", "#d97706", dashed=True), chart.RefLine(0.1, "限值", "#dc2626")],
        peak=(T0 + timedelta(minutes=45), 0.23), breach_at=T0 + timedelta(minutes=30),
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "限值 0.1" in svg and "预警线 0.08" in svg and "0.23 mg/L" in svg
    assert svg.count(chart.FLAG_COLOURS["C"]) == 1
    assert svg.count("<path") == 1


def test_missing_values_break_the_line() -> None:
    points = [SeriesPoint(T0 + timedelta(minutes=i), None if i == 10 else 1.0, "N") for i in range(20)]
    svg = chart.line_chart(points, start=T0, end=T0 + timedelta(minutes=20), zone=SHANGHAI, unit="mg/L")
    path = svg.split('<path d="')[1].split('"')[0]
    assert [c[0] for c in path.split()[::2]].count("M") == 2  # one move at the start, one after the hole



def _wavy(count: int, step_seconds: int, spike_at: int) -> list[SeriesPoint]:
    """A noisy series with one spike up at `spike_at` and one dip three samples later."""
    def value(i: int) -> float:
        return 1.0 + (i % 7) * 0.01 + (5.0 if i == spike_at else 0.0) - (0.9 if i == spike_at + 3 else 0.0)

    return [SeriesPoint(T0 + timedelta(seconds=step_seconds * i), value(i), "N") for i in range(count)]


@pytest.mark.parametrize(
    ("count", "step_seconds", "spike_at"),
    [
        pytest.param(1440, 60, 700, id="a-day-of-minutes"),
        pytest.param(17280, 5, 9001, id="a-day-at-5-s"),
        pytest.param(1440, 60, 0, id="spike-first"),
        pytest.param(1440, 60, 1436, id="spike-near-the-end"),
        pytest.param(100, 60, 50, id="fewer-points-than-pixels"),
    ],
)
def test_thinning_keeps_each_pixel_columns_lowest_and_highest(count: int, step_seconds: int, spike_at: int) -> None:
    points = _wavy(count, step_seconds, spike_at)
    frame = chart.Frame(T0, T0 + timedelta(seconds=step_seconds * count), 0.0, 10.0, 640, 300)
    thinned = chart.thin(points, frame)
    by_column: dict[int, list[float]] = {}
    for p in points:
        by_column.setdefault(math.floor(frame.x(p.time)), []).append(p.value or 0.0)
    kept: dict[int, list[float]] = {}
    for p in thinned:
        kept.setdefault(math.floor(frame.x(p.time)), []).append(p.value or 0.0)
    assert kept.keys() == by_column.keys()
    assert all(len(v) <= 2 and (min(v), max(v)) == (min(by_column[c]), max(by_column[c])) for c, v in kept.items())
    assert [p.time for p in thinned] == sorted(p.time for p in thinned)
    assert len(thinned) == count if count < 300 else len(thinned) < count


def test_event_chart_path_has_at_most_two_points_per_pixel_column() -> None:
    points = _wavy(17280, 5, 9001)  # a day of a 5 s gas detector
    svg = chart.line_chart(points, start=T0, end=T0 + timedelta(days=1), zone=SHANGHAI, unit="%LEL")
    path = svg.split('<path d="')[1].split('"')[0].split()
    columns = [math.floor(float(x[1:])) for x in path[::2]]
    # Two per column (thin() above, exactly); a third where x rounds to one decimal across a column's edge.
    assert max(columns.count(c) for c in set(columns)) <= 3
    assert len(columns) <= 2 * (640 - chart.LEFT - chart.RIGHT + 1)
    assert min(float(y) for y in path[1::2]) < max(float(y) for y in path[1::2]) - 100  # the spike is drawn


CHECKS = parse_checklists(
    """
[[checks]]
pollutants = ["w20117"]
industries = ["electroplating"]
zh = "还原池"
en = "reduction tank"

[[checks]]
pollutants = ["w*"]
rules = ["instant", "day_avg"]
zh = "留样"
en = "retained sample"
ref = "HJ 212-2017 CN 3015"

[[checks]]
rules = ["silent"]
zh = "供电"
en = "power"
"""
)


@pytest.mark.parametrize(
    ("pollutant", "industry", "rule", "expected"),
    [
        pytest.param("w20117", "electroplating", "instant", ["reduction tank", "retained sample"], id="crvi-plating"),
        pytest.param("w20117", "chemical", "day_avg", ["retained sample"], id="crvi-elsewhere"),
        pytest.param("a21026", "chemical", "hour_avg", [], id="stack-gas-other-rule"),
        pytest.param("w00000", "chemical", "silent", ["power"], id="silent-device"),
    ],
)
def test_checklist_matches_pollutant_industry_and_rule(pollutant: str, industry: str, rule: str, expected: list[str]) -> None:
    assert [c.text_en for c in checks_for(pollutant, industry, rule, CHECKS)] == expected


def test_shipped_checklist_covers_chromium_at_electroplating_plants() -> None:
    checks = checks_for("w20117", "electroplating", "instant")
    assert any("ORP" in c.text_en and "pH" in c.text_en for c in checks)
    assert any("bypass" in c.text_en for c in checks)
    assert any(c.reference == "HJ 212-2017 CN 3015" for c in checks)


@pytest.mark.parametrize(
    ("label", "css"),
    [
        pytest.param("第 {page} 页 / 共 {pages} 页", '"第 " counter(page) " 页 / 共 " counter(pages) " 页"', id="zh"),
        pytest.param("Page {page} of {pages}", '"Page " counter(page) " of " counter(pages)', id="en"),
    ],
)
def test_page_numbers_become_css_counters(label: str, css: str) -> None:
    assert page_counter_css(label) == css


@pytest.mark.parametrize(
    ("pollutant", "valid_count", "flag", "valid"),
    [
        pytest.param("w20117", 110, "C", True, id="water-hour-with-calibration-keeps-its-valid-mean"),
        pytest.param("w20117", 0, "D", False, id="water-hour-without-valid-values"),
        pytest.param("a21026", 100, "N", True, id="gas-hour-75-percent-valid"),
        pytest.param("a21026", 40, "D", False, id="gas-hour-under-75-percent"),
    ],
)
def test_interval_validity(pollutant: str, valid_count: int, flag: str, valid: bool) -> None:
    assert measures.is_valid_interval(pollutant, valid_count, flag) is valid
