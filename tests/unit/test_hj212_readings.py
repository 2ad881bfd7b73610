"""Data uploads into readings: basis per command, canonical units, current codes, problems reported."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from envmon.catalogue import load_catalogue
from envmon.domain import Reading
from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.message import Message, parse_segment
from envmon.protocols.hj212.readings import message_readings

MN = "310120EP001W01"
AT = datetime(2026, 5, 20, 2, 30, tzinfo=UTC)
SEQ = int(AT.timestamp())
NOW = datetime(2026, 5, 20, 2, 30, 5, tzinfo=UTC)
REALTIME = (
    f"QN=20260520103000123;ST=32;CN=2011;PW=123456;MN={MN};Flag=5;CP=&&DataTime=20260520103000;"
    "w20117-Rtd=42.5,w20117-Flag=N;w20116-Rtd=0.31,w20116-Flag=N;w01001-Rtd=7.2,w01001-Flag=N;"
    "w00000-Rtd=3.4,w00000-Flag=N&&"
)


def upload(cn: str, cp: str) -> Message:
    return Message(st="32", cn=cn, mn=MN, cp=cp, qn="20260520103000123", pw="123456", flag=4)


def readings_of(message: Message) -> tuple[list[Reading], list[str]]:
    return message_readings(message, load_catalogue(), now=NOW)


def test_realtime_wastewater_upload_gives_instant_readings_in_mg_per_litre() -> None:
    readings, problems = readings_of(parse_segment(REALTIME))
    assert problems == []
    assert [r.pollutant for r in readings] == ["w20117", "w20116", "w01001", "w00000"]
    assert [r.value for r in readings] == pytest.approx([0.0425, 0.31, 7.2, 3.4])
    assert {r.flag for r in readings} == {"N"}
    assert {(r.device, r.time, r.basis, r.seq) for r in readings} == {(MN, AT, "instant", SEQ)}


@pytest.mark.parametrize(
    ("cn", "basis"),
    [
        pytest.param("2051", "minute", id="minute"),
        pytest.param("2061", "hour", id="hour"),
        pytest.param("2031", "day", id="day"),
    ],
)
def test_interval_uploads_take_the_average(cn: str, basis: str) -> None:
    cp = "DataTime=20260520103000;w20120-Avg=12.5,w20120-Min=8.1,w20120-Max=20.3,w20120-Cou=1.0,w20120-Flag=N"
    readings, problems = readings_of(upload(cn, cp))
    assert problems == []
    assert readings == [Reading(MN, "w20120", AT, pytest.approx(0.0125), "N", basis, SEQ)]  # type: ignore[arg-type]


def test_hourly_lead_is_converted_from_micrograms() -> None:
    readings, _ = readings_of(upload("2061", "DataTime=20260520103000;w20120-Avg=250,w20120-Flag=N"))
    assert readings[0].value == pytest.approx(0.25)


def test_legacy_2005_codes_become_current_codes() -> None:
    message = parse_segment(
        "ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20260520103000;"
        "011-Rtd=50.1,011-Flag=N;060-Rtd=2.3;B01-Rtd=10.0,B01-Flag=N&&"
    )
    readings, problems = readings_of(message)
    assert problems == []
    assert [(r.pollutant, r.value, r.flag) for r in readings] == [
        ("w01018", 50.1, "N"),
        ("w21003", 2.3, "N"),
        ("w00000", 10.0, "N"),
    ]


def test_the_flag_of_each_code_is_kept() -> None:
    readings, _ = readings_of(upload("2011", "DataTime=20260520103000;w01018-Rtd=1,w01018-Flag=C;w21003-Rtd=2,w21003-Flag=T"))
    assert [r.flag for r in readings] == ["C", "T"]


@pytest.mark.parametrize(
    ("cn", "cp", "kept", "problem"),
    [
        pytest.param("2011", "DataTime=20260520103000;w99999-Rtd=1;w01018-Rtd=2", ["w01018"], "unknown pollutant code w99999", id="unknown-code"),
        pytest.param("2011", "DataTime=20260520103000;w01018-Rtd=2,w01018-Flag=XY;w21003-Rtd=1", ["w21003"], "flag 'XY' of w01018 is not one letter", id="two-letter-flag"),
        pytest.param("2011", "DataTime=20260520103000;w01018-Rtd=2,w01018-Flag=N\x00;w21003-Rtd=1", ["w21003"], "flag 'N\\x00' of w01018 is not one letter", id="nul-in-flag"),
        pytest.param("2011", "DataTime=20260520103000;w01018-Avg=2;w21003-Rtd=1", ["w21003"], "no Rtd value for w01018 in a CN 2011 message", id="avg-in-realtime"),
        pytest.param("2061", "DataTime=20260520103000;w00000-Cou=1200", [], "no Avg value for w00000 in a CN 2061 message", id="only-cumulative"),
        pytest.param("2011", "DataTime=20260520103000;w01018-Rtd=2;Foo=1", ["w01018"], "unknown CP field Foo=1", id="unknown-field"),
        pytest.param("2011", "w01018-Rtd=2", [], f"CN 2011 message from {MN} has no DataTime; its values were skipped", id="no-data-time"),
        pytest.param("2021", "DataTime=20260520103000;SB1-RS=1", [], "CN 2021 is not a data upload (2011, 2051, 2061, 2031)", id="not-an-upload"),
        pytest.param("2011", "DataTime=20260520120000;w01018-Rtd=2", [], "DataTime 2026-05-20 12:00:00 CST is ahead of the platform clock by more than 300 s", id="clock-ahead"),
        pytest.param("2011", "DataTime=99991231235959;w01018-Rtd=2", [], "DataTime 9999-12-31 23:59:59 CST is ahead of the platform clock", id="year-9999"),
        pytest.param("2011", "DataTime=19700101080000;w01018-Rtd=2", [], "DataTime 1970-01-01 08:00:00 CST is before 2000", id="clock-reset-1970"),
        pytest.param("2011", "DataTime=20260520103000;011-Rtd=2;w01018-Rtd=3", ["w01018"], "w01018 appears more than once (legacy and current code?); kept the first", id="legacy-and-current"),
    ],
)
def test_what_is_not_understood_is_reported_and_the_rest_kept(cn: str, cp: str, kept: list[str], problem: str) -> None:
    readings, problems = readings_of(upload(cn, cp))
    assert [r.pollutant for r in readings] == kept
    assert any(problem in p for p in problems), problems


def test_malformed_cp_is_an_error_not_a_problem() -> None:
    with pytest.raises(FieldError, match="w01018-Rtd: 'abc' is not a number"):
        readings_of(upload("2011", "DataTime=20260520103000;w01018-Rtd=abc"))


@pytest.mark.parametrize(
    ("flag", "kept"),
    [
        pytest.param("P", "P", id="hj-t-212-2005-power-failure"),
        pytest.param("H", "H", id="letter-of-a-later-revision"),
        pytest.param("n", "n", id="lower-case-kept-as-sent"),
    ],
)
def test_a_flag_letter_outside_the_2017_list_is_kept_as_sent(flag: str, kept: str) -> None:
    readings, problems = readings_of(upload("2011", f"DataTime=20260520103000;w01018-Rtd=2,w01018-Flag={flag}"))
    assert problems == []
    assert [(r.pollutant, r.flag) for r in readings] == [("w01018", kept)]


@pytest.mark.parametrize(
    ("data_time", "expected"),
    [
        pytest.param("20260520103000", AT, id="seconds"),
        pytest.param("20260520103000000", AT, id="milliseconds-zero"),
        pytest.param("20260520103000250", AT.replace(microsecond=250_000), id="milliseconds"),
    ],
)
def test_data_time_with_or_without_milliseconds(data_time: str, expected: datetime) -> None:
    readings, problems = readings_of(upload("2011", f"DataTime={data_time};w01018-Rtd=2"))
    assert problems == []
    assert [r.time for r in readings] == [expected]


@pytest.mark.parametrize(
    "data_time",
    [
        pytest.param("20261320103000", id="month-13"),
        pytest.param("20260230103000", id="30-february"),
        pytest.param("00000101000000", id="year-0000"),
        pytest.param("00010101000000", id="year-1-before-utc"),
        pytest.param("20260520246000", id="hour-24"),
        pytest.param("202605201030001", id="15-digits"),
        pytest.param("2026052010300012345", id="19-digits"),
    ],
)
def test_impossible_data_times_are_refused_with_a_reason(data_time: str) -> None:
    message = upload("2011", f"DataTime={data_time};w01018-Rtd=2")
    with pytest.raises(FieldError, match="DataTime"):
        readings_of(message)
