"""The shared limit-in-force query takes its basis preference only from the known bases (it is spliced into SQL)."""

from __future__ import annotations

import pytest

from envmon.registry.in_force import limit_in_force


@pytest.mark.parametrize(
    "bases",
    [
        pytest.param((), id="none"),
        pytest.param(("week",), id="unknown-basis"),
        pytest.param(("day", "hour'); DROP TABLE limits; --"), id="text-from-outside"),  # type: ignore[arg-type]
    ],
)
def test_unknown_bases_are_refused(bases: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="bases must be some of instant, hour, day"):
        limit_in_force(bases)  # type: ignore[arg-type]

