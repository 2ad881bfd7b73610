"""add_command: a sub-command gets its summary in the parent's list, its description in --help, its handler."""

from __future__ import annotations

import argparse

import pytest

from envmon.commands import add_command
from envmon.settings import Settings


def _handler(args: argparse.Namespace, settings: Settings) -> int:
    return 7


@pytest.mark.parametrize(
    ("handler", "expected"),
    [pytest.param(_handler, _handler, id="with-handler"), pytest.param(None, None, id="group-without-handler")],
)
def test_add_command_registers_summary_description_and_handler(handler: object, expected: object) -> None:
    parser = argparse.ArgumentParser(prog="envmon")
    sub = parser.add_subparsers(dest="command")
    child = add_command(sub, "thing", "do the thing", "Does the thing, at length.", handler)  # type: ignore[arg-type]
    child.add_argument("--n", type=int)
    args = parser.parse_args(["thing", "--n", "3"])
    assert (args.command, args.n, getattr(args, "handler", None)) == ("thing", 3, expected)
    assert "do the thing" in parser.format_help()
    assert "Does the thing, at length." in child.format_help()
