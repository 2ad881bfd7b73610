"""The simulator's error tree; paho, socket and TOML errors are converted to these at the boundary.

SimError (an EnvmonError)
 +-- ScenarioError    a scenario file is invalid (carries every problem found, each with where it is)
"""

from __future__ import annotations

from envmon.errors import EnvmonError, FileProblemsError


class SimError(EnvmonError):
    """Base of every error the simulator raises on purpose."""


class ScenarioError(SimError, FileProblemsError):
    """A scenario file is invalid; `problems` lists each one with the key or incident it concerns."""
