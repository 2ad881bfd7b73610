"""The MQTT JSON reading message: validated samples from payloads (strict, fast, msgspec, with a reason for
every rejection), and the JSON object of one sample for those who send it.

Payload (one device, one or more samples; values in the protocol unit, as HJ 212 sends them):

    {"device": "310120EP001W01", "seq": 42, "time": "2026-11-22T04:30:00Z",
     "values": {"w20117": 42.5, "w01001": [7.2, "N"]}}

or, for store-and-forward, `{"device": ..., "samples": [{"seq": ..., "time": ..., "values": {...}}]}`.
A value is a number (flag N) or `[number, flag]`. Times need a UTC offset. See docs/mqtt.md.

Every field is bounded here, at the edge, to what its column can hold: seq fits `bigint`, the device
id and codes are short printable text (PostgreSQL text refuses NUL), a flag is one ASCII letter. A
value whose code or flag is wrong is refused alone; the message's other values are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from envmon.domain import is_flag_letter
from envmon.protocols.errors import RejectedMessage

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_SAMPLES = 1000
# Earliest sample time accepted; older data is a device clock fault, not history.
EARLIEST = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
# How far past its arrival a sample's time may be (device clocks run fast) before it is refused.
MAX_FUTURE_SECONDS = 300.0
# `readings.seq` is a bigint; a larger number overflows the int64 column before it gets there.
MAX_SEQ = 2**63 - 1
# Longer than any MN (HJ 212: 24 characters) or catalogue code; bounds what reaches a log or quarantine.
MAX_DEVICE_CHARS = 64
MAX_CODE_CHARS = 16

Value = float | tuple[float, str]
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
Device = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DEVICE_CHARS)]


class _Sample(msgspec.Struct, forbid_unknown_fields=True):
    seq: Seq
    time: datetime
    values: dict[str, Value]


class _Payload(msgspec.Struct, forbid_unknown_fields=True):
    device: Device
    seq: Seq | None = None
    time: datetime | None = None
    values: dict[str, Value] | None = None
    samples: list[_Sample] | None = None


_DECODER = msgspec.json.Decoder(_Payload)


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample of a device: its sequence number, time (aware) and (code, value, flag) triples."""

    seq: int
    time: datetime
    values: tuple[tuple[str, float, str], ...]


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """A decoded payload: the device it claims to be from, its samples, and the values refused alone
    as (reason, sentence) pairs.

    A raw message, not a reading type: the device is still a claimed MN, codes and units are the
    protocol's. Ingest resolves them against the registry and catalogue straight into the columns of
    `envmon.columns.ReadingColumns`, the one shape readings take from there to the alert engine."""

    device: str
    samples: tuple[Sample, ...]
    problems: tuple[tuple[str, str], ...] = ()


def decode_payload(payload: bytes, *, now: datetime, max_future_seconds: float = MAX_FUTURE_SECONDS) -> DeviceMessage:
    """Decode and check one payload; RejectedMessage says why it cannot be stored."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise RejectedMessage("oversized", f"{len(payload)} bytes, the limit is {MAX_PAYLOAD_BYTES}")
    try:
        raw = _DECODER.decode(payload)
    except msgspec.ValidationError as exc:
        raise RejectedMessage("invalid_schema", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise RejectedMessage("malformed_json", str(exc)) from None
    if not raw.device.isprintable():
        raise RejectedMessage("invalid_text", f"device id {raw.device!r} carries control characters")
    latest = now + timedelta(seconds=max_future_seconds)
    problems: list[tuple[str, str]] = []
    samples = tuple(_check_sample(s, latest, problems) for s in _samples_of(raw))
    if not any(s.values for s in samples):  # nothing left to store: the message is refused as a whole
        raise RejectedMessage(problems[0][0], "; ".join(sentence for _, sentence in problems))
    return DeviceMessage(raw.device, samples, tuple(problems))


def _samples_of(raw: _Payload) -> list[_Sample]:
    single = (raw.seq, raw.time, raw.values)
    if raw.samples is not None:
        if any(v is not None for v in single):
            raise RejectedMessage("invalid_schema", "give either samples or seq/time/values, not both")
        if not 0 < len(raw.samples) <= MAX_SAMPLES:
            raise RejectedMessage("invalid_schema", f"samples must hold 1 to {MAX_SAMPLES} entries")
        return raw.samples
    if raw.seq is None or raw.time is None or raw.values is None:
        raise RejectedMessage("invalid_schema", "a sample needs seq, time and values")
    return [_Sample(raw.seq, raw.time, raw.values)]


def _check_sample(s: _Sample, latest: datetime, problems: list[tuple[str, str]]) -> Sample:
    if s.time.tzinfo is None:
        raise RejectedMessage("invalid_time", f"time {s.time.isoformat()} has no UTC offset")
    if s.time > latest:
        raise RejectedMessage("time_in_future", f"sample time {s.time.isoformat()} is after {latest.isoformat()}")
    if s.time < EARLIEST:
        raise RejectedMessage("invalid_time", f"sample time {s.time.isoformat()} is before 2000")
    if s.seq < 0:
        raise RejectedMessage("invalid_schema", f"seq {s.seq} is negative")
    if not s.values:
        raise RejectedMessage("invalid_schema", f"sample seq {s.seq} has no values")
    values = [_value(code, v, problems) for code, v in s.values.items()]
    return Sample(s.seq, s.time, tuple(v for v in values if v is not None))


def _value(code: str, v: Value, problems: list[tuple[str, str]]) -> tuple[str, float, str] | None:
    """One (code, value, flag), or None with the reason added to `problems`."""
    # One isinstance against a plain type: `float | int` builds a union object on every call.
    value, flag = v if isinstance(v, tuple) else (v, "N")
    if len(code) > MAX_CODE_CHARS or not code.isprintable():
        problems.append(("invalid_text", f"pollutant code {code[:MAX_CODE_CHARS]!r} is not a short printable code"))
        return None
    if not is_flag_letter(flag):
        # Unknown letters (P of HJ/T 212-2005) are kept as abnormal; anything else is not a flag.
        problems.append(("invalid_flag", f"{code}: data flag {flag[:8]!r} is not one ASCII letter"))
        return None
    return code, float(value), flag


def sample_object(
    *, device: str, seq: int, time: datetime, values: Iterable[tuple[str, float, str]]
) -> dict[str, object]:
    """The JSON object of one sample; a value flagged N travels as a bare number, others as [value, flag]."""
    encoded: dict[str, object] = {code: value if flag == "N" else [value, flag] for code, value, flag in values}
    return {"device": device, "seq": seq, "time": time.isoformat(timespec="milliseconds"), "values": encoded}
