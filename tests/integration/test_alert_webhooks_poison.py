"""Twilio webhooks with content PostgreSQL text refuses: answered and quarantined, over the real endpoint."""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from html import escape
from http.server import ThreadingHTTPServer

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from alerts.http import Response, serve_http
from alerts.notify.callbacks import INBOUND_SMS_PATH, STATUS_CALLBACK_PATH
from alerts.notify.fake_twilio import FakeTwilio
from alerts.notify.render import render_reply_answer
from alerts.webhooks import EMPTY_TWIML, Webhooks
from envmon.settings import load_settings
from tests.patience import slowness

PUBLIC = "https://envmon.example"


def _fails(form: dict[str, str], signature: str) -> Response:
    raise RuntimeError("a handler bug")


@pytest.fixture
def endpoint(database_url: str) -> Iterator[tuple[FakeTwilio, int]]:
    state_dir = tempfile.mkdtemp(prefix="envmon-webhooks-test-")
    with FakeTwilio(wait_scale=slowness()) as fake:
        settings = load_settings(environment="test", database_url=database_url, state_dir=state_dir,
                                 twilio_auth_token=fake.auth_token, public_base_url=PUBLIC)
        routes = {**Webhooks(settings, on_change=lambda: None).routes(), "/broken": _fails}
        server: ThreadingHTTPServer = serve_http(CollectorRegistry(), lambda: (True, {}), routes, {}, "127.0.0.1", 0)
        port = int(server.server_address[1])
        fake.rewrite = lambda public: public.replace(PUBLIC, f"http://127.0.0.1:{port}")
        try:
            yield fake, port
        finally:
            server.shutdown()
            shutil.rmtree(state_dir, ignore_errors=True)


def quarantined(database_url: str) -> list[tuple[str, str, str, bytes]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT transport, reason, detail, raw FROM quarantine ORDER BY id").fetchall()
    return [(t, r, d, bytes(raw)) for t, r, d, raw in rows]


@pytest.mark.parametrize(
    ("sender", "body", "field"),
    [
        pytest.param("+8613998369006", "1 K7M\x00Q9", "Body", id="nul-in-the-body"),
        pytest.param("+86139\x0098369006", "1 K7M2Q9", "From", id="nul-in-the-sender"),
        pytest.param("+8613998369006", "\x00" * 200, "Body", id="only-nul"),
    ],
)
def test_a_reply_with_nul_is_answered_with_empty_twiml_and_quarantined(
    endpoint: tuple[FakeTwilio, int], database_url: str, sender: str, body: str, field: str
) -> None:
    fake, port = endpoint
    params = {"Body": body, "From": sender, "To": "+15005550006", "MessageSid": "SM00000000000000000000000000000001"}
    status, answer = post(fake, INBOUND_SMS_PATH, params)
    assert (status, answer) == (200, EMPTY_TWIML)
    [(transport, reason, detail, raw)] = quarantined(database_url)
    assert (transport, reason) == ("twilio", "webhook_unstorable_text")
    assert field in detail and "NUL" in detail
    assert b"%00" in raw, "the raw form is kept as bytes"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM sms_replies").fetchone() == (0,)


def test_a_status_callback_with_nul_is_refused_and_quarantined(
    endpoint: tuple[FakeTwilio, int], database_url: str
) -> None:
    fake, _ = endpoint
    status, _ = post(fake, STATUS_CALLBACK_PATH, {"MessageSid": "SM\x001", "MessageStatus": "delivered"})
    assert status == 400
    assert [(t, r) for t, r, _, _ in quarantined(database_url)] == [("twilio", "webhook_unstorable_text")]


def test_an_ordinary_reply_is_still_answered_and_stored(endpoint: tuple[FakeTwilio, int], database_url: str) -> None:
    fake, _ = endpoint
    status, answer = post(fake, INBOUND_SMS_PATH, {"Body": "hello", "From": "+8613998369006", "MessageSid": "SM2"})
    assert status == 200 and b"<Message>" in answer
    assert quarantined(database_url) == []
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT body, outcome FROM sms_replies").fetchall() == [("hello", "not_understood")]


def test_a_failing_handler_answers_500_instead_of_dropping_the_connection(endpoint: tuple[FakeTwilio, int]) -> None:
    fake, _ = endpoint
    assert post(fake, "/broken", {"a": "b"})[0] == 500


def post(fake: FakeTwilio, path: str, params: dict[str, str]) -> tuple[int, bytes]:
    """POST signed like Twilio; the status and the body of the answer."""
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(fake.auth_token).compute_signature(PUBLIC + path, params)
    request = urllib.request.Request(
        fake.rewrite(PUBLIC + path), data=urllib.parse.urlencode(params).encode(), method="POST",
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def test_a_reply_not_understood_is_answered_with_the_catalogues_reply_help(endpoint: tuple[FakeTwilio, int]) -> None:
    """The webhook had its own copy of the reply answers; it now sends the SMS catalogue's (render_reply_answer)."""
    fake, _ = endpoint
    params = {"Body": "hello", "From": "+8613998369006", "To": "+15005550006",
              "MessageSid": "SM00000000000000000000000000000002"}
    status, answer = post(fake, INBOUND_SMS_PATH, params)
    expected = render_reply_answer("unknown", code=None, disposition=None, locale="zh-CN")  # the default locale
    assert status == 200 and f"<Message>{escape(expected)}</Message>".encode() in answer
