"""envmon.proccpu: CPU time per group of processes, from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from envmon.proccpu import CpuMeter, children_of, cpu_seconds


def test_a_busy_process_is_counted_and_an_idle_one_is_not() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        meter = CpuMeter({"busy": lambda: [os.getpid()], "idle": lambda: [idle.pid]})
        started = time.time()
        meter.start(started)
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:
            pass
        stopped = time.time()
        percent = meter.stop(stopped)
        # On a busy machine the 0.3 s of CPU can take seconds of wall time: judge the CPU seconds the
        # percentages stand for, not a percentage that depends on how long the scheduler made us wait.
        busy_seconds = percent["busy"] / 100 * (stopped - started)
        idle_seconds = percent["idle"] / 100 * (stopped - started)
        assert busy_seconds >= 0.25 and idle_seconds < 0.05, (percent, stopped - started)
        assert idle.pid in children_of(os.getpid())
    finally:
        idle.kill()
        idle.wait()


def test_a_process_that_is_gone_has_no_time() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu_seconds(gone.pid) == 0.0
