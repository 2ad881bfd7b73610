"""Strict reading of envmon's TOML files (policy, registry, scenario): every problem named by its key.

Each file kind keeps its own model and error type; this module turns TOML syntax errors, unreadable
files and pydantic validation errors into the `problems` list those errors carry.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from envmon.errors import EnvmonError

# Builds a file kind's error from the file's name and the list of its problems.
ErrorFactory = Callable[[str, list[str]], EnvmonError]
# Renders a pydantic error location as the file's reader sees it (the parsed data is there for names).
Where = Callable[[tuple[Any, ...], dict[str, Any]], str]


def read_toml(text: str, source: str, error: ErrorFactory) -> dict[str, Any]:
    """The parsed TOML text; `error` naming the line when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(source, [f"not valid TOML: {exc}"]) from exc


def read_text_file(path: Path, error: ErrorFactory) -> str:
    """The UTF-8 text of `path`; `error` saying why when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), [f"cannot read: {exc.strerror}"]) from exc


def key_path(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """A location as keys joined by dots and list positions in brackets: `incidents[2].kind`."""
    text = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    return text or "(file)"


def validation_problems(exc: ValidationError, data: dict[str, Any], where: Where = key_path) -> list[str]:
    """One `where: message` line per pydantic error; keys the model does not know read `unknown key`."""
    problems = []
    for err in exc.errors():
        # Drop pydantic's internal tags (e.g. a validator name) that are not keys of the file.
        loc = tuple(p for p in err["loc"] if isinstance(p, int) or not str(p).startswith("function-"))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        problems.append(f"{where(loc, data)}: {msg}")
    return problems
