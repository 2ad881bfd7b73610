"""The `envmon hj212 decode|encode` commands: inspect a frame from the field, or build one for a test."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from envmon.commands import add_command, add_group
from envmon.protocols.hj212.cp import DataArea, parse_cp
from envmon.protocols.hj212.errors import HJ212Error
from envmon.protocols.hj212.frame import decode_frame
from envmon.protocols.hj212.message import Message, encode_message, parse_segment
from envmon.protocols.hj212.times import CST, format_qn

_ESCAPED_CRLF = "\\r\\n"


def frame_bytes(frame_text: str) -> bytes:
    """The frame bytes for text pasted by a person: with or without CRLF, or with a literal `\\r\\n`."""
    text = frame_text.strip().removesuffix(_ESCAPED_CRLF).rstrip("\r\n")
    return (text + "\r\n").encode("utf-8")


def decode_command(frame_text: str) -> tuple[int, str]:
    """Exit status and output for `hj212 decode`: 0 and the frame as JSON, or 1 and what is wrong."""
    try:
        frame = frame_bytes(frame_text)
        message = parse_segment(decode_frame(frame))
        area = parse_cp(message.cp)
    except HJ212Error as exc:
        return 1, f"error: {exc}"
    return 0, json.dumps(describe_frame(frame, message, area), indent=2, ensure_ascii=False)


def describe_frame(frame: bytes, message: Message, area: DataArea) -> dict[str, Any]:
    """A JSON-ready description of a decoded frame."""
    header: dict[str, str | int | None] = {"QN": message.qn, "ST": message.st, "CN": message.cn, "PW": message.pw}
    header |= {"MN": message.mn, "Flag": message.flag, "PNUM": message.pnum, "PNO": message.pno}
    description: dict[str, Any] = {
        "length": len(frame) - 12,
        "crc": frame[-6:-2].decode("ascii").upper(),
        "header": header,
        "version": message.version,
        "wants_reply": message.wants_reply,
        "is_split": message.is_split,
        "cp": message.cp,
    }
    return description | _describe_area(area)


def _describe_area(area: DataArea) -> dict[str, Any]:
    """The CP part of the description; times in UTC and in CST, absent items left out."""
    optional = {
        "begin_time": _times(area.begin_time),
        "end_time": _times(area.end_time),
        "qn_rtn": area.qn_rtn,
        "exe_rtn": area.exe_rtn,
    }
    described = {"data_time": _times(area.data_time)} | {k: v for k, v in optional.items() if v is not None}
    values = [{"code": v.code, "field": v.field, "value": v.value, "flag": v.flag} for v in area.values]
    return described | {"values": values, "other": dict(area.other), "unknown": list(area.unknown)}


def _times(moment: datetime | None) -> dict[str, str] | None:
    """A time in ISO 8601, UTC and China Standard Time."""
    if moment is None:
        return None
    return {"utc": moment.astimezone(UTC).isoformat(), "cst": moment.astimezone(CST).isoformat()}


def encode_command(
    st: str, cn: str, mn: str, pw: str | None, flag: int | None, cp: str, qn: str | None, now: datetime
) -> str:
    """The frame text (with its CRLF) for these fields; QN defaults to `now` in CST."""
    cp_text = cp.strip().removeprefix("CP=").removeprefix("&&").removesuffix("&&")
    message = Message(st=st, cn=cn, mn=mn, cp=cp_text, qn=qn or format_qn(now), pw=pw, flag=flag)
    return encode_message(message).decode("ascii")


def _decode_handler(args: argparse.Namespace, settings: object) -> int:
    """check a frame (length, CRC, fields) and show its content as JSON

    Check FRAME and print its header, version, flags, CP values and DataTime (UTC and CST) as JSON. FRAME may end
    with CRLF, with nothing, or with the four characters \\r\\n. Exit status 1 and one line naming the problem
    (length, CRC expected/found, missing field) when it is bad.
    """
    status, output = decode_command(args.frame)
    print(output, file=sys.stdout if status == 0 else sys.stderr)
    return status


def _encode_handler(args: argparse.Namespace, settings: object) -> int:
    """build a frame (length and CRC computed) from its fields

    Print the frame for these fields, with its length, CRC and CRLF. Example: envmon hj212 encode --st 32 --cn 2011
    --mn 310120EP001W01 --pw 123456 --flag 5 --cp 'DataTime=20260520103000;w01018-Rtd=42.5,w01018-Flag=N'
    """
    try:
        frame = encode_command(args.st, args.cn, args.mn, args.pw, args.flag, args.cp, args.qn, datetime.now(UTC))
    except HJ212Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(frame)
    return 0


def add_hj212_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `hj212 decode`, `encode` and `serve`; each sets `handler(args, settings) -> int`."""
    actions = add_group(
        subparsers, "hj212", "decode or build HJ 212 frames (data loggers, 数采仪)",
        "Inspect a frame received from a data logger, or build one to send to a test platform.", dest="hj212_command",
    )
    _add_decode(actions)
    _add_encode(actions)
    _add_serve(actions)


def _add_serve(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `serve` sub-command: the TCP gateway with its own ingest pipeline."""
    serve = add_command(actions, "serve", _serve_handler)
    serve.add_argument("--host", help="address to listen on (default: ENVMON_HJ212_HOST)")
    serve.add_argument("--port", type=int, help="TCP port (default: ENVMON_HJ212_PORT)")
    serve.add_argument("--http-port", type=int, help="port of /metrics and /healthz (0: any free port)")


def _serve_handler(args: argparse.Namespace, settings: Any) -> int:
    """accept data loggers over TCP and store their readings

    Listen on ENVMON_HJ212_HOST:ENVMON_HJ212_PORT (default 127.0.0.1:9212; use 0.0.0.0 to accept loggers from the
    network), check MN and PW against the registry, store uploads (2011/2051/2061/2031) and reply 9014 after commit,
    9011 for refusals. Serves /metrics and /healthz like `envmon ingest`.
    """
    from ingest.service import run_ingest

    wanted = {"hj212_host": args.host, "hj212_port": args.port, "ingest_http_port": args.http_port}
    return run_ingest(
        settings.model_copy(update={k: v for k, v in wanted.items() if v is not None}), mqtt=False, hj212=True
    )


def _add_decode(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `decode` sub-command."""
    decode = add_command(actions, "decode", _decode_handler)
    decode.add_argument("frame", metavar="FRAME", help="the whole frame, from ## to the CRC, in quotes")


def _add_encode(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `encode` sub-command."""
    encode = add_command(actions, "encode", _encode_handler)
    encode.add_argument("--st", required=True, help="system code, e.g. 32 wastewater, 31 flue gas, 91 system reply")
    encode.add_argument("--cn", required=True, help="command code, e.g. 2011 real-time, 2061 hourly, 9014 data reply")
    encode.add_argument("--mn", required=True, help="device id (MN) of the data logger")
    encode.add_argument("--pw", required=True, help="access password (PW)")
    encode.add_argument("--flag", type=int, default=4, help="Flag: 4 = 2017, no reply (default); 5 = reply wanted")
    encode.add_argument("--cp", default="", help="data area without or with the && around it (default: empty)")
    encode.add_argument("--qn", default=None, help="request id YYYYMMDDhhmmsszzz (default: now, China Standard Time)")
