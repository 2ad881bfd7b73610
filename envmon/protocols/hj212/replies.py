"""Frames the platform sends: data replies (9014), request replies (9011), results (9012), history requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from envmon.protocols.hj212.cp import build_return_cp, build_time_range_cp
from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.message import FLAG_REPLY, FLAG_SPLIT, Message, encode_message, flag_for
from envmon.protocols.hj212.times import format_qn

ST_SYSTEM = "91"
CN_REQUEST_REPLY = "9011"
CN_EXECUTION_RESULT = "9012"
CN_DATA_REPLY = "9014"
HISTORY_CNS = frozenset({"2051", "2061", "2031"})
# A reply keeps the version bits of what it answers; 2017 when those bits are absent or zero.
_DEFAULT_REPLY_FLAG = flag_for("2017", wants_reply=False)


class QnRtn(IntEnum):
    """Request reply codes (CN=9011)."""

    READY = 1
    REFUSED = 2
    WRONG_PW = 3
    WRONG_MN = 4
    WRONG_ST = 5
    WRONG_FLAG = 6
    WRONG_QN = 7
    WRONG_CN = 8
    WRONG_CRC = 9
    UNKNOWN = 100


class ExeRtn(IntEnum):
    """Execution result codes (CN=9012)."""

    SUCCESS = 1
    FAILED = 2
    BAD_CONDITION = 3
    TIMEOUT = 4
    BUSY = 5
    FAULT = 6
    NO_DATA = 100


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """The fields a reply echoes from what it answers (when there is no parsed `Message` at hand)."""

    mn: str
    qn: str | None = None
    pw: str | None = None
    flag: int | None = None

    @classmethod
    def of(cls, message: Message) -> ReplyTo:
        """The echo fields of a received message."""
        return cls(mn=message.mn, qn=message.qn, pw=message.pw, flag=message.flag)


def reply_flag(flag: int | None) -> int:
    """The Flag of a reply: the request's version bits, no A or D bit (4 when the request has none)."""
    if flag is None or flag >> 2 == 0:
        return _DEFAULT_REPLY_FLAG
    return flag & ~(FLAG_REPLY | FLAG_SPLIT)


def _reply(to: Message | ReplyTo, cn: str, cp: str) -> bytes:
    """A system reply frame (ST=91) echoing QN, PW and MN."""
    echo = ReplyTo.of(to) if isinstance(to, Message) else to
    message = Message(st=ST_SYSTEM, cn=cn, mn=echo.mn, cp=cp, qn=echo.qn, pw=echo.pw, flag=reply_flag(echo.flag))
    return encode_message(message)


def data_reply(to: Message | ReplyTo) -> bytes:
    """The 9014 frame that acknowledges a data upload (`CP=&&&&`)."""
    return _reply(to, CN_DATA_REPLY, "")


def request_reply(to: Message | ReplyTo, qn_rtn: int) -> bytes:
    """The 9011 frame answering a request with `QnRtn`."""
    return _reply(to, CN_REQUEST_REPLY, build_return_cp("QnRtn", qn_rtn))


def execution_result(to: Message | ReplyTo, exe_rtn: int) -> bytes:
    """The 9012 frame reporting how a request was carried out, with `ExeRtn`."""
    return _reply(to, CN_EXECUTION_RESULT, build_return_cp("ExeRtn", exe_rtn))


def history_request(
    *, mn: str, pw: str, cn: str, begin: datetime, end: datetime, st: str, qn_time: datetime, version: str = "2017"
) -> bytes:
    """A request that the logger resend minute (2051), hourly (2061) or daily (2031) data in [begin, end]."""
    if cn not in HISTORY_CNS:
        raise FieldError("CN", f"CN {cn} is not a history data command ({', '.join(sorted(HISTORY_CNS))})")
    message = Message(
        st=st,
        cn=cn,
        mn=mn,
        cp=build_time_range_cp(begin, end),
        qn=format_qn(qn_time),
        pw=pw,
        flag=flag_for(version, wants_reply=True),
    )
    return encode_message(message)
