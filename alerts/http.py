"""The alert service's small HTTP endpoint: /metrics, /healthz and Twilio's webhooks.

Webhooks (POST, form-encoded) and pages (GET, by path prefix) are handlers given by the service;
see alerts/webhooks.py for what is served.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from envmon.httpserve import QuietHandler, serve_in_background

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 64 * 1024
Response = tuple[int, str, bytes]  # HTTP status, content type, body
# A webhook handler: (form fields, the X-Twilio-Signature header) -> response.
FormHandler = Callable[[dict[str, str], str], Response]
# A page handler: (the request path with its query) -> response.
PageHandler = Callable[[str], Response]


def serve_http(
    registry: CollectorRegistry,
    health: Callable[[], tuple[bool, dict[str, object]]],
    webhooks: Mapping[str, FormHandler],
    pages: Mapping[str, PageHandler],
    host: str,
    port: int,
) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread; returns the server (its port may be chosen by the OS)."""
    return serve_in_background(_handler_for(registry, health, webhooks, pages), host, port, "alerts-http")


def _handler_for(
    registry: CollectorRegistry,
    health: Callable[[], tuple[bool, dict[str, object]]],
    webhooks: Mapping[str, FormHandler],
    pages: Mapping[str, PageHandler],
) -> type:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path == "/metrics":
                self.reply(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif self.path == "/healthz":
                ok, facts = health()
                self.reply(200 if ok else 503, "application/json", json.dumps({"ok": ok, **facts}).encode())
            else:
                page = next((h for prefix, h in pages.items() if self.path.startswith(prefix)), None)
                self.reply(*page(self.path)) if page else self.reply(404, "text/plain", b"not found\n")

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            handler = webhooks.get(self.path.split("?", 1)[0])
            size = int(self.headers.get("Content-Length") or 0)
            if handler is None:
                self.reply(404, "text/plain", b"not found\n")
            elif size > MAX_FORM_BYTES:
                self.reply(413, "text/plain", b"too large\n")
            else:
                form = dict(parse_qsl(self.rfile.read(size).decode("utf-8", "replace"), keep_blank_values=True))
                self.reply(*_answer(handler, form, self.headers.get("X-Twilio-Signature", ""), self.path))

    return Handler


def _answer(handler: FormHandler, form: dict[str, str], signature: str, path: str) -> Response:
    """The handler's response; 500 when it fails, so the caller gets an answer instead of a dropped connection."""
    try:
        return handler(form, signature)
    except Exception:  # one bad post must not cost the sender its answer (Twilio then logs 11200)
        log.exception("webhook %s failed", path)
        return 500, "text/plain", b"internal error\n"
