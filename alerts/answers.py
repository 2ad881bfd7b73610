"""The plant's answer to an exceedance (超标说明): signed links bound to one request, and the schedule.

A link token is `base64url(payload).base64url(mac)`: payload = version (1 byte), alert id (8), request
id (8) and expiry (epoch seconds, 4); mac = the first 16 bytes of HMAC-SHA256 under the signing secret
over a purpose label and the payload. The label differs from the report links' (alerts/reports/links.py),
so neither token passes for the other. A verified token opens the one request of the one alert it
names, and the page behind it shows only that alert's facts.

The schedule is pure: `next_step(request, now, policy)` says whether to remind the contact or escalate
to the inspector, so timers can be tested with a table of times.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from envmon.errors import EnvmonError
from envmon.signing import decode_b64url, encode_b64url, is_mac_valid, purpose_mac

VERSION = 1
PURPOSE = b"envmon/plant-answer/v1\x00"
_PAYLOAD = struct.Struct(">BQQI")


class AnswerLinkError(EnvmonError):
    """An answer link that cannot be used."""


class AnswerLinkInvalid(AnswerLinkError):
    """Altered, truncated or signed under another key or purpose."""


class AnswerLinkExpired(AnswerLinkError):
    """Past its expiry."""


@dataclass(frozen=True, slots=True)
class AnswerLink:
    """What a verified token says."""

    alert_id: int
    request_id: int
    expires_at: datetime


def sign_answer_link(secret: str, alert_id: int, request_id: int, expires_at: datetime) -> str:
    """A token opening the answer form of one request of one alert until `expires_at`."""
    payload = _PAYLOAD.pack(VERSION, alert_id, request_id, int(expires_at.timestamp()))
    return f"{encode_b64url(payload)}.{encode_b64url(purpose_mac(secret, PURPOSE, payload))}"


def read_answer_link(secret: str, token: str, now: datetime) -> AnswerLink:
    """Check signature, then expiry; AnswerLinkInvalid or AnswerLinkExpired otherwise."""
    head, dot, tail = token.strip().partition(".")
    if not dot or len(token) > 200:
        raise AnswerLinkInvalid("answer link is malformed")
    payload, mac = decode_b64url(head), decode_b64url(tail)
    if payload is None or mac is None:
        raise AnswerLinkInvalid("answer link is malformed")
    if len(payload) != _PAYLOAD.size or not is_mac_valid(secret, PURPOSE, payload, mac):
        raise AnswerLinkInvalid("answer link signature does not match")
    version, alert_id, request_id, expires = _PAYLOAD.unpack(payload)
    if version != VERSION:
        raise AnswerLinkInvalid("answer link version is unknown")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise AnswerLinkExpired("answer link has expired")
    return AnswerLink(alert_id, request_id, expires_at)


@dataclass(frozen=True, slots=True)
class RequestClock:
    """The times of one waiting request that decide its next step."""

    requested_at: datetime
    deadline_at: datetime
    last_reminded_at: datetime | None
    escalated_at: datetime | None


Step = Literal["remind", "escalate"] | None


def next_step(clock: RequestClock, now: datetime, *, reminder_seconds: float) -> Step:
    """Escalate once the deadline has passed (once); before it, remind every `reminder_seconds`."""
    if now >= clock.deadline_at:
        return "escalate" if clock.escalated_at is None else None
    since = (now - (clock.last_reminded_at or clock.requested_at)).total_seconds()
    return "remind" if since >= reminder_seconds else None
