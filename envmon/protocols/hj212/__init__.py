"""HJ 212 (2005/2017/2025) codec for data loggers: framing, CRC, data segment, CP data area, replies.

A frame is `##`, four decimal digits giving the data segment's length in characters, the data
segment (ASCII, at most 1024 characters, e.g. `QN=...;ST=32;CN=2011;PW=...;MN=...;Flag=5;CP=&&...&&`),
four hex digits of the Appendix A CRC over the data segment only (not CRC-16/MODBUS; either case is
accepted), and CRLF. Inside `CP=&&...&&`, items are separated by `;`, the fields of an item by `,`,
and each field is `name=value` (`w01018-Rtd=42.5`, `w01018-Flag=N`, `DataTime=YYYYMMDDhhmmss` in
China Standard Time). Stages: `FrameReader` (bytes to frames) -> `decode_message` (frame to
`Message`) -> `SplitAssembler` (PNUM/PNO packets) -> `message_readings` (to `Reading` values).
"""

from __future__ import annotations

from envmon.protocols.hj212.cp import DataArea, PollutantValue, build_cp, build_return_cp, build_time_range_cp, parse_cp
from envmon.protocols.hj212.crc import crc16, crc_hex
from envmon.protocols.hj212.errors import CrcError, FieldError, FrameError, HJ212Error
from envmon.protocols.hj212.frame import MAX_FRAME_BYTES, MAX_SEGMENT_CHARS, decode_frame, encode_frame
from envmon.protocols.hj212.message import (
    Message,
    build_segment,
    decode_message,
    encode_message,
    flag_for,
    parse_segment,
)
from envmon.protocols.hj212.reader import BytesSkipped, FrameEvent, FrameReader, FrameReceived
from envmon.protocols.hj212.readings import message_readings
from envmon.protocols.hj212.replies import (
    ExeRtn,
    QnRtn,
    ReplyTo,
    data_reply,
    execution_result,
    history_request,
    request_reply,
)
from envmon.protocols.hj212.split import IncompleteGroup, SplitAssembler
from envmon.protocols.hj212.times import CST, format_cst, format_qn, parse_cst

__all__ = [
    "CST",
    "MAX_FRAME_BYTES",
    "MAX_SEGMENT_CHARS",
    "BytesSkipped",
    "CrcError",
    "DataArea",
    "ExeRtn",
    "FieldError",
    "FrameError",
    "FrameEvent",
    "FrameReader",
    "FrameReceived",
    "HJ212Error",
    "IncompleteGroup",
    "Message",
    "PollutantValue",
    "QnRtn",
    "ReplyTo",
    "SplitAssembler",
    "build_cp",
    "build_return_cp",
    "build_segment",
    "build_time_range_cp",
    "crc16",
    "crc_hex",
    "data_reply",
    "decode_frame",
    "decode_message",
    "encode_frame",
    "encode_message",
    "execution_result",
    "flag_for",
    "format_cst",
    "format_qn",
    "history_request",
    "message_readings",
    "parse_cp",
    "parse_cst",
    "parse_segment",
    "request_reply",
]
