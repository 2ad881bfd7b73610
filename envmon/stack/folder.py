"""A server's files inside its folder, each declared once by name."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class HasFolder(Protocol):
    """A server whose files live under `root`."""

    @property
    def root(self) -> Path:
        """The server's folder."""
        ...


class ServerFile:
    """A file of a server's folder as a read-only attribute: `log_file = ServerFile("postgres.log")`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, server: HasFolder, owner: type | None = None) -> Path:
        return server.root / self.name
