"""setup_logging writes to the stderr of the moment, so a replaced and closed stream cannot break later logging."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from envmon.logs import setup_logging


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_line_logged_after_the_stream_of_set_up_was_closed_goes_to_the_stderr_of_now(
    root_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging("INFO")  # a command run in-process, under the capture of one test
    logging.getLogger("envmon.test").info("during")
    first.close()  # that test's capture ends
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    monkeypatch.setattr(logging, "raiseExceptions", True)  # a failing handler prints "--- Logging error ---"
    logging.getLogger("envmon.test").info("after, from %s", "a later test")
    assert "INFO envmon.test: after, from a later test" in now.getvalue()
    assert "Logging error" not in now.getvalue()


def test_lines_are_utc_and_name_level_and_logger(root_restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    setup_logging("WARNING")
    logging.getLogger("envmon.test").info("hidden")
    logging.getLogger("envmon.test").warning("shown %d", 1)
    [line] = out.getvalue().splitlines()
    assert line.endswith("Z WARNING envmon.test: shown 1")
