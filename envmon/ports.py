"""The TCP ports a process will listen on: checked before anything starts, so a busy one is named."""

from __future__ import annotations

import socket

from envmon.errors import PortInUseError
from envmon.settings import Settings


def listen_socket(host: str, port: int, what: str) -> socket.socket:
    """A listening socket on host:port (SO_REUSEADDR, as the servers use); PortInUseError names the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise PortInUseError(f"port {port} on {host} ({what}) is in use: {exc.strerror}; stop what holds it "
                             "or choose another port") from exc


def demo_ports(settings: Settings) -> list[tuple[str, int, str]]:
    """(host, port, what) of every fixed port `envmon demo` listens on (0: the OS picks, never busy)."""
    wanted = [
        (settings.dashboard_host, settings.dashboard_port, "dashboard, ENVMON_DASHBOARD_PORT"),
        (settings.alerts_http_host, settings.alerts_http_port, "alerts endpoint, ENVMON_ALERTS_HTTP_PORT"),
        (settings.ingest_http_host, settings.ingest_http_port, "ingest endpoint, ENVMON_INGEST_HTTP_PORT"),
        (settings.hj212_host, settings.hj212_port, "HJ 212 gateway, ENVMON_HJ212_PORT"),
    ]
    return [w for w in wanted if w[1] != 0]


def require_free_ports(ports: list[tuple[str, int, str]]) -> None:
    """Raise PortInUseError naming every busy port of the list."""
    busy: list[str] = []
    for host, port, what in ports:
        try:
            listen_socket(host, port, what).close()
        except PortInUseError as exc:
            busy.append(str(exc))
    if busy:
        raise PortInUseError("; ".join(busy))
