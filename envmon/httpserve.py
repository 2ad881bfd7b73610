"""The small HTTP endpoints of the services (metrics, health, webhooks): a quiet handler base and a
server on a daemon thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that answers with `reply` and keeps scrapes and probes out of the log."""

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        """Send a whole response."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server API
        return


def serve_in_background(handler: type[BaseHTTPRequestHandler], host: str, port: int, name: str) -> ThreadingHTTPServer:
    """Start a threading HTTP server on a daemon thread (port 0: the OS picks one; see server_address)."""
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server
