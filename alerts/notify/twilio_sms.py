"""The Twilio SMS sender and webhook signature check: the only module that imports `twilio`.

Twilio's exceptions become SendError here and never leave this module.

The real `twilio.rest.Client` is used with our own HTTP client, which (1) rebases https://api.twilio.com on
`twilio_api_base_url` when set (a private gateway, or the fake server in tests) and (2) separates the connect
timeout from the read timeout, because the two mean different things for an SMS: a connect timeout or a
refused connection never reached Twilio (retry freely); a read timeout or a connection lost after the
request went out may have created the message (SendError.maybe_sent: the outbox retries it at most once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException  # type: ignore[import-untyped]
from twilio.http import HttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]
from urllib3.exceptions import ConnectTimeoutError

from alerts.notify.sms import ConsoleSmsSender, SendError, SendResult, SmsSender, is_permanent_error_code
from envmon.errors import ConfigError
from envmon.settings import Settings

log = logging.getLogger("envmon.alerts.twilio")
TWILIO_API_BASE_URL = "https://api.twilio.com"
# Our clock and Twilio's may differ a little: a message created this much before our request start still counts.
CLOCK_SKEW_SECONDS = 60.0
LOOKUP_LIMIT = 50  # the newest messages to the number; an interrupted request is minutes old at most


class _RebasedHttpClient(HttpClient):  # type: ignore[misc]
    """A requests-based twilio HTTP client with a configurable base URL and (connect, read) timeouts."""

    def __init__(self, base_url: str | None, connect_timeout_seconds: float, read_timeout_seconds: float) -> None:
        super().__init__(log, False, read_timeout_seconds)
        self._base_url = base_url.rstrip("/") if base_url else None
        self._timeouts = (connect_timeout_seconds, read_timeout_seconds)
        self._session = requests.Session()

    def request(  # the twilio client calls this with its own full URL and form data
        self, method: str, uri: str, params: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None, timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        if self._base_url and uri.startswith(TWILIO_API_BASE_URL):
            uri = self._base_url + uri[len(TWILIO_API_BASE_URL):]
        response = self._session.request(
            method.upper(), uri, params=params, data=data, headers=headers, auth=auth, timeout=self._timeouts,
            allow_redirects=allow_redirects,
        )
        return Response(int(response.status_code), response.text, response.headers)

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()


class TwilioSmsSender:
    """Sends SMS through Twilio's Messages API (from a number or a messaging service)."""

    def __init__(
        self, *, account_sid: str, auth_token: str, from_number: str | None = None,
        messaging_service_sid: str | None = None, api_base_url: str | None = None,
        connect_timeout_seconds: float = 3.0, read_timeout_seconds: float = 10.0,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ConfigError("Twilio needs twilio_from_number or twilio_messaging_service_sid")
        self._http = _RebasedHttpClient(api_base_url, connect_timeout_seconds, read_timeout_seconds)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        self._sender: dict[str, str] = (
            {"messaging_service_sid": messaging_service_sid} if messaging_service_sid else {"from_": str(from_number)}
        )

    def send(self, to: str, body: str, *, status_callback: str | None) -> SendResult:
        """Create the message; SendError says whether to retry, escalate, or retry at most once."""
        extra = {"status_callback": status_callback} if status_callback else {}
        try:
            message = self._client.messages.create(to=to, body=body, **self._sender, **extra)
        except TwilioRestException as exc:
            raise rest_error(exc.status, exc.code, str(exc.msg)) from exc
        except requests.RequestException as exc:
            raise transport_error(exc) from exc
        except TwilioException as exc:
            raise SendError(recoverable=False, code="twilio", message=str(exc)) from exc
        return SendResult(str(message.sid), str(message.status or "queued"))

    def find_sent(self, to: str, body: str, *, since: datetime) -> SendResult | None:
        """The newest message with this body to `to` created since `since` (Twilio lists newest first).

        Filtered by number only: Twilio's DateSent filter is by day and a message still queued has no
        date_sent yet, so the time is checked here on date_created.
        """
        try:
            messages = self._client.messages.list(to=to, limit=LOOKUP_LIMIT)
        except TwilioRestException as exc:
            raise rest_error(exc.status, exc.code, str(exc.msg)) from exc
        except requests.RequestException as exc:
            raise SendError(recoverable=True, code="lookup", message=f"lookup failed: {exc}") from exc
        except TwilioException as exc:
            raise SendError(recoverable=True, code="lookup", message=str(exc)) from exc
        earliest = since - timedelta(seconds=CLOCK_SKEW_SECONDS)
        for message in messages:
            created = message.date_created
            if is_same_body(str(message.body or ""), body) and created is not None and created >= earliest:
                return SendResult(str(message.sid), str(message.status or "queued"))
        return None

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()


def is_same_body(listed: str, sent: str) -> bool:
    """True if a listed message carries the body we sent: a messaging service may append opt-out text, and
    a false "not there" would send another copy, so containment counts (after trimming whitespace)."""
    return bool(sent.strip()) and sent.strip() in listed


def rest_error(status: int, code: int | None, message: str) -> SendError:
    """An API error answer as a SendError: 429 and 5xx recoverable; invalid, opted-out, rejected permanent."""
    text = f"HTTP {status}: {message}"
    if status == 429 or status >= 500:
        return SendError(recoverable=True, code=str(code or status), message=text)
    if code is not None and is_permanent_error_code(code):
        return SendError(recoverable=False, code=str(code), message=text)
    # Other 4xx (bad credentials, bad parameters) will not heal by retrying the same request either.
    return SendError(recoverable=False, code=str(code or status), message=text)


def transport_error(exc: requests.RequestException) -> SendError:
    """A transport failure as a SendError; `maybe_sent` unless the connection was never made."""
    if _never_connected(exc):
        return SendError(recoverable=True, code="connect", message=f"not sent: {exc}")
    kind = "timeout" if isinstance(exc, requests.Timeout) else "connection_lost"
    return SendError(recoverable=True, code=kind, message=f"may have been sent: {exc}", maybe_sent=True)


def _never_connected(exc: requests.RequestException) -> bool:
    """True for a refused connection or a connect timeout (nothing reached the server)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.ReadTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError (refused) is a subclass


def is_valid_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """True if `signature` (the X-Twilio-Signature header) signs these POST params for this public URL."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def sms_sender_from_settings(settings: Settings) -> SmsSender:
    """Twilio when an account SID and auth token are set, else the console (the demo shows the SMS there)."""
    if not settings.twilio_account_sid or settings.twilio_auth_token is None:
        return ConsoleSmsSender()
    return TwilioSmsSender(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        from_number=settings.twilio_from_number,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        api_base_url=settings.twilio_api_base_url,
    )
