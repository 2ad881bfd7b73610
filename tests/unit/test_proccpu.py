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
        meter.start(time.time())
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:
            pass
        percent = meter.stop(time.time())
        assert percent["busy"] > 30 and percent["idle"] < 5, percent
        assert idle.pid in children_of(os.getpid())
    finally:
        idle.kill()
        idle.wait()


def test_a_process_that_is_gone_has_no_time() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu_seconds(gone.pid) == 0.0
