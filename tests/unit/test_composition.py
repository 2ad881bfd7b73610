"""The top composes the CLI: every command is registered once, in order, and each benchmark resolves to its module."""

from __future__ import annotations

import argparse
import importlib

import pytest

from envmon_app.cli import BENCHMARKS, build_parser

COMMANDS = (
    "stack", "migrate", "registry", "catalogue",  # the kernel's (envmon.commands)
    "hj212", "alerts", "watchdog", "replay", "alert", "report", "sim", "dashboard", "user", "ingest", "forward",  # features'
    "bench", "demo",  # the top's
)


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)


def test_every_command_is_registered_once_in_help_order() -> None:
    assert _commands(build_parser()) == list(COMMANDS)


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in BENCHMARKS])
def test_each_benchmark_is_a_module_of_the_benchmarks_package_with_a_main(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(module.main)
