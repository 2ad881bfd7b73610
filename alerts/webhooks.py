"""Twilio's webhooks and the SMS report link, served by the alert service's HTTP endpoint.

POST /twilio/status   delivery status callbacks: signature checked, applied forward only
POST /twilio/sms      replies from inspectors ("1 K7M2Q9" acknowledges alert K7M2Q9 as confirmed),
                      accepted only from a number the alert was sent to; answered with TwiML
GET  /r/<token>       the report an SMS links to (HTML; `?format=pdf` for the PDF)

A signed post whose fields cannot be stored as text (a NUL character: PostgreSQL text refuses it) is
quarantined with its raw form and a reason, and answered: an empty TwiML <Response/> for a reply (Twilio
sends nothing back), 400 for a status callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg

from alerts.http import FormHandler, PageHandler, Response
from alerts.lifecycle import LifecycleError
from alerts.notify.callbacks import (
    INBOUND_SMS_PATH,
    STATUS_CALLBACK_PATH,
    is_authorised_sender,
    is_valid_signature,
    parse_reply,
    parse_status_callback,
    public_url,
)
from alerts.notify.outbox import apply_status, notified_phones
from alerts.notify.render import render_reply_answer
from alerts.people import acknowledge_alert
from envmon.db import connect_url
from envmon.settings import Settings

log = logging.getLogger(__name__)
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
QUARANTINE_REASON = "webhook_unstorable_text"
RAW_LIMIT_BYTES = 4096


def unstorable_fields(form: dict[str, str]) -> list[str]:
    """Names of the fields (or field names) that PostgreSQL text cannot hold: they contain NUL."""
    return sorted(_printable(k) for k, v in form.items() if "\x00" in k or "\x00" in v)


def _printable(text: str) -> str:
    """`text` safe for a text column: NUL written as the escape \\x00."""
    return text.replace("\x00", "\\x00")


class Webhooks:
    """The handlers, bound to the settings and a connection per request."""

    def __init__(self, settings: Settings, *, on_change: Callable[[], None]) -> None:
        self._settings = settings
        self._on_change = on_change
        self._token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None

    def routes(self) -> dict[str, FormHandler]:
        """POST path -> handler."""
        return {STATUS_CALLBACK_PATH: self.status, INBOUND_SMS_PATH: self.inbound}

    def pages(self) -> dict[str, PageHandler]:
        """GET path prefix -> handler."""
        return {"/r/": self.report}

    def _signed(self, path: str, form: dict[str, str], signature: str) -> bool:
        # With no Twilio account there is nobody to sign: the console demo accepts unsigned posts on loopback.
        if self._token is None:
            return self._settings.environment in ("demo", "test", "development")
        return is_valid_signature(self._token, public_url(self._settings, path), form, signature)

    def _connect(self) -> psycopg.Connection:
        return connect_url(self._settings.require_database_url(), application="envmon-webhooks", autocommit=True)

    def _quarantine(self, path: str, form: dict[str, str], fields: list[str]) -> None:
        """Keep a refused post: the raw form as bytes, the reason and the offending field names as text."""
        raw = urlencode(form).encode()
        detail = f"field(s) {', '.join(fields)} contain NUL (0x00)"
        log.warning("%s: post quarantined: %s", path, detail)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO quarantine (transport, source, device_mn, reason, detail, raw, raw_truncated)"
                " VALUES ('twilio', %s, NULL, %s, %s, %s, %s)",
                [f"{path} from {_printable(form.get('From', ''))[:64]}", QUARANTINE_REASON, detail,
                 raw[:RAW_LIMIT_BYTES], len(raw) > RAW_LIMIT_BYTES],
            )

    def status(self, form: dict[str, str], signature: str) -> Response:
        """A delivery status callback."""
        if not self._signed(STATUS_CALLBACK_PATH, form, signature):
            return 403, "text/plain", b"bad signature\n"
        if bad := unstorable_fields(form):
            self._quarantine(STATUS_CALLBACK_PATH, form, bad)
            return 400, "text/plain", b"unstorable characters (NUL)\n"
        update = parse_status_callback(form)
        if update is None:
            return 400, "text/plain", b"no message id or unknown status\n"
        with self._connect() as conn:
            applied = apply_status(conn, update)
        if applied is not None and update.is_permanent_failure:
            self._on_change()  # the planner tells the next step of the chain
        return 204, "text/plain", b""

    def inbound(self, form: dict[str, str], signature: str) -> Response:
        """An SMS reply; the answer goes back to the sender as TwiML."""
        if not self._signed(INBOUND_SMS_PATH, form, signature):
            return 403, "text/plain", b"bad signature\n"
        if bad := unstorable_fields(form):
            self._quarantine(INBOUND_SMS_PATH, form, bad)
            return 200, "application/xml", EMPTY_TWIML  # Twilio: answered, nothing to send back
        sender, body = form.get("From", ""), form.get("Body", "")
        answer, outcome, alert_id = self._reply(sender, body)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO sms_replies (from_phone, body, provider_id, alert_id, outcome) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (provider_id) DO NOTHING",
                [sender, body, form.get("MessageSid") or None, alert_id, outcome],
            )
        twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(answer)}</Message></Response>'
        return 200, "application/xml", twiml.encode()

    def _reply(self, sender: str, body: str) -> tuple[str, str, int | None]:
        locale = self._settings.locale
        command = parse_reply(body)
        if command is None:
            return render_reply_answer("unknown", code=None, disposition=None, locale=locale), "not_understood", None
        with self._connect() as conn:
            if not is_authorised_sender(sender, notified_phones(conn, command.alert_id)):
                log.warning("acknowledgement of %s refused: %s was not notified", command.code, sender)
                answer = render_reply_answer("not_authorised", code=command.code, disposition=None, locale=locale)
                return answer, "refused", None
            try:
                acknowledge_alert(conn, command.alert_id, actor=f"sms:{sender}", disposition=command.disposition,
                                  note=None, now=datetime.now(UTC))
            except LifecycleError as exc:
                return str(exc), "refused", command.alert_id
        self._on_change()
        # The disposition by its name in the locale: the raw code ("处置:false_alarm") reached people before.
        answer = render_reply_answer("acknowledged", code=command.code, disposition=command.disposition, locale=locale)
        return answer, "acknowledged", command.alert_id

    def report(self, path: str) -> Response:
        """The report behind a signed link in the link's language (with its PDF and other-language links)."""
        from alerts.reports.view import LinkError, open_report_link

        parts = urlsplit(path)
        token = parts.path.removeprefix("/r/")
        query = parse_qs(parts.query)
        secret = self._settings.require_secret()
        with self._connect() as conn:
            try:
                linked = open_report_link(conn, secret, token, lang=next(iter(query.get("lang", [])), None),
                                          now=datetime.now(UTC))
            except LinkError as exc:
                return 403, "text/plain; charset=utf-8", f"{exc}\n".encode()
        report = linked.report
        if report is None or report.html is None:
            return 404, "text/plain; charset=utf-8", b"the report is being prepared; try again in a moment\n"
        if (query.get("format") or [""])[0] == "pdf" and report.pdf is not None:
            return 200, "application/pdf", report.pdf
        return 200, "text/html; charset=utf-8", report.html.encode()
