"""`hj212 decode` and `hj212 encode`: output, exit status, and the argument parser."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import pytest

from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.frame import encode_frame
from ingest.hj212_cli import add_hj212_parser, decode_command, encode_command

GOLDEN = (
    "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    "CP=&&RtdInterval=30&&1C80"
)
NOW = datetime(2026, 5, 20, 2, 30, 0, 123000, tzinfo=UTC)
REALTIME_CP = "DataTime=20260520103000;w20117-Rtd=42.5,w20117-Flag=N;w01001-Rtd=7.2,w01001-Flag=N;Foo=1"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(GOLDEN + "\r\n", id="with-crlf"),
        pytest.param(GOLDEN, id="without-crlf"),
        pytest.param(GOLDEN + "\\r\\n", id="escaped-crlf"),
        pytest.param(f"  {GOLDEN}\r\n\n", id="surrounding-whitespace"),
        pytest.param(GOLDEN.replace("1C80", "1c80"), id="lowercase-crc"),
    ],
)
def test_decode_accepts_the_forms_people_paste(text: str) -> None:
    status, output = decode_command(text)
    assert status == 0
    decoded = json.loads(output)
    assert decoded["crc"] == "1C80"
    assert decoded["length"] == 101
    assert decoded["header"]["MN"] == "010000A8900016F000169DC0"
    assert (decoded["version"], decoded["wants_reply"], decoded["is_split"]) == ("2017", True, False)
    assert decoded["other"] == {"RtdInterval": "30"}


def test_decode_shows_values_times_and_unknown_items() -> None:
    frame = encode_command("32", "2011", "310120EP001W01", "123456", 5, REALTIME_CP, None, NOW)
    status, output = decode_command(frame)
    assert status == 0
    decoded = json.loads(output)
    assert decoded["header"]["QN"] == "20260520103000123"
    assert decoded["data_time"] == {"utc": "2026-05-20T02:30:00+00:00", "cst": "2026-05-20T10:30:00+08:00"}
    assert decoded["values"] == [
        {"code": "w20117", "field": "Rtd", "value": 42.5, "flag": "N"},
        {"code": "w01001", "field": "Rtd", "value": 7.2, "flag": "N"},
    ]
    assert decoded["unknown"] == ["Foo=1"]


def test_decode_shows_history_request_times() -> None:
    frame = encode_command("32", "2061", "A1", "1", 5, "BeginTime=20260520000000;EndTime=20260520230000", None, NOW)
    decoded = json.loads(decode_command(frame)[1])
    assert decoded["begin_time"]["cst"] == "2026-05-20T00:00:00+08:00"
    assert decoded["end_time"]["utc"] == "2026-05-20T15:00:00+00:00"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param(GOLDEN.replace("1C80", "1C81"), "error: CRC mismatch: frame says 1C81, computed 1C80", id="crc"),
        pytest.param(GOLDEN.replace("##0101", "##0100"), "error: length mismatch: header says 0100, data segment is 0101 characters", id="length"),
        pytest.param("#0101" + GOLDEN[6:], "error: frame does not start with '##'", id="header"),
        pytest.param("##0006ST=32;", "error: length mismatch: header says 0006, data segment is 0002", id="no-crc"),
        pytest.param(encode_frame("ST=32;CN=2011;MN=A1;XX=1;CP=&&&&").decode(), "error: unknown field 'XX'", id="unknown-field"),
        pytest.param(encode_frame("ST=32;CN=2011;CP=&&&&").decode(), "error: missing field MN", id="missing-mn"),
        pytest.param(encode_command("32", "2011", "A1", "1", 4, "w01018-Rtd=abc", None, NOW), "error: w01018-Rtd: 'abc' is not a number", id="bad-number"),
        pytest.param(GOLDEN.replace("PW=100000", "PW=1000é"), "error: frame contains non-ASCII byte 0xC3", id="non-ascii"),
    ],
)
def test_decode_names_what_is_wrong_with_status_1(text: str, error: str) -> None:
    status, output = decode_command(text)
    assert status == 1
    assert output.startswith(error), output
    assert "\n" not in output


def test_encode_gives_the_golden_frame() -> None:
    frame = encode_command("32", "1062", "010000A8900016F000169DC0", "100000", 5, "RtdInterval=30", "20160801085857223", NOW)
    assert frame == GOLDEN + "\r\n"


@pytest.mark.parametrize(
    "cp", [pytest.param("RtdInterval=30", id="bare"), pytest.param("&&RtdInterval=30&&", id="wrapped"), pytest.param("CP=&&RtdInterval=30&&", id="with-name")]
)
def test_encode_accepts_cp_with_or_without_its_wrapping(cp: str) -> None:
    frame = encode_command("32", "1062", "010000A8900016F000169DC0", "100000", 5, cp, "20160801085857223", NOW)
    assert frame == GOLDEN + "\r\n"


def test_encode_refuses_bad_fields() -> None:
    with pytest.raises(FieldError, match="CN '20' is malformed"):
        encode_command("32", "20", "A1", "1", 4, "", None, NOW)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="envmon")
    add_hj212_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_parser_runs_decode(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["hj212", "decode", GOLDEN])
    assert args.handler(args, None) == 0
    assert json.loads(capsys.readouterr().out)["crc"] == "1C80"


def test_parser_decode_failure_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["hj212", "decode", GOLDEN.replace("1C80", "0759")])
    assert args.handler(args, None) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "error: CRC mismatch: frame says 0759, computed 1C80\n")


def test_parser_runs_encode(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["hj212", "encode", "--st", "32", "--cn", "1062", "--mn", "010000A8900016F000169DC0", "--pw", "100000"]
    args = _parser().parse_args([*argv, "--flag", "5", "--cp", "RtdInterval=30", "--qn", "20160801085857223"])
    assert args.handler(args, None) == 0
    assert capsys.readouterr().out == GOLDEN + "\r\n"


def test_parser_encode_defaults_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["hj212", "encode", "--st", "32", "--cn", "9014", "--mn", "A1", "--pw", "1"])
    assert (args.flag, args.cp, args.qn) == (4, "", None)
    bad = _parser().parse_args(["hj212", "encode", "--st", "3", "--cn", "9014", "--mn", "A1", "--pw", "1"])
    assert bad.handler(bad, None) == 1
    assert "ST '3' is malformed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["hj212", "--help"], "Inspect a frame received from a data logger", id="group"),
        pytest.param(["hj212", "decode", "--help"], "Exit status 1", id="decode"),
        pytest.param(["hj212", "encode", "--help"], "--cp", id="encode"),
    ],
)
def test_help_texts(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(argv)
    assert exited.value.code == 0
    assert expected in " ".join(capsys.readouterr().out.split())
