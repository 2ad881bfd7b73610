"""Components stop when asked; one that does not is named, and the run ends non-zero without a traceback."""

from __future__ import annotations

import asyncio

import pytest

from envmon import runtime
from envmon.errors import EnvmonError
from envmon.runtime import run_components


class Polite:
    name = "polite"

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()


class Deaf:
    """Ignores `stop` (a thread still busy with minutes of work, as the alert engine's catch-up was)."""

    name = "deaf"

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.sleep(3600)


def test_a_component_that_does_not_stop_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "STOP_SECONDS", 0.2)
    with pytest.raises(EnvmonError, match="deaf: did not stop within 0.2 s") as raised:
        asyncio.run(run_components([Polite(), Deaf()], duration_seconds=0.05))
    assert "polite" not in str(raised.value)


def test_components_that_stop_end_the_run_cleanly() -> None:
    asyncio.run(run_components([Polite(), Polite()], duration_seconds=0.05))
