"""Forward-only SQL migrations: numbered files applied in order, each in its own transaction.

Files are `NNNN_name.sql`, or a pair `NNNN_name.timescaledb.sql` / `NNNN_name.postgres.sql` of
which the runner applies the one that fits the server (TimescaleDB available or not), so code
above this layer never checks for the extension. Each applied file is recorded with its checksum
in `schema_migrations`; a recorded file whose content changed is refused. A session advisory lock
keeps two runners from migrating at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from envmon.db import connect_url
from envmon.errors import MigrationError

log = logging.getLogger(__name__)

# pg_advisory_lock key: the first 8 bytes of sha256("envmon.migrate"), as a signed bigint.
ADVISORY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"envmon.migrate").digest()[:8], "big", signed=True)
_NAME_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<variant>timescaledb|postgres))?\.sql$")
Variant = Literal["common", "timescaledb", "postgres"]
Flavour = Literal["timescaledb", "postgres"]
# How benchmarks and notes name the database they ran on (`"flavour"` in every benchmark's JSON).
FlavourName = Literal["timescaledb", "postgresql"]

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    variant     text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One migration file chosen for this server."""

    version: int
    name: str
    variant: Variant
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class MigrationResult:
    """What a run did."""

    flavour: Flavour
    applied: list[str]
    already_applied: int

    @property
    def flavour_name(self) -> FlavourName:
        """"timescaledb" or "postgresql": the database the migrations built, as benchmarks report it."""
        return "postgresql" if self.flavour == "postgres" else "timescaledb"


def discover(folder: Path, flavour: Flavour) -> list[Migration]:
    """The migrations in folder for this flavour, in version order; bad names are errors."""
    if not folder.is_dir():
        raise MigrationError(f"no migrations folder at {folder} (set ENVMON_MIGRATIONS_DIR)")
    by_version: dict[int, dict[str, Path]] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME_RE.match(path.name)
        if not match:
            raise MigrationError(
                f"{path.name}: migration files are named NNNN_name.sql or NNNN_name.<timescaledb|postgres>.sql"
            )
        variant = match["variant"] or "common"
        slot = by_version.setdefault(int(match["version"]), {})
        if variant in slot:
            raise MigrationError(f"{path.name}: version {match['version']} already has a {variant} file")
        slot[variant] = path
    return [_choose(version, files, flavour) for version, files in sorted(by_version.items())]


def _choose(version: int, files: dict[str, Path], flavour: Flavour) -> Migration:
    if "common" in files:
        if len(files) > 1:
            raise MigrationError(f"version {version:04d}: a common file cannot have variants beside it")
        path, variant = files["common"], "common"
    elif set(files) == {"timescaledb", "postgres"}:
        path, variant = files[flavour], flavour
    else:
        raise MigrationError(f"version {version:04d}: needs both .timescaledb.sql and .postgres.sql variants")
    name = _NAME_RE.match(path.name)["name"]  # type: ignore[index]
    return Migration(version, name, variant, path)  # type: ignore[arg-type]


def detect_flavour(conn: psycopg.Connection, mode: str = "auto") -> Flavour:
    """TimescaleDB when the extension is installed, or available and preloaded; per the setting."""
    if mode == "off":
        return "postgres"
    row = conn.execute(
        """
        SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),
               EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),
               current_setting('shared_preload_libraries')
        """
    ).fetchone()
    assert row is not None
    installed, available, preload = row
    usable = bool(installed) or (bool(available) and "timescaledb" in str(preload))
    if mode == "require" and not usable:
        raise MigrationError("ENVMON_TIMESCALEDB=require but the server has no usable timescaledb extension")
    return "timescaledb" if usable else "postgres"


def migrate(
    database_url: str,
    folder: Path,
    *,
    timescaledb: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> MigrationResult:
    """Apply every pending migration under the advisory lock; refuse changed applied files."""
    say = progress or (lambda msg: log.info("%s", msg))
    try:
        with connect_url(database_url, autocommit=True, application="envmon-migrate",
                         connect_timeout_seconds=10) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            try:
                return _migrate_locked(conn, folder, timescaledb, say)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    except psycopg.Error as exc:
        raise MigrationError(f"database error while migrating: {exc}") from exc


def _migrate_locked(conn: psycopg.Connection, folder: Path, mode: str, say: Callable[[str], None]) -> MigrationResult:
    conn.execute(_BOOKKEEPING)
    recorded = {
        version: (name, variant, checksum)
        for version, name, variant, checksum in conn.execute(
            "SELECT version, name, variant, checksum FROM schema_migrations"
        )
    }
    flavour = _recorded_flavour(recorded) or detect_flavour(conn, mode)
    migrations = discover(folder, flavour)
    _refuse_changed(migrations, recorded)
    applied: list[str] = []
    for migration in migrations:
        if migration.version in recorded:
            continue
        say(f"applying {migration.path.name}")
        _apply(conn, migration)
        applied.append(migration.path.name)
    return MigrationResult(flavour, applied, len(recorded))


def _recorded_flavour(recorded: dict[int, tuple[str, str, str]]) -> Flavour | None:
    """A database keeps the flavour it was first migrated with."""
    variants = {variant for _, variant, _ in recorded.values() if variant != "common"}
    if len(variants) > 1:
        raise MigrationError(f"schema_migrations mixes variants {sorted(variants)}")
    return variants.pop() if variants else None  # type: ignore[return-value]


def _refuse_changed(migrations: list[Migration], recorded: dict[int, tuple[str, str, str]]) -> None:
    known = {m.version: m for m in migrations}
    for version, (name, _variant, checksum) in sorted(recorded.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(f"migration {version:04d}_{name} was applied but its file is missing")
        if migration.checksum != checksum:
            raise MigrationError(
                f"{migration.path.name} changed after it was applied (recorded sha256 {checksum[:12]}, "
                f"file {migration.checksum[:12]}): migrations are forward only, add a new file instead"
            )


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(migration.sql.encode())  # a trusted file, run without parameters
            conn.execute(
                "INSERT INTO schema_migrations (version, name, variant, checksum) VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name, migration.variant, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"{migration.path.name} failed and was rolled back: {exc}") from exc
