"""Twilio webhooks: signature check, delivery status callbacks, and acknowledgement by SMS reply.

Signatures are checked over the PUBLIC URL Twilio posted to (settings.twilio_status_callback_url, or
settings.public_base_url + path), never the local address a proxy forwarded to.

Status callbacks may repeat, go missing or arrive out of order; `merge_status` only ever moves a
notification forward (pending < sending < sent < delivered | undelivered | failed; the first final status
wins), so applying any callback in any order any number of times is harmless.

Replies: "<digit> <alert code>", digit 1 confirmed, 2 false alarm, 3 device fault, 4 enforcement case.
Spaces, full-width digits and letters, lower case and a separator (space, comma, colon, #) are accepted;
"1K7M2Q9" works too. The sender's number must be one the alert was sent to (`is_authorised_sender`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alerts.lifecycle import Disposition, parse_alert_code
from alerts.notify.sms import is_permanent_error_code
from alerts.notify.twilio_sms import is_valid_signature
from envmon.settings import Settings

__all__ = [
    "INBOUND_SMS_PATH", "STATUS_CALLBACK_PATH", "ReplyCommand", "StatusUpdate", "is_authorised_sender",
    "is_valid_signature", "merge_status", "normalise_phone", "parse_reply", "parse_status_callback", "public_url",
]
STATUS_CALLBACK_PATH = "/twilio/status"
INBOUND_SMS_PATH = "/twilio/sms"
SIGNATURE_HEADER = "X-Twilio-Signature"

# The outbox's statuses in the order they can only move; the final ones are equal and the first one stays.
STATUS_RANK: dict[str, int] = {
    "pending": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3, "suppressed": 3,
}
# Twilio's message statuses as outbox statuses (accepted/queued/sending at Twilio mean sent by us).
TWILIO_STATUS: dict[str, str] = {
    "accepted": "sent", "scheduled": "sent", "queued": "sent", "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "delivered", "receiving": "sent", "received": "delivered",
    "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
}
REPLY_DISPOSITIONS: dict[str, Disposition] = {
    "1": "confirmed", "2": "false_alarm", "3": "device_fault", "4": "enforcement_case",
}
_REPLY = re.compile(r"^\s*([1-4])\s*[,.:;#\-\s]*\s*([0-9A-Za-z]{6,10})\s*$")


def public_url(settings: Settings, path: str) -> str:
    """The URL Twilio posts to for `path`, as it signs it (behind a proxy: the outside address)."""
    if path == STATUS_CALLBACK_PATH and settings.twilio_status_callback_url:
        return settings.twilio_status_callback_url
    return settings.public_base_url.rstrip("/") + path


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One delivery status callback: which message, its outbox status, Twilio's word, and any error code."""

    provider_id: str
    status: str
    twilio_status: str
    error_code: str | None

    @property
    def is_permanent_failure(self) -> bool:
        """Undelivered or failed for a reason no retry fixes: escalate to the next recipient."""
        return self.status in ("undelivered", "failed") and is_permanent_error_code(self.error_code)


def parse_status_callback(params: Mapping[str, str]) -> StatusUpdate | None:
    """The update a status callback carries; None if it names no message or an unknown status."""
    sid = params.get("MessageSid") or params.get("SmsSid")
    twilio_status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or twilio_status not in TWILIO_STATUS:
        return None
    return StatusUpdate(sid, TWILIO_STATUS[twilio_status], twilio_status, params.get("ErrorCode") or None)


def merge_status(current: str, incoming: str) -> str:
    """The status after a callback: forward only; once final (delivered, undelivered, failed) it stays."""
    if STATUS_RANK.get(incoming, -1) > STATUS_RANK.get(current, -1) and STATUS_RANK.get(current, 0) < 3:
        return incoming
    return current


@dataclass(frozen=True, slots=True)
class ReplyCommand:
    """An acknowledgement sent by SMS: the alert, the disposition, and the code as typed (normalised)."""

    alert_id: int
    code: str
    disposition: Disposition


def parse_reply(body: str) -> ReplyCommand | None:
    """The command in an SMS reply ("1 K7M2Q9"); None if it is not one (the service answers with help)."""
    text = unicodedata.normalize("NFKC", body)  # full-width "１　ｋ７..." from Chinese keyboards
    match = _REPLY.match(text)
    if match is None:
        return None
    code = match[2].upper()
    alert_id = parse_alert_code(code)
    if alert_id is None:
        return None
    return ReplyCommand(alert_id, code, REPLY_DISPOSITIONS[match[1]])


def normalise_phone(number: str) -> str:
    """E.164 form of a number as carriers pass it (spaces, dashes, 0086 and bare Chinese mobile numbers)."""
    digits = re.sub(r"[\s\-().]", "", unicodedata.normalize("NFKC", number))
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if re.fullmatch(r"1[3-9][0-9]{9}", digits):
        digits = "+86" + digits
    return digits


def is_authorised_sender(from_number: str, notified_numbers: Iterable[str]) -> bool:
    """True if the reply comes from a number the alert was sent to (numbers from the notifications rows)."""
    sender = normalise_phone(from_number)
    return any(sender == normalise_phone(n) for n in notified_numbers)
