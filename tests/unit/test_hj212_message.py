"""The data segment: fields, Flag bits and version, strict parsing, building in the standard's order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.message import (
    Message,
    build_segment,
    decode_message,
    encode_message,
    flag_for,
    parse_segment,
)

GOLDEN_SEGMENT = (
    "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
)
BASE = "QN=20260520103000123;ST=32;CN=2011;PW=123456;MN=310120EP001W01;Flag=5"


def test_golden_segment_parses_into_its_fields() -> None:
    message = parse_segment(GOLDEN_SEGMENT)
    assert message == Message(
        st="32",
        cn="1062",
        mn="010000A8900016F000169DC0",
        cp="RtdInterval=30",
        qn="20160801085857223",
        pw="100000",
        flag=5,
    )
    assert build_segment(message) == GOLDEN_SEGMENT


def test_segment_from_an_old_logger_without_qn_and_flag_parses() -> None:
    message = parse_segment("ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20260520103000;011-Rtd=50.1&&")
    assert (message.qn, message.flag, message.version, message.wants_reply) == (None, None, "2005", False)


def test_cp_keeps_semicolons_commas_and_ampersands_inside() -> None:
    message = parse_segment(f"{BASE};CP=&&DataTime=20260520103000;w01018-Rtd=1,w01018-Flag=N&&")
    assert message.cp == "DataTime=20260520103000;w01018-Rtd=1,w01018-Flag=N"
    assert parse_segment(f"{BASE};CP=&&a&&b&&").cp == "a&&b"


def test_empty_cp_is_allowed() -> None:
    assert parse_segment(f"{BASE};CP=&&&&").cp == ""


def test_header_fields_may_come_in_any_order() -> None:
    message = parse_segment("MN=A1;CN=2011;ST=32;CP=&&&&")
    assert (message.st, message.cn, message.mn) == ("32", "2011", "A1")


def test_building_puts_fields_in_the_standard_order_and_omits_absent_ones() -> None:
    message = Message(st="32", cn="2011", mn="A1", cp="x=1", pw="123456", flag=7, pnum=3, pno=2)
    assert build_segment(message) == "ST=32;CN=2011;PW=123456;MN=A1;Flag=7;PNUM=3;PNO=2;CP=&&x=1&&"


@pytest.mark.parametrize(
    ("flag", "version", "wants_reply", "is_split"),
    [
        pytest.param(None, "2005", False, False, id="no-flag-older-logger"),
        pytest.param(0, "2005", False, False, id="2005"),
        pytest.param(1, "2005", True, False, id="2005-reply"),
        pytest.param(4, "2017", False, False, id="2017"),
        pytest.param(5, "2017", True, False, id="2017-reply"),
        pytest.param(6, "2017", False, True, id="2017-split"),
        pytest.param(7, "2017", True, True, id="2017-split-reply"),
        pytest.param(8, "2025", False, False, id="2025"),
        pytest.param(9, "2025", True, False, id="2025-reply"),
        pytest.param(13, "unknown (3)", True, False, id="future-version"),
    ],
)
def test_flag_bits(flag: int | None, version: str, wants_reply: bool, is_split: bool) -> None:
    message = Message(st="32", cn="2011", mn="A1", flag=flag)
    assert (message.version, message.wants_reply, message.is_split) == (version, wants_reply, is_split)


@pytest.mark.parametrize(
    ("version", "wants_reply", "split", "flag"),
    [
        pytest.param("2017", False, False, 4, id="2017"),
        pytest.param("2017", True, False, 5, id="2017-reply"),
        pytest.param("2017", True, True, 7, id="2017-split-reply"),
        pytest.param("2025", True, False, 9, id="2025-reply"),
        pytest.param("2005", True, False, 1, id="2005-reply"),
    ],
)
def test_flag_for(version: str, wants_reply: bool, split: bool, flag: int) -> None:
    assert flag_for(version, wants_reply=wants_reply, split=split) == flag


def test_flag_for_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown HJ 212 version '2030'"):
        flag_for("2030", wants_reply=False)


@pytest.mark.parametrize(
    ("segment", "field", "message"),
    [
        pytest.param("CN=2011;MN=A1;CP=&&&&", "ST", "missing field ST", id="missing-st"),
        pytest.param("ST=32;MN=A1;CP=&&&&", "CN", "missing field CN", id="missing-cn"),
        pytest.param("ST=32;CN=2011;CP=&&&&", "MN", "missing field MN", id="missing-mn"),
        pytest.param("ST=32;CN=2011;MN=A1", "CP", "missing field CP", id="missing-cp"),
        pytest.param("ST=32;CN=2011;MN=A1;CP=&&DataTime=1", "CP", "does not end with '&&'", id="cp-not-closed"),
        pytest.param("ST=32;CN=2011;MN=A1;CP=&&&", "CP", "does not end with '&&'", id="cp-three-ampersands"),
        pytest.param("ST=32;CN=2011;MN=A1;XCP=&&&&", "CP", "CP must follow a ';'", id="cp-glued"),
        pytest.param("QN=1;QN=2;ST=32;CN=2011;MN=A1;CP=&&&&", "QN", "duplicate field QN", id="duplicate-qn"),
        pytest.param("ST=32;ST=31;CN=2011;MN=A1;CP=&&&&", "ST", "duplicate field ST", id="duplicate-st"),
        pytest.param("QN=2026052010;ST=32;CN=2011;MN=A1;CP=&&&&", "QN", "QN '2026052010' is malformed", id="short-qn"),
        pytest.param("ST=3;CN=2011;MN=A1;CP=&&&&", "ST", "ST '3' is malformed: expected 2 digits", id="short-st"),
        pytest.param("ST=32;CN=20a1;MN=A1;CP=&&&&", "CN", "CN '20a1' is malformed", id="letter-in-cn"),
        pytest.param("ST=32;CN=2011;MN=;CP=&&&&", "MN", "MN '' is malformed", id="empty-mn"),
        pytest.param("ST=32;CN=2011;MN=" + "A" * 25 + ";CP=&&&&", "MN", "is malformed", id="long-mn"),
        pytest.param("ST=32;CN=2011;MN=A1;PW=12 34;CP=&&&&", "PW", "PW '12 34' is malformed", id="space-in-pw"),
        pytest.param("ST=32;CN=2011;MN=A1;Flag=x;CP=&&&&", "Flag", "Flag 'x' is not a whole number", id="flag-not-number"),
        pytest.param("ST=32;CN=2011;MN=A1;Flag=256;CP=&&&&", "Flag", "Flag 256 is outside 0..255", id="flag-too-big"),
        pytest.param("ST=32;CN=2011;MN=A1;PNUM=2;CP=&&&&", "PNO", "missing field PNO", id="pnum-without-pno"),
        pytest.param("ST=32;CN=2011;MN=A1;PNO=1;CP=&&&&", "PNUM", "missing field PNUM", id="pno-without-pnum"),
        pytest.param("ST=32;CN=2011;MN=A1;PNUM=2;PNO=3;CP=&&&&", "PNO", "PNO 3 is outside 1..PNUM (2)", id="pno-beyond-pnum"),
        pytest.param("ST=32;CN=2011;MN=A1;PNUM=2;PNO=0;CP=&&&&", "PNO", "PNO 0 is outside", id="pno-zero"),
        pytest.param("ST=32;CN=2011;MN=A1;XX=1;CP=&&&&", "XX", "unknown field 'XX'", id="unknown-field"),
        pytest.param("ST=32;CN=2011;MN=A1;junk;CP=&&&&", "junk", "field 'junk' is not key=value", id="no-equals"),
    ],
)
def test_bad_segments_name_the_field(segment: str, field: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_segment(segment)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_cp_with_a_line_break_is_refused() -> None:
    with pytest.raises(FieldError, match="line break"):
        Message(st="32", cn="2011", mn="A1", cp="a\nb")


def test_encode_and_decode_message_use_the_frame() -> None:
    frame = encode_message(parse_segment(GOLDEN_SEGMENT))
    assert frame.endswith(b"1C80\r\n")
    assert decode_message(frame) == parse_segment(GOLDEN_SEGMENT)


_ID = st.text(alphabet="0123456789ABCDEFabcdef_-.", min_size=1)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """Arbitrary valid messages, split packets included."""
    pnum = draw(st.none() | st.integers(min_value=1, max_value=99))
    pno = None if pnum is None else draw(st.integers(min_value=1, max_value=pnum))
    return Message(
        st=draw(st.from_regex(r"[0-9]{2}", fullmatch=True)),
        cn=draw(st.from_regex(r"[0-9]{4}", fullmatch=True)),
        mn=draw(_ID.filter(lambda s: len(s) <= 24)),
        cp=draw(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)),
        qn=draw(st.none() | st.from_regex(r"[0-9]{17}", fullmatch=True)),
        pw=draw(st.none() | _ID.filter(lambda s: len(s) <= 16)),
        flag=draw(st.none() | st.integers(min_value=0, max_value=255)),
        pnum=pnum,
        pno=pno,
    )


@settings(max_examples=150, deadline=None)
@given(messages())
def test_any_valid_message_round_trips_through_a_frame(message: Message) -> None:
    assert parse_segment(build_segment(message)) == message
    assert decode_message(encode_message(message)) == message
