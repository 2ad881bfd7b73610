"""Small process helpers for the stack: free ports, waiting for a port, running as a service user."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from envmon.errors import StackError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, *, timeout_seconds: float, alive: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until the port accepts connections; False on timeout or when `alive` exits first."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if is_port_open(port):
            return True
        if alive is not None and alive.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def is_pid_alive(pid: int, name_hint: str) -> bool:
    """True when pid runs and its command line mentions name_hint (guards against reused pids)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return name_hint.encode() in cmdline


def service_user(name: str) -> pwd.struct_passwd | None:
    """The account a server drops to when we run as root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise StackError(f"running as root needs the system user {name!r} (installed with its Debian package)") from exc


def chown_tree(path: Path, user: pwd.struct_passwd | None) -> None:
    """Give a folder and everything in it to the service user (no-op when not root)."""
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        for entry in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(entry, user.pw_uid, user.pw_gid)


def as_user(argv: list[str], user: pwd.struct_passwd | None) -> list[str]:
    """Prefix a command so it runs as the service user when we are root."""
    if user is None:
        return argv
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", user.pw_name, "--", *argv]


def run(argv: list[str], *, what: str, timeout_seconds: float = 120) -> str:
    """Run a command to completion; a failure becomes a StackError with its output."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_seconds, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise StackError(f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout


def ensure_traversable(path: Path) -> None:
    """Make every ancestor of path searchable by others, so a dropped-privilege server reaches it."""
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise StackError(
                f"{parent} is not searchable by other users (mode {oct(mode & 0o777)}); the servers run as "
                "their own users when envmon runs as root: choose a state folder outside it (ENVMON_STATE_DIR)"
            )
