"""HJ 212 frames a simulated data logger sends: real-time (2011), minute (2051) and hour (2061) data (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from device_sim.samples import Sample
from device_sim.summaries import Summary
from envmon.protocols.hj212 import Message, PollutantValue, build_cp, encode_message, flag_for, format_qn

CN_REALTIME = "2011"
CN_OF_BASIS = {"minute": "2051", "hour": "2061"}
# Loggers here speak HJ 212-2017 and ask for a reply (Flag A bit) to every data upload.
DATA_FLAG = flag_for("2017", wants_reply=True)


def _utc(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, UTC)


def qn_of(t_ms: int) -> str:
    """A QN (YYYYMMDDhhmmsszzz, CST) for epoch milliseconds."""
    return format_qn(_utc(t_ms / 1000))


def realtime_frame(sample: Sample, *, st: str, pw: str, qn: str) -> bytes:
    """The CN=2011 frame of one sample (`-Rtd` values with their flags)."""
    values = [
        PollutantValue(code, "Rtd", value, flag)
        for code, value, flag in zip(sample.codes, sample.values, sample.flags, strict=True)
    ]
    cp = build_cp(_utc(sample.time_s), values)
    return encode_message(Message(st=st, cn=CN_REALTIME, mn=sample.device, cp=cp, qn=qn, pw=pw, flag=DATA_FLAG))


def summary_frame(summary: Summary, *, mn: str, st: str, pw: str, qn: str) -> bytes:
    """The CN=2051/2061 frame of one interval: Avg, Min, Max and Flag per pollutant."""
    values = []
    for i, code in enumerate(summary.codes):
        flag = summary.flags[i]
        values += [
            PollutantValue(code, "Avg", summary.avg[i], flag),
            PollutantValue(code, "Min", summary.low[i], flag),
            PollutantValue(code, "Max", summary.high[i], flag),
        ]
    cp = build_cp(_utc(summary.begin_s), values)
    message = Message(st=st, cn=CN_OF_BASIS[summary.basis], mn=mn, cp=cp, qn=qn, pw=pw, flag=DATA_FLAG)
    return encode_message(message)


def corrupt_frames(frame: bytes, count: int) -> list[bytes]:
    """`count` bad frames made from a good one: wrong CRC, wrong length, garbage between frames."""
    crc = frame[-6:-2]
    wrong_crc = frame[:-6] + (b"0000" if crc != b"0000" else b"FFFF") + b"\r\n"
    wrong_length = b"##9999" + frame[6:]
    variants = [wrong_crc, wrong_length, b"GARBAGE FROM A LOOSE RS-485 WIRE\r\n"]
    return [variants[i % len(variants)] for i in range(count)]
