"""Database connections: one place that turns settings into psycopg connections and pools."""

from __future__ import annotations

import contextlib
import re

import psycopg
from psycopg_pool import ConnectionPool

from envmon.settings import Settings

APPLICATION_NAME = "envmon"


def connect(settings: Settings, *, autocommit: bool = False, application: str = APPLICATION_NAME) -> psycopg.Connection:
    """A single connection to the configured database."""
    return psycopg.connect(
        settings.require_database_url(), autocommit=autocommit, application_name=application, connect_timeout=10
    )


def open_pool(
    settings: Settings, *, min_size: int = 1, max_size: int = 8, application: str = APPLICATION_NAME
) -> ConnectionPool:
    """A connection pool owned by the caller's entry point (open it there, close it there)."""
    return ConnectionPool(
        settings.require_database_url(),
        min_size=min_size,
        max_size=max_size,
        open=True,
        kwargs={"application_name": application, "connect_timeout": 10},
    )


def close_quietly(conn: psycopg.Connection | None) -> None:
    """Close a connection that may be broken already (a database gone away); None is fine."""
    if conn is not None:
        with contextlib.suppress(psycopg.Error):
            conn.close()


def redact_url(url: str) -> str:
    """A URL with its password replaced by ***, for logs and banners."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
