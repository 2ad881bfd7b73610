"""A SIGKILLed parent of the report worker leaves no process behind: the render child and the resource tracker go."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from envmon.proccpu import children_of, is_alive
from tests.conftest import ROOT
from tests.patience import patience

PARENT = """
import sys, threading
from alerts import store
from alerts.reports.worker import ReportWorker
from envmon.settings import load_settings

settings = load_settings(environment="test", database_url=sys.argv[1], state_dir=sys.argv[2])
worker = ReportWorker(settings, load_alert=store.load_alert)
threading.Thread(target=worker.run, args=(threading.Event(),), name="reports").start()
if not worker.ready.wait(600):
    sys.exit("the render process did not start")
print("ready", worker.render_pid, flush=True)
threading.Event().wait()
"""


def read_line(proc: subprocess.Popen[str], timeout_seconds: float) -> str:
    """The parent's first line of output (it prints once its render process has warmed up)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        assert selector.select(timeout_seconds), "the worker did not report ready"
    return proc.stdout.readline()


def test_children_of_a_sigkilled_alert_process_die_with_it(database_url: str, tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, database_url, str(tmp_path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    children: list[int] = []
    try:
        words = read_line(parent, 600).split()
        assert words[:1] == ["ready"], words
        children = children_of(parent.pid)
        assert int(words[1]) in children
        assert len(children) >= 2, "the render process and multiprocessing's resource tracker"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + patience(60)
        while (alive := [pid for pid in children if is_alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.05)  # a bounded poll of /proc: the kernel kills them on its own schedule
        assert alive == [], f"orphans left behind: {alive}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(30)
        for pid in children:  # only when the test failed: leave no orphan of ours on the machine
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_ctrl_c_in_the_terminal_does_not_kill_the_render_process() -> None:
    # Ctrl-C signals the whole foreground process group: the render process used to die of a
    # KeyboardInterrupt and print its traceback; now only the parent decides when it stops.
    from alerts.reports.worker import _render_pool, _render_process_ready, _stop_pool

    pool = _render_pool()
    try:
        pid = pool.submit(_render_process_ready).result(600)
        os.kill(pid, signal.SIGINT)
        assert pool.submit(_render_process_ready).result(120) == pid
        assert pool.submit(_render_process_ready).result(120) == pid
    finally:
        _stop_pool(pool)
