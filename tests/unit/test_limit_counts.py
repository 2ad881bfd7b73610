"""The three limit counts people see (issue 18): `registry check`, the demo banner and the engine's log say
what they count, and the first two count the same limit rows."""

from __future__ import annotations

import pytest

from alerts.rules.registry import from_registry
from envmon.commands import check_summary
from envmon.registry.load import load_registry_file
from envmon.registry.store import limit_rows
from envmon_app.demo import summary_text
from tests.conftest import EXAMPLE_REGISTRY


def test_registry_check_names_entries_and_the_rows_they_become() -> None:
    registry = load_registry_file(EXAMPLE_REGISTRY)
    site_ids = {s.code: 100 + i for i, s in enumerate(registry.file.sites)}
    device_ids = {d.mn: 500 + i for i, d in enumerate(registry.file.devices)}
    rows = len(limit_rows(registry, site_ids, device_ids))
    entries = len(registry.file.limits)
    line = check_summary(EXAMPLE_REGISTRY, registry)
    assert f"{entries} limit entries ({rows} limit rows with the plants' presets)" in line
    # The engine's "device limits" are those rows matched to each device measuring the pollutant: a third
    # number, told apart by its name (the banner and check no longer print a bare "limits").
    assert rows > entries and len(from_registry(registry).limits) != rows


@pytest.mark.parametrize(("summary", "text"), [
    pytest.param({"limits": 688}, "688 limit rows", id="limits-are-rows"),
    pytest.param({"sites": 3, "escalation_chains": 2}, "3 sites, 2 escalation chains", id="other-tables"),
])
def test_demo_banner_names_what_it_counts(summary: dict[str, int], text: str) -> None:
    assert summary_text(summary) == text
