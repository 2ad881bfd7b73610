"""A local fake of Twilio's Messages API for tests and benchmarks (the real `twilio` client talks to it).

    with FakeTwilio() as fake:
        sender = TwilioSmsSender(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                 from_number="+15005550006", api_base_url=fake.base_url)
        sender.send("+8613900000001", "hello", status_callback="https://public.example/twilio/status")
        fake.wait_for_messages(1)
        fake.send_status_callbacks(fake.messages[0].sid, ("sent", "delivered"))

POST /2010-04-01/Accounts/{sid}/Messages.json with HTTP basic auth answers like Twilio (201, JSON, status
"queued", sid SM + 32 hex) and records every request. Failures can be programmed: the next N requests
fail with a status and error code (500, 429 ...), numbers that always fail (21211, 21610 ...), or hang
(the message IS created, the answer comes late: a read timeout after landing). Status callbacks are POSTed
form-encoded and signed with X-Twilio-Signature over the StatusCallback URL (the public one); `rewrite`
maps that URL to where the test's server really listens.

GET on the same path lists the created messages newest first, like Twilio, filtered by `To` and by
`DateSent` / `DateSent>` / `DateSent<` (a day or a full UTC time; here a message is sent when created).
Lookups can be made to fail (`fail_lookups`) and are counted (`lookups`).
"""

from __future__ import annotations

