"""`envmon ingest --workers N`: N ingest processes sharing the load through an MQTT v5 shared subscription.

Each worker is a plain `envmon ingest --shared` process with its own stable client id
(`<id>-<n>`, so its persistent session survives restarts) and HTTP port (`<port>+n`, or any
free port with 0). Only worker 0 runs the HJ 212 gateway (one listening port). A worker that
exits is restarted after a pause; SIGINT/SIGTERM stop them all. Mosquitto keeps a stopped
worker's share of messages in its session until it returns (see docs/scaling notes in issue 8).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from envmon.settings import Settings

log = logging.getLogger(__name__)
RESTART_PAUSE_SECONDS = 2.0


def worker_argv(settings: Settings, index: int) -> list[str]:
    """The command line of worker `index`."""
    port = settings.ingest_http_port + index if settings.ingest_http_port else 0
    argv = [
        sys.executable,
        "-m",
        "envmon_app",
        "ingest",
        "--shared",
        "--client-id",
        f"{settings.ingest_client_id}-{index}",
        "--http-port",
        str(port),
    ]
    return argv + (["--hj212"] if index == 0 and settings.ingest_hj212 else [])


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(self, argvs: Sequence[list[str]]) -> None:
        self._argvs = list(argvs)
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * len(self._argvs)
        self._stop = threading.Event()

    def run(self) -> int:
        """Run until a stop signal; returns 0."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stop.set())
        while not self._stop.is_set():
            for i, proc in enumerate(self._procs):
                if proc is None or proc.poll() is not None:
                    if proc is not None:
                        log.warning("ingest worker %d exited with %s; restarting", i, proc.returncode)
                    self._procs[i] = subprocess.Popen(self._argvs[i], env={**os.environ, "ENVMON_INGEST_WORKERS": "1"})
                    log.info("ingest worker %d started (pid %d)", i, self._procs[i].pid)  # type: ignore[union-attr]
            self._stop.wait(RESTART_PAUSE_SECONDS)
        self.stop()
        return 0

    def stop(self) -> None:
        """SIGTERM every worker (they write what they hold), then wait for them."""
        live = [p for p in self._procs if p is not None and p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def run_workers(settings: Settings) -> int:
    """Run `settings.ingest_workers` worker processes under a supervisor."""
    return Supervisor([worker_argv(settings, i) for i in range(settings.ingest_workers)]).run()
