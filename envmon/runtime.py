"""Running components side by side in one process (the embedded default) with a clean shutdown.

A component is an object with a `name` and `async run(stop)` that returns once `stop` is set.
`envmon demo` runs every component that exists; each issue adds its own to `demo_components`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Protocol

from envmon.errors import ComponentError

log = logging.getLogger(__name__)


class Component(Protocol):
    """Something that runs until asked to stop."""

    name: str

    async def run(self, stop: asyncio.Event) -> None: ...


STOP_SECONDS = 30.0  # how long the components may take to stop once asked


async def run_components(components: Sequence[Component], *, duration_seconds: float | None = None) -> None:
    """Run the components until SIGINT/SIGTERM, the duration, or one of them fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration_seconds is not None:
        loop.call_later(duration_seconds, stop.set)
    tasks = {asyncio.create_task(c.run(stop), name=c.name): c for c in components}
    stopper = asyncio.create_task(stop.wait())
    failed: list[str] = []
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("component %s failed: %r", task.get_name(), task.exception())
                failed.append(f"{task.get_name()}: {task.exception()}")
        stop.set()
        stopped, late = await asyncio.wait(tasks, timeout=STOP_SECONDS)
        for task in stopped:  # what one raised while stopping was never a failure of the run: fetched, not raised
            if not task.cancelled():
                task.exception()
        for task in late:  # named, not a traceback: the process still ends, non-zero
            log.error("component %s did not stop within %g s", task.get_name(), STOP_SECONDS)
            failed.append(f"{task.get_name()}: did not stop within {STOP_SECONDS:g} s")
            task.cancel()
    finally:
        stopper.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if failed:
        # The others were stopped cleanly; the process still ends non-zero, saying why.
        raise ComponentError("; ".join(failed))