import base64
import email.utils
import itertools
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")
ERROR_MESSAGES = {
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One Messages.json request as the fake saw it, and how it answered."""

    time: datetime
    to: str
    body: str
    from_: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    http_status: int
    sid: str | None  # set when the message was created (also for hung requests)
    error_code: int | None


@dataclass(frozen=True, slots=True)
class _Failure:
    http_status: int
    code: int | None
    hang_seconds: float = 0.0


class FakeTwilio:
    """The fake server; a context manager that starts it on 127.0.0.1 on a free port."""

    def __init__(
        self, *, account_sid: str | None = None, auth_token: str | None = None,
        rewrite: Callable[[str], str] | None = None, auto_callbacks: Iterable[str] = (),
        wait_scale: float = 1.0,
    ) -> None:
        self.wait_scale = wait_scale  # stretches wait_for_messages' deadline (tests on a busy machine)
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.rewrite = rewrite or (lambda url: url)
        self.auto_callbacks = tuple(auto_callbacks)  # e.g. ("sent", "delivered") after each created message
        self.requests: list[RecordedRequest] = []
        self.callback_results: list[tuple[str, str, int]] = []  # (sid, status, HTTP status of the POST)
        self._failures: deque[_Failure] = deque()
        self._lookup_failures = 0
        self._lookup_status = 500
        self.lookups = 0  # GET Messages.json requests answered (also the failed ones)
        self._failing_numbers: dict[str, int] = {}
        self._lock = threading.Condition()
        self._release = threading.Event()
        self._sids = (f"SM{n:032x}" for n in itertools.count(secrets.randbits(64)))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval makes close() quick (shutdown waits for the loop's next poll).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-twilio", daemon=True
        )

    # --- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving; hung requests are let go."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        """Where the fake listens (TwilioSmsSender's api_base_url)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- programming failures ----------------------------------------------------------------------------
    def fail_next(self, count: int = 1, *, http_status: int = 500, code: int | None = None) -> None:
        """The next `count` requests fail with this HTTP status and Twilio error code (nothing is created)."""
        with self._lock:
            self._failures.extend(_Failure(http_status, code) for _ in range(count))

    def hang_next(self, count: int = 1, *, seconds: float = 5.0) -> None:
        """The next `count` requests create the message but answer only after `seconds` (a late answer)."""
        with self._lock:
            self._failures.extend(_Failure(201, None, seconds) for _ in range(count))

    def fail_lookups(self, count: int = 1, *, http_status: int = 500) -> None:
        """The next `count` message lists (GET) fail with this HTTP status."""
        with self._lock:
            self._lookup_failures += count
            self._lookup_status = http_status

    def fail_number(self, phone: str, code: int = 21211) -> None:
        """Every request to this number fails with 400 and the error code (21211 invalid, 21610 opted out)."""
        with self._lock:
            self._failing_numbers[phone] = code

    # --- what happened -----------------------------------------------------------------------------------
    @property
    def messages(self) -> list[RecordedRequest]:
        """The requests that created a message, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.sid is not None]

    def wait_for_messages(self, count: int, timeout_seconds: float = 10.0) -> list[RecordedRequest]:
        """Block until at least `count` messages were created; AssertionError on timeout."""
        deadline = time.monotonic() + timeout_seconds * self.wait_scale
        with self._lock:
            while len([r for r in self.requests if r.sid]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake Twilio: {count} messages expected, got {len(self.messages)}")
                self._lock.wait(left)
        return self.messages

    # --- answering ---------------------------------------------------------------------------------------
    def _answer(self, account_sid: str, form: dict[str, str]) -> tuple[int, dict[str, object], float]:
        """Decide the answer to one Messages.json request: HTTP status, JSON body, seconds to hang first."""
        to = form.get("To", "")
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
            if to in self._failing_numbers and failure is None:
                failure = _Failure(400, self._failing_numbers[to])
        if failure is not None and failure.http_status >= 400:
            self._record(form, failure.http_status, None, failure.code)
            return failure.http_status, _error_json(failure.http_status, failure.code), 0.0
        sid = next(self._sids)
        self._record(form, 201, sid, None)
        return 201, _message_json(account_sid, sid, form), failure.hang_seconds if failure else 0.0

    def _list(self, account_sid: str, query: dict[str, str]) -> tuple[int, dict[str, object]]:
        """Answer a message list (GET): newest first, filtered by To and DateSent like Twilio."""
        with self._lock:
            self.lookups += 1
            if self._lookup_failures:
                self._lookup_failures -= 1
                return self._lookup_status, _error_json(self._lookup_status, None)
            created = [r for r in reversed(self.requests) if r.sid is not None]
        matching = [r for r in created if _matches(r, query)][: int(query.get("PageSize", "50"))]
        uri = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        return 200, {
            "messages": [_recorded_json(account_sid, r) for r in matching], "end": max(0, len(matching) - 1),
            "first_page_uri": uri, "next_page_uri": None, "previous_page_uri": None, "page": 0,
            "page_size": len(matching), "start": 0, "uri": uri,
        }

    def _record(self, form: dict[str, str], http_status: int, sid: str | None, code: int | None) -> None:
        request = RecordedRequest(
            time=datetime.now(UTC), to=form.get("To", ""), body=form.get("Body", ""), from_=form.get("From"),
            messaging_service_sid=form.get("MessagingServiceSid"), status_callback=form.get("StatusCallback"),
            http_status=http_status, sid=sid, error_code=code,
        )
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
        if sid and self.auto_callbacks and request.status_callback:
            threading.Thread(target=self.send_status_callbacks, args=(sid, self.auto_callbacks), daemon=True).start()

    def hang(self, seconds: float) -> None:
        """Wait like a slow server, but stop waiting when the fake closes."""
        self._release.wait(seconds)

    # --- callbacks ---------------------------------------------------------------------------------------
    def send_status_callbacks(
        self, sid: str, statuses: Iterable[str], *, error_code: int | None = None, signature_token: str | None = None
    ) -> list[int]:
        """POST one signed status callback per status, in the order given; returns the HTTP statuses."""
        request = next(r for r in self.requests if r.sid == sid)
        if not request.status_callback:
            raise ValueError(f"message {sid} has no StatusCallback")
        results = []
        for status in statuses:
            params = {
                "AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "From": request.from_ or "",
                "MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status, "To": request.to,
            }
            if error_code is not None and status in ("failed", "undelivered"):
                params["ErrorCode"] = str(error_code)
            code = self.post_signed(request.status_callback, params, signature_token=signature_token)
            self.callback_results.append((sid, status, code))
            results.append(code)
        return results

    def post_inbound_sms(self, url: str, *, from_: str, to: str, body: str, signature_token: str | None = None) -> int:
        """POST an incoming SMS webhook (a reply from a phone), signed like Twilio; returns the HTTP status."""
        params = {
            "AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "Body": body, "From": from_,
            "MessageSid": next(self._sids), "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "To": to,
        }
        return self.post_signed(url, params, signature_token=signature_token)

    def post_signed(self, public_url: str, params: dict[str, str], *, signature_token: str | None = None) -> int:
        """POST form params to rewrite(public_url), signed over public_url (a wrong token makes a bad signature)."""
        signature = RequestValidator(signature_token or self.auth_token).compute_signature(public_url, params)
        request = urllib.request.Request(
            self.rewrite(public_url), data=urllib.parse.urlencode(params).encode(), method="POST",
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


def _message_json(account_sid: str, sid: str, form: dict[str, str]) -> dict[str, object]:
    now = email.utils.format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "sid": sid, "account_sid": account_sid, "api_version": "2010-04-01", "body": form.get("Body", ""),
        "date_created": now, "date_updated": now, "date_sent": None, "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": form.get("From"), "to": form.get("To"),
        "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0", "num_segments": "1",
        "price": None, "price_unit": "USD", "status": "queued", "subresource_uris": {},
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


def _recorded_json(account_sid: str, request: RecordedRequest) -> dict[str, object]:
    form = {"Body": request.body, "To": request.to}
    form |= {"From": request.from_} if request.from_ else {}
    form |= {"MessagingServiceSid": request.messaging_service_sid} if request.messaging_service_sid else {}
    message = _message_json(account_sid, str(request.sid), form)
    stamp = email.utils.format_datetime(request.time, usegmt=True)
    return message | {"date_created": stamp, "date_updated": stamp, "date_sent": stamp, "status": "sent"}


def _matches(request: RecordedRequest, query: dict[str, str]) -> bool:
    """Twilio's list filters: To, and DateSent (=, >, <) given as a day (YYYY-MM-DD) or a UTC time."""
    if "To" in query and request.to != query["To"]:
        return False
    for key, keep in (("DateSent", _same), ("DateSent>", _on_or_after), ("DateSent<", _on_or_before)):
        if key in query and not keep(request.time, query[key]):
            return False
    return True


def _bound(text: str) -> tuple[datetime, bool]:
    """A DateSent value as a UTC time and whether it names a whole day."""
    if len(text) == 10:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC), True
    return datetime.fromisoformat(text.replace("Z", "+00:00")), False


def _same(time: datetime, text: str) -> bool:
    bound, day = _bound(text)
    return time.date() == bound.date() if day else time == bound


def _on_or_after(time: datetime, text: str) -> bool:
    bound, day = _bound(text)
    return time.date() >= bound.date() if day else time >= bound


def _on_or_before(time: datetime, text: str) -> bool:
    bound, day = _bound(text)
    return time.date() <= bound.date() if day else time <= bound


def _error_json(http_status: int, code: int | None) -> dict[str, object]:
    code = code or (20429 if http_status == 429 else 20500 if http_status >= 500 else None)
    return {
        "code": code, "message": ERROR_MESSAGES.get(code or 0, f"HTTP {http_status}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": http_status,
    }


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive like the real API: no connect cost per message in benchmarks
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle and the client's delayed ACK
        # would add ~40 ms to every answer and distort latency benchmarks.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:  # quiet: tests read fake.requests
            return

        def do_POST(self) -> None:
            match = MESSAGES_PATH.match(urllib.parse.urlsplit(self.path).path)
            if match is None:
                self._reply(404, {"code": 20404, "message": "not found", "status": 404})
            elif not self._authorised(match["sid"]):
                self._reply(401, _error_json(401, 20003))
            else:
                self._create(match["sid"])

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            match = MESSAGES_PATH.match(parts.path)
            if match is None:
                self._reply(404, {"code": 20404, "message": "not found", "status": 404})
            elif not self._authorised(match["sid"]):
                self._reply(401, _error_json(401, 20003))
            else:
                self._reply(*fake._list(match["sid"], dict(urllib.parse.parse_qsl(parts.query))))

        def _create(self, account_sid: str) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            status, body, hang_seconds = fake._answer(account_sid, form)
            if hang_seconds:
                fake.hang(hang_seconds)
            self._reply(status, body)

        def _authorised(self, account_sid: str) -> bool:
            expected = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
            return account_sid == fake.account_sid and self.headers.get("Authorization") == f"Basic {expected}"

        def _reply(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (timeout tests)

    return Handler
