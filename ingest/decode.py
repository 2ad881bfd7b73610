"""MQTT JSON payloads to validated samples: strict, fast (msgspec), with a reason for every rejection.

Payload (one device, one or more samples; values in the protocol unit, as HJ 212 sends them):

    {"device": "310120EP001W01", "seq": 42, "time": "2026-11-22T04:30:00Z",
     "values": {"w20117": 42.5, "w01001": [7.2, "N"]}}

or, for store-and-forward, `{"device": ..., "samples": [{"seq": ..., "time": ..., "values": {...}}]}`.
A value is a number (flag N) or `[number, flag]`. Times need a UTC offset. See docs/mqtt.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from envmon.domain import FLAGS
from ingest.errors import RejectedMessage

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_SAMPLES = 1000
# Earliest sample time accepted; older data is a device clock fault, not history.
EARLIEST = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
# How far past its arrival a sample's time may be (device clocks run fast) before it is refused.
MAX_FUTURE_SECONDS = 300.0

Value = float | tuple[float, str]


class _Sample(msgspec.Struct, forbid_unknown_fields=True):
    seq: int
    time: datetime
    values: dict[str, Value]


class _Payload(msgspec.Struct, forbid_unknown_fields=True):
    device: str
    seq: int | None = None
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
    """A decoded payload: the device it claims to be from and its samples."""

    device: str
    samples: tuple[Sample, ...]


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
    latest = now + timedelta(seconds=max_future_seconds)
    return DeviceMessage(raw.device, tuple(_check_sample(s, latest) for s in _samples_of(raw)))


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


def _check_sample(s: _Sample, latest: datetime) -> Sample:
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
    return Sample(s.seq, s.time, tuple(_value(code, v) for code, v in s.values.items()))


def _value(code: str, v: Value) -> tuple[str, float, str]:
    # One isinstance against a plain type: `float | int` builds a union object on every call.
    value, flag = v if isinstance(v, tuple) else (v, "N")
    if flag not in FLAGS:
        raise RejectedMessage("invalid_flag", f"{code}: unknown data flag {flag!r}")
    return code, float(value), flag
