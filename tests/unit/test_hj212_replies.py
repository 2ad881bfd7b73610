"""Frames the platform sends: 9014 data replies, 9011/9012 replies, history requests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from envmon.protocols.hj212.cp import parse_cp
from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.message import Message, decode_message, parse_segment
from envmon.protocols.hj212.replies import (
    ExeRtn,
    QnRtn,
    ReplyTo,
    data_reply,
    execution_result,
    history_request,
    reply_flag,
    request_reply,
)

UPLOAD = parse_segment(
    "QN=20260520103000123;ST=32;CN=2011;PW=123456;MN=310120EP001W01;Flag=5;"
    "CP=&&DataTime=20260520103000;w01018-Rtd=42.5,w01018-Flag=N&&"
)


def test_data_reply_echoes_qn_pw_and_mn() -> None:
    frame = data_reply(UPLOAD)
    assert frame == (
        b"##0077QN=20260520103000123;ST=91;CN=9014;PW=123456;MN=310120EP001W01;Flag=4;CP=&&&&"
        + frame[-6:-2]
        + b"\r\n"
    )
    assert decode_message(frame) == Message(
        st="91", cn="9014", mn="310120EP001W01", cp="", qn="20260520103000123", pw="123456", flag=4
    )


def test_data_reply_to_the_standards_example() -> None:
    request = parse_segment(
        "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
    )
    reply = decode_message(data_reply(request))
    assert (reply.qn, reply.st, reply.cn, reply.flag, reply.cp) == ("20160801085857223", "91", "9014", 4, "")


@pytest.mark.parametrize(
    ("request_flag", "flag"),
    [
        pytest.param(None, 4, id="no-flag-gets-2017"),
        pytest.param(1, 4, id="2005-gets-2017"),
        pytest.param(5, 4, id="2017"),
        pytest.param(7, 4, id="2017-split"),
        pytest.param(9, 8, id="2025-keeps-its-version"),
    ],
)
def test_reply_flag_keeps_the_version_and_clears_a_and_d(request_flag: int | None, flag: int) -> None:
    assert reply_flag(request_flag) == flag


@pytest.mark.parametrize("code", list(QnRtn))
def test_request_reply_carries_qn_rtn(code: QnRtn) -> None:
    reply = decode_message(request_reply(UPLOAD, code))
    assert (reply.st, reply.cn, reply.qn, reply.mn) == ("91", "9011", UPLOAD.qn, UPLOAD.mn)
    assert reply.cp == f"QnRtn={int(code)}"
    assert parse_cp(reply.cp).qn_rtn == code


@pytest.mark.parametrize("code", list(ExeRtn))
def test_execution_result_carries_exe_rtn(code: ExeRtn) -> None:
    reply = decode_message(execution_result(UPLOAD, code))
    assert (reply.cn, parse_cp(reply.cp).exe_rtn) == ("9012", code)


def test_reply_codes_match_the_standard() -> None:
    assert [int(c) for c in QnRtn] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]
    assert (ExeRtn.SUCCESS, ExeRtn.NO_DATA) == (1, 100)


def test_replies_can_be_built_without_a_parsed_message() -> None:
    reply = decode_message(request_reply(ReplyTo(mn="A1", qn="20260520103000123", pw="123456"), QnRtn.WRONG_CRC))
    assert (reply.mn, reply.qn, reply.cp, reply.flag) == ("A1", "20260520103000123", "QnRtn=9", 4)


def test_history_request_asks_for_a_range_in_china_standard_time() -> None:
    frame = history_request(
        mn="310120EP001W01",
        pw="123456",
        cn="2061",
        begin=datetime(2026, 5, 19, 16, 0, tzinfo=UTC),
        end=datetime(2026, 5, 20, 15, 0, tzinfo=UTC),
        st="32",
        qn_time=datetime(2026, 5, 20, 3, 0, 0, 250000, tzinfo=UTC),
    )
    request = decode_message(frame)
    assert request == Message(
        st="32",
        cn="2061",
        mn="310120EP001W01",
        cp="BeginTime=20260520000000;EndTime=20260520230000",
        qn="20260520110000250",
        pw="123456",
        flag=5,
    )
    assert request.wants_reply
    area = parse_cp(request.cp)
    assert (area.begin_time, area.end_time) == (datetime(2026, 5, 19, 16, tzinfo=UTC), datetime(2026, 5, 20, 15, tzinfo=UTC))


def test_history_request_for_a_2025_logger() -> None:
    moment = datetime(2026, 5, 20, tzinfo=UTC)
    frame = history_request(mn="A1", pw="1", cn="2031", begin=moment, end=moment, st="32", qn_time=moment, version="2025")
    assert decode_message(frame).flag == 9


def test_history_request_refuses_other_commands() -> None:
    moment = datetime(2026, 5, 20, tzinfo=UTC)
    with pytest.raises(FieldError, match="CN 2011 is not a history data command"):
        history_request(mn="A1", pw="1", cn="2011", begin=moment, end=moment, st="32", qn_time=moment)
