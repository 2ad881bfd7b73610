"""A report render left at idle CPU priority too long runs at its niceness until done (alerts/reports/worker.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import Future

import pytest

from alerts.reports.worker import result_with_bounded_idle

CHILD = "import os, sys; os.nice(10); os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)); " \
        "print('idle', flush=True); sys.stdin.read()"


def test_a_starved_render_is_lifted_until_done_then_idle_again() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "idle\n"
        future: Future[str] = Future()
        seen: list[int] = []

        def render() -> None:
            # The "render" can only finish once its process left SCHED_IDLE: a starved one never would.
            while (policy := os.sched_getscheduler(child.pid)) == os.SCHED_IDLE:
                threading.Event().wait(0.01)
            seen.append(policy)
            future.set_result("report")

        threading.Thread(target=render, daemon=True).start()
        assert result_with_bounded_idle(future, lambda: [child.pid], idle_wait_seconds=0.05) == "report"
        assert seen == [os.SCHED_OTHER]
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 10  # lifted to its niceness, not above
        assert os.sched_getscheduler(child.pid) == os.SCHED_IDLE  # and back at idle for the next one
    finally:
        child.kill()
        child.wait()


def test_a_render_done_in_time_never_touches_the_priority() -> None:
    future: Future[str] = Future()
    future.set_result("report")
    assert result_with_bounded_idle(future, lambda: pytest.fail("no pids wanted")) == "report"
