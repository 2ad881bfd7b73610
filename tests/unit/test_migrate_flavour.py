"""How a migration run names its flavour in benchmark JSON ("flavour")."""

from __future__ import annotations

import pytest

from envmon.migrate import Flavour, FlavourName, MigrationResult


@pytest.mark.parametrize(
    ("flavour", "name"),
    [
        pytest.param("postgres", "postgresql", id="plain-postgresql"),
        pytest.param("timescaledb", "timescaledb", id="timescaledb"),
    ],
)
def test_flavour_name_is_what_benchmarks_report(flavour: Flavour, name: FlavourName) -> None:
    assert MigrationResult(flavour, [], 0).flavour_name == name
