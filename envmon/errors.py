"""The envmon error tree; third-party exceptions are converted to these at module boundaries.

EnvmonError
 +-- ConfigError        settings missing, invalid or unsafe
 |    +-- PortInUseError a port the settings name is taken by another process
 +-- ComponentError     a component of a running service failed (the others were stopped)
 +-- StackError         the local PostgreSQL/Mosquitto launcher failed
 +-- MigrationError     a migration failed or an applied file was changed
 +-- CatalogueError     unknown pollutant or unit
 +-- FileProblemsError  a file envmon reads is invalid (carries every problem found, each with where it is)
 |    +-- RegistryError  a registry file
 |    +-- ScenarioError  device_sim/errors.py: a scenario file (also a SimError)
 +-- IngestError        ingest/errors.py: a message refused, a batch not written, a service thread died
 |    +-- HJ212Error     ingest/hj212/errors.py: a frame or field of the HJ 212 protocol is invalid
 +-- AlertsError        alerts/errors.py: service, replay input, engine state, lifecycle, SMS send, reports
 +-- DashboardError     dashboard/errors.py: request errors (401/403/404/409/400), users, administration
 +-- SimError           device_sim/errors.py: scenario files

Kept outside on purpose: ValueError raised inside pydantic validators (registry and catalogue models,
settings; pydantic turns them into its ValidationError, which the loaders convert to RegistryError or
ConfigError), `Reading.__post_init__`'s invariant checks, and programming errors (a wrong argument).
"""

from __future__ import annotations


class EnvmonError(Exception):
    """Base of every error envmon raises on purpose."""


class ConfigError(EnvmonError):
    """Settings are missing, invalid or unsafe for this environment."""


class PortInUseError(ConfigError):
    """A TCP port envmon was told to listen on is already taken."""


class ComponentError(EnvmonError):
    """A component of a running service failed; the others were stopped."""


class StackError(EnvmonError):
    """The local stack (PostgreSQL, Mosquitto) could not be started, stopped or reached."""


class MigrationError(EnvmonError):
    """A migration failed, or an already applied migration file was changed."""


class CatalogueError(EnvmonError):
    """A pollutant code or unit is not in the catalogue."""


class FileProblemsError(EnvmonError):
    """A file envmon reads is invalid; `problems` lists each one with where it is (envmon/strict_toml.py)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{listing}")


class RegistryError(FileProblemsError):
    """A registry file is invalid; `problems` lists each one with where it is."""
