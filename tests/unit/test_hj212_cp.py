"""The CP data area: realistic uploads, unknown fields kept, bad numbers refused, building and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envmon.protocols.hj212.cp import (
    NUMERIC_FIELDS,
    DataArea,
    PollutantValue,
    build_cp,
    build_return_cp,
    build_time_range_cp,
    format_number,
    parse_cp,
)
from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.message import parse_segment
from envmon.protocols.hj212.times import format_cst, format_qn, parse_cst

REALTIME_WASTEWATER = (
    "QN=20260520103000123;ST=32;CN=2011;PW=123456;MN=310120EP001W01;Flag=5;CP=&&DataTime=20260520103000;"
    "w20117-Rtd=42.5,w20117-Flag=N;w20116-Rtd=0.31,w20116-Flag=N;w01001-Rtd=7.2,w01001-Flag=N;"
    "w00000-Rtd=3.4,w00000-Flag=N&&"
)
HOURLY_WASTEWATER = (
    "QN=20260520110000456;ST=32;CN=2061;PW=123456;MN=310120EP001W01;Flag=4;CP=&&DataTime=20260520100000;"
    "w20120-Avg=12.5,w20120-Min=8.1,w20120-Max=20.3,w20120-Flag=N;"
    "w00000-Avg=3.1,w00000-Min=2.0,w00000-Max=4.4,w00000-Cou=11160,w00000-Flag=N;"
    "w01018-Avg=55.0,w01018-Min=40.2,w01018-Max=71.9,w01018-Flag=M&&"
)
LEGACY_2005 = "ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20260520103000;011-Rtd=50.1,011-Flag=N;060-Rtd=2.3,060-Flag=N;B01-Rtd=10.0,B01-Flag=N&&"


def test_realtime_wastewater_upload() -> None:
    area = parse_cp(parse_segment(REALTIME_WASTEWATER).cp)
    assert area.data_time == datetime(2026, 5, 20, 2, 30, tzinfo=UTC)
    assert area.values == (
        PollutantValue("w20117", "Rtd", 42.5, "N"),
        PollutantValue("w20116", "Rtd", 0.31, "N"),
        PollutantValue("w01001", "Rtd", 7.2, "N"),
        PollutantValue("w00000", "Rtd", 3.4, "N"),
    )
    assert area.unknown == ()


def test_hourly_upload_with_avg_min_max_and_cumulative_flow() -> None:
    area = parse_cp(parse_segment(HOURLY_WASTEWATER).cp)
    assert area.data_time == datetime(2026, 5, 20, 2, 0, tzinfo=UTC)
    by_name = {(v.code, v.field): (v.value, v.flag) for v in area.values}
    assert by_name[("w20120", "Avg")] == (12.5, "N")
    assert by_name[("w00000", "Cou")] == (11160.0, "N")
    assert by_name[("w01018", "Max")] == (71.9, "M")
    assert len(area.values) == 10


def test_legacy_2005_codes_are_read_like_current_ones() -> None:
    area = parse_cp(parse_segment(LEGACY_2005).cp)
    assert [(v.code, v.field, v.value) for v in area.values] == [
        ("011", "Rtd", 50.1),
        ("060", "Rtd", 2.3),
        ("B01", "Rtd", 10.0),
    ]


def test_flag_in_another_item_still_applies_to_its_code() -> None:
    area = parse_cp("w01018-Rtd=1.5;w01018-Flag=D")
    assert area.values == (PollutantValue("w01018", "Rtd", 1.5, "D"),)


def test_values_without_a_flag_have_none() -> None:
    assert parse_cp("w01018-Rtd=1.5").values[0].flag is None


def test_unknown_fields_are_kept_not_refused() -> None:
    area = parse_cp("DataTime=20260520103000;w01018-Rtd=1,w01018-Info=x;Foo=1;w99-Flag=N;-Rtd=2;SB1-RS=1")
    assert area.values == (PollutantValue("w01018", "Rtd", 1.0),)
    assert area.unknown == ("w01018-Info=x", "Foo=1", "w99-Flag=N", "-Rtd=2", "SB1-RS=1")


def test_recognised_text_fields_are_kept_in_other() -> None:
    area = parse_cp("RtdInterval=30;w01018-SampleTime=20260520100000,w01018-EFlag=A01,w01018-Rtd=3")
    assert area.other == (("RtdInterval", "30"), ("w01018-SampleTime", "20260520100000"), ("w01018-EFlag", "A01"))


def test_empty_items_are_skipped() -> None:
    assert parse_cp(";w01018-Rtd=1;;").values == (PollutantValue("w01018", "Rtd", 1.0),)
    assert parse_cp("") == DataArea()


def test_history_request_and_reply_fields() -> None:
    area = parse_cp("BeginTime=20260520000000;EndTime=20260520235959;QnRtn=1;ExeRtn=100")
    assert area.begin_time == datetime(2026, 5, 19, 16, 0, tzinfo=UTC)
    assert area.end_time == datetime(2026, 5, 20, 15, 59, 59, tzinfo=UTC)
    assert (area.qn_rtn, area.exe_rtn) == (1, 100)


@pytest.mark.parametrize(
    ("cp", "field", "message"),
    [
        pytest.param("w01018-Rtd=abc", "w01018-Rtd", "w01018-Rtd: 'abc' is not a number", id="letters"),
        pytest.param("w01018-Rtd=NaN", "w01018-Rtd", "'NaN' is not a number", id="nan"),
        pytest.param("w01018-Avg=inf", "w01018-Avg", "'inf' is not a number", id="inf"),
        pytest.param("w01018-Max=-Infinity", "w01018-Max", "is not a number", id="minus-infinity"),
        pytest.param("w01018-Rtd=", "w01018-Rtd", "'' is not a number", id="empty"),
        pytest.param("w01018-Rtd=1_000", "w01018-Rtd", "is not a number", id="underscore"),
        pytest.param("w01018-Rtd= 1", "w01018-Rtd", "is not a number", id="space"),
        pytest.param("w01018-Rtd=1,5", "CP", "CP field '5' is not name=value", id="decimal-comma"),
        pytest.param("w01018-Rtd=1e999", "w01018-Rtd", "'1e999' is out of range", id="overflow"),
        pytest.param("DataTime=2026052010300", "DataTime", "DataTime '2026052010300' is not a time YYYYMMDDhhmmss", id="short-time"),
        pytest.param("DataTime=20261320103000", "DataTime", "not a valid date and time", id="month-13"),
        pytest.param("BeginTime=2026-05-20", "BeginTime", "is not a time", id="iso-time"),
        pytest.param("QnRtn=ok", "QnRtn", "QnRtn: 'ok' is not a whole number", id="qnrtn-text"),
        pytest.param("w01018-Rtd=1;w01018-Rtd=2", "w01018-Rtd", "duplicate CP field w01018-Rtd", id="duplicate-value"),
        pytest.param("DataTime=20260520103000;DataTime=20260520103000", "DataTime", "duplicate CP field DataTime", id="duplicate-time"),
        pytest.param("w01018-Rtd=1,junk", "CP", "CP field 'junk' is not name=value", id="no-equals"),
        pytest.param("=5", "CP", "is not name=value", id="no-name"),
    ],
)
def test_malformed_cp_fields_are_refused_naming_the_field(cp: str, field: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_cp(cp)
    assert caught.value.field == field
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("42.5", 42.5, id="decimal"),
        pytest.param("-0.5", -0.5, id="negative"),
        pytest.param("+3", 3.0, id="plus"),
        pytest.param(".5", 0.5, id="leading-dot"),
        pytest.param("5.", 5.0, id="trailing-dot"),
        pytest.param("1.2E-3", 0.0012, id="exponent"),
    ],
)
def test_numbers_loggers_send(text: str, value: float) -> None:
    assert parse_cp(f"w01018-Rtd={text}").values[0].value == value


def test_build_cp_groups_fields_by_code_with_the_flag_last() -> None:
    values = [
        PollutantValue("w20117", "Rtd", 42.5, "N"),
        PollutantValue("w01018", "Avg", 55.0, "M"),
        PollutantValue("w01018", "Max", 71.9, "M"),
    ]
    text = build_cp(datetime(2026, 5, 20, 2, 30, tzinfo=UTC), values)
    assert text == "DataTime=20260520103000;w20117-Rtd=42.5,w20117-Flag=N;w01018-Avg=55.0,w01018-Max=71.9,w01018-Flag=M"


def test_build_cp_refuses_two_flags_for_one_code() -> None:
    values = [PollutantValue("w01018", "Avg", 1.0, "N"), PollutantValue("w01018", "Max", 2.0, "D")]
    with pytest.raises(FieldError, match="values of w01018 carry different flags: D, N"):
        build_cp(None, values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"code": "w01-018", "field": "Rtd", "value": 1.0}, "pollutant code 'w01-018' is malformed", id="bad-code"),
        pytest.param({"code": "w01018", "field": "Flag", "value": 1.0}, "'Flag' is not a value field", id="flag-is-not-a-value"),
        pytest.param({"code": "w01018", "field": "Rtd", "value": float("nan")}, "must be finite", id="nan"),
        pytest.param({"code": "w01018", "field": "Rtd", "value": 1.0, "flag": "N;"}, "contains separators", id="flag-separator"),
    ],
)
def test_pollutant_values_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(FieldError, match=message):
        PollutantValue(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(42.5, "42.5", id="plain"),
        pytest.param(1e-5, "0.00001", id="small-without-exponent"),
        pytest.param(1e20, "100000000000000000000", id="large-without-exponent"),
        pytest.param(0.1 + 0.2, "0.30000000000000004", id="shortest-round-trip"),
        pytest.param(-3.0, "-3.0", id="negative"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text
    assert float(text) == value


_CODES = st.from_regex(r"[aw][0-9]{5}", fullmatch=True) | st.sampled_from(["011", "060", "B01"])
_FLAGS = st.none() | st.sampled_from(["N", "F", "M", "S", "D", "C", "T", "B", "X"])
_FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@st.composite
def uploads(draw: st.DrawFn) -> tuple[datetime | None, list[PollutantValue]]:
    """A DataTime (whole seconds) and values whose codes each carry one flag."""
    moment = draw(st.none() | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
    data_time = None if moment is None else moment.replace(microsecond=0, tzinfo=UTC)
    codes = draw(st.lists(_CODES, unique=True, max_size=8))
    values: list[PollutantValue] = []
    for code in codes:
        flag = draw(_FLAGS)
        fields = draw(st.lists(st.sampled_from(sorted(NUMERIC_FIELDS)), unique=True, min_size=1, max_size=3))
        values.extend(PollutantValue(code, field, draw(_FINITE), flag) for field in fields)
    return data_time, values


@settings(max_examples=150, deadline=None)
@given(uploads())
def test_built_cp_parses_back_to_the_same_values(upload: tuple[datetime | None, list[PollutantValue]]) -> None:
    data_time, values = upload
    area = parse_cp(build_cp(data_time, values))
    assert area.data_time == data_time
    assert list(area.values) == values
    assert area.unknown == ()


def test_time_range_cp_is_in_china_standard_time() -> None:
    begin = datetime(2026, 5, 19, 16, 0, tzinfo=UTC)
    end = datetime(2026, 5, 20, 15, 59, 59, tzinfo=UTC)
    assert build_time_range_cp(begin, end) == "BeginTime=20260520000000;EndTime=20260520235959"


def test_time_range_must_not_run_backwards() -> None:
    moment = datetime(2026, 5, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="EndTime must not be before BeginTime"):
        build_time_range_cp(moment, moment - timedelta(seconds=1))


def test_return_code_cp() -> None:
    assert build_return_cp("QnRtn", 1) == "QnRtn=1"
    assert build_return_cp("ExeRtn", 100) == "ExeRtn=100"


@pytest.mark.parametrize(
    ("moment", "cst", "qn"),
    [
        pytest.param(datetime(2026, 5, 20, 2, 30, 0, 123456, tzinfo=UTC), "20260520103000", "20260520103000123", id="utc"),
        pytest.param(datetime(2026, 12, 31, 20, 0, tzinfo=UTC), "20270101040000", "20270101040000000", id="crosses-new-year"),
        pytest.param(datetime(2026, 5, 20, 10, 30, tzinfo=timezone(timedelta(hours=8))), "20260520103000", "20260520103000000", id="already-cst"),
    ],
)
def test_times_are_written_in_china_standard_time(moment: datetime, cst: str, qn: str) -> None:
    assert format_cst(moment) == cst
    assert format_qn(moment) == qn
    assert parse_cst(cst, "DataTime") == moment.replace(microsecond=0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_cst(datetime(2026, 5, 20))
