"""add_command: a sub-command's help is its handler's docstring (summary in the parent's list, the rest in
--help); add_group: a command that holds sub-commands, one of them required."""

from __future__ import annotations

import argparse

import pytest

from envmon.commands import Handler, add_command, add_group
from envmon.settings import Settings


def _long(args: argparse.Namespace, settings: Settings) -> int:
    """do the thing

    Does the thing, at length,
    over two lines.
    """
    return 7


def _short(args: argparse.Namespace, settings: Settings) -> int:
    """do the short thing"""
    return 8


@pytest.mark.parametrize(
    ("handler", "summary", "description"),
    [
        pytest.param(_long, "do the thing", "Does the thing, at length, over two lines.", id="summary-and-description"),
        pytest.param(_short, "do the short thing", None, id="summary-only"),
    ],
)
def test_add_command_takes_its_help_from_the_handler(handler: Handler, summary: str, description: str | None) -> None:
    parser = argparse.ArgumentParser(prog="envmon")
    sub = parser.add_subparsers(dest="command")
    child = add_command(sub, "thing", handler)
    child.add_argument("--n", type=int)
    args = parser.parse_args(["thing", "--n", "3"])
    assert (args.command, args.n, args.handler) == ("thing", 3, handler)
    assert summary in parser.format_help()
    assert (child.description or None) == description
    if description:
        assert description in " ".join(child.format_help().split())


def test_add_group_requires_one_of_its_sub_commands() -> None:
    parser = argparse.ArgumentParser(prog="envmon")
    sub = parser.add_subparsers(dest="command")
    actions = add_group(sub, "things", "manage things", "Things, and what to do with them.", dest="things_command")
    actions.add_parser("list")
    args = parser.parse_args(["things", "list"])
    assert (args.command, args.things_command, getattr(args, "handler", None)) == ("things", "list", None)
    assert "manage things" in parser.format_help()
    assert "Things, and what to do with them." in sub.choices["things"].format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["things"])
