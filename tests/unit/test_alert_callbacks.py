"""Twilio webhooks: signatures over the public URL, status callbacks in any order, SMS replies, sender check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from pathlib import Path

import pytest

from alerts.lifecycle import alert_code
from alerts.notify.callbacks import (
    INBOUND_SMS_PATH,
    STATUS_CALLBACK_PATH,
    ReplyCommand,
    StatusUpdate,
    is_authorised_sender,
    is_valid_signature,
    merge_status,
    normalise_phone,
    parse_reply,
    parse_status_callback,
    public_url,
)
from envmon.settings import Settings

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://envmon.example.cn/twilio/status"
PARAMS = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": "+8613900000001", "AccountSid": "AC1"}


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented scheme, written out independently: HMAC-SHA1 over URL + sorted name/value pairs."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


GOOD = twilio_signature(TOKEN, PUBLIC, PARAMS)


@pytest.mark.parametrize(
    ("url", "params", "signature", "valid"),
    [
        pytest.param(PUBLIC, PARAMS, GOOD, True, id="good"),
        pytest.param("https://envmon.example.cn:443/twilio/status", PARAMS, GOOD, True, id="explicit-default-port"),
        pytest.param("http://127.0.0.1:9320/twilio/status", PARAMS, GOOD, False, id="local-url-behind-proxy"),
        pytest.param(PUBLIC, {**PARAMS, "MessageStatus": "failed"}, GOOD, False, id="tampered-param"),
        pytest.param(PUBLIC, {**PARAMS, "Extra": "1"}, GOOD, False, id="added-param"),
        pytest.param(PUBLIC, PARAMS, twilio_signature("other-token", PUBLIC, PARAMS), False, id="other-token"),
        pytest.param(PUBLIC, PARAMS, "", False, id="empty"),
        pytest.param(PUBLIC, PARAMS, None, False, id="missing-header"),
    ],
)
def test_signature(url: str, params: dict[str, str], signature: str | None, valid: bool) -> None:
    assert is_valid_signature(TOKEN, url, params, signature) is valid


@pytest.mark.parametrize(
    ("overrides", "path", "url"),
    [
        pytest.param({}, STATUS_CALLBACK_PATH, "http://127.0.0.1:8080/twilio/status", id="default-base"),
        pytest.param({"public_base_url": "https://envmon.example.cn/"}, INBOUND_SMS_PATH, "https://envmon.example.cn/twilio/sms", id="public-base"),
        pytest.param({"twilio_status_callback_url": PUBLIC, "public_base_url": "https://x.cn"}, STATUS_CALLBACK_PATH, PUBLIC, id="explicit-callback-url"),
        pytest.param({"twilio_status_callback_url": PUBLIC, "public_base_url": "https://x.cn"}, INBOUND_SMS_PATH, "https://x.cn/twilio/sms", id="inbound-uses-base"),
    ],
)
def test_public_url(overrides: dict[str, str], path: str, url: str, tmp_path: Path) -> None:
    assert public_url(Settings(state_dir=tmp_path, **overrides), path) == url  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "update"),
    [
        pytest.param(PARAMS, StatusUpdate("SM" + "a" * 32, "delivered", "delivered", None), id="delivered"),
        pytest.param({"SmsSid": "SM1", "SmsStatus": "queued"}, StatusUpdate("SM1", "sent", "queued", None), id="old-names-queued"),
        pytest.param({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}, StatusUpdate("SM1", "undelivered", "undelivered", "30003"), id="undelivered-with-code"),
        pytest.param({"MessageSid": "SM1", "MessageStatus": "Failed"}, StatusUpdate("SM1", "failed", "failed", None), id="case-insensitive"),
        pytest.param({"MessageStatus": "sent"}, None, id="no-sid"),
        pytest.param({"MessageSid": "SM1", "MessageStatus": "teleported"}, None, id="unknown-status"),
    ],
)
def test_parse_status_callback(params: dict[str, str], update: StatusUpdate | None) -> None:
    assert parse_status_callback(params) == update


@pytest.mark.parametrize(
    ("code", "permanent"),
    [pytest.param("30003", True, id="unreachable"), pytest.param("30005", True, id="unknown-handset"),
     pytest.param("30001", False, id="queue-overflow-transient"), pytest.param(None, False, id="no-code")],
)
def test_undelivered_is_permanent_only_for_codes_no_retry_fixes(code: str | None, permanent: bool) -> None:
    assert StatusUpdate("SM1", "undelivered", "undelivered", code).is_permanent_failure is permanent


@pytest.mark.parametrize(
    ("current", "incoming", "result"),
    [
        pytest.param("sending", "sent", "sent", id="forward"),
        pytest.param("sent", "delivered", "delivered", id="delivered"),
        pytest.param("delivered", "sent", "delivered", id="late-sent-after-delivered"),
        pytest.param("delivered", "delivered", "delivered", id="duplicate"),
        pytest.param("undelivered", "delivered", "undelivered", id="first-final-wins"),
        pytest.param("failed", "sent", "failed", id="failed-stays"),
        pytest.param("pending", "delivered", "delivered", id="callback-before-send-recorded"),
        pytest.param("suppressed", "delivered", "suppressed", id="suppressed-never-changes"),
        pytest.param("sent", "bogus", "sent", id="unknown-ignored"),
    ],
)
def test_merge_status(current: str, incoming: str, result: str) -> None:
    assert merge_status(current, incoming) == result


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "sent", "delivered", "sent"])))
def test_callbacks_in_any_order_and_repeated_end_delivered(order: tuple[str, ...]) -> None:
    status = "sending"
    for incoming in order:
        status = merge_status(status, incoming)
    assert status == "delivered"


CODE = alert_code(41)


@pytest.mark.parametrize(
    ("body", "command"),
    [
        pytest.param(f"1 {CODE}", ReplyCommand(41, CODE, "confirmed"), id="confirm"),
        pytest.param(f"2 {CODE}", ReplyCommand(41, CODE, "false_alarm"), id="false-alarm"),
        pytest.param(f"3 {CODE}", ReplyCommand(41, CODE, "device_fault"), id="device-fault"),
        pytest.param(f"4 {CODE}", ReplyCommand(41, CODE, "enforcement_case"), id="enforcement-case"),
        pytest.param(f"1{CODE.lower()}", ReplyCommand(41, CODE, "confirmed"), id="no-space-lower-case"),
        pytest.param(f"  1,{CODE}\n", ReplyCommand(41, CODE, "confirmed"), id="comma-and-whitespace"),
        pytest.param(f"1#{CODE}", ReplyCommand(41, CODE, "confirmed"), id="hash"),
        pytest.param("１　" + "".join(chr(ord(c) + 0xFEE0) for c in CODE), ReplyCommand(41, CODE, "confirmed"), id="full-width"),
        pytest.param(f"5 {CODE}", None, id="unknown-digit"),
        pytest.param(CODE, None, id="code-alone"),
        pytest.param(f"1 {CODE[:-1]}X", None, id="typo-in-code"),
        pytest.param("收到", None, id="free-text"),
        pytest.param("", None, id="empty"),
        pytest.param(f"1 {CODE} 2 {CODE}", None, id="two-commands"),
    ],
)
def test_parse_reply(body: str, command: ReplyCommand | None) -> None:
    assert parse_reply(body) == command


@pytest.mark.parametrize(
    ("number", "normalised"),
    [
        pytest.param("+8613998369006", "+8613998369006", id="e164"),
        pytest.param("008613998369006", "+8613998369006", id="international-prefix"),
        pytest.param("13998369006", "+8613998369006", id="bare-chinese-mobile"),
        pytest.param("+86 139-9836-9006", "+8613998369006", id="spaces-dashes"),
        pytest.param("+49 (151) 2345678", "+491512345678", id="foreign"),
    ],
)
def test_normalise_phone(number: str, normalised: str) -> None:
    assert normalise_phone(number) == normalised


@pytest.mark.parametrize(
    ("sender", "allowed"),
    [
        pytest.param("+8613998369006", True, id="notified"),
        pytest.param("13998369006", True, id="notified-other-spelling"),
        pytest.param("+8613900000009", False, id="stranger"),
        pytest.param("", False, id="empty"),
    ],
)
def test_only_notified_recipients_may_acknowledge(sender: str, allowed: bool) -> None:
    assert is_authorised_sender(sender, ["+8613998369006", "+8613902677354"]) is allowed
