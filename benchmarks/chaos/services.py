"""The platform's processes under chaos: `envmon ingest` and `envmon alerts` as a supervisor runs them.

Each runs as its own child (`python -m envmon_app ...`) in its own session, logging to a file in the run's
folder; the driver signals it by pid and starts it again, as systemd's `Restart=always` would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

STOP_SECONDS = 45.0


@dataclass
class Service:
    """One supervised process: how to start it, and the current child."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> None:
        """Start the process (appending to its log)."""
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts + 1} at {time.time():.3f} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "envmon_app", *self.argv], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.starts += 1

    def send(self, sig: int) -> None:
        """Signal the running child (nothing when it is already gone)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout_seconds: float) -> bool:
        """Wait for the child to end; True when it did (its exit code is kept)."""
        if self.proc is None:
            return True
        try:
            code = self.proc.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            return False
        self.exit_codes.append(code)
        return True

    def stop(self) -> None:
        """SIGTERM, then SIGKILL when it does not end in time."""
        self.send(signal.SIGTERM)
        if not self.wait_exit(STOP_SECONDS):
            self.send(signal.SIGKILL)
            self.wait_exit(STOP_SECONDS)

    def is_running(self) -> bool:
        """Whether the child runs now."""
        return self.proc is not None and self.proc.poll() is None


def service_env(state_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a platform process: the run's stack, test settings, no inherited ENVMON_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVMON_") and k not in ("DATABASE_URL", "MQTT_URL")}
    env.update({"ENVMON_STATE_DIR": str(state_dir), "ENVMON_ENVIRONMENT": "test", "ENVMON_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1", **extra})
    return env
