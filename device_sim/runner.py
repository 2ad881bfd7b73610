"""A simulator run: registry and scenario in, device links up, the simulation, progress, a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from device_sim.clock import SimClock
from device_sim.engine import DeviceLink, Simulation
from device_sim.errors import SimError
from device_sim.hj212_logger import Hj212Logger
from device_sim.mqtt_device import MqttDevice
from device_sim.plans import DevicePlan, build_plans
from device_sim.scenario import Scenario, check_scenario, load_scenario
from device_sim.stats import Progress, Stats
from envmon.protocols.hj212.times import CST
from envmon.registry.load import load_registry_file
from envmon.settings import Settings
from envmon.stack.mosquitto import device_secret

log = logging.getLogger(__name__)
DRAIN_SECONDS = 15.0
# Without a duration, an accelerated run replays this much simulated time, ending at the real clock.
DEFAULT_ACCELERATED_SECONDS = 3600.0


@dataclass(frozen=True)
class RunOptions:
    """What to simulate and how fast."""

    registry_path: Path
    scenario: str = "demo"
    seed: int = 0
    speed: float = 1.0  # math.inf: backfill
    start: datetime | None = None
    duration_seconds: float | None = None
    devices: tuple[str, ...] | None = None
    mqtt: bool = True
    hj212: bool = True
    # How long the transports may take to deliver what is queued once the simulation ends (math.inf: until they
    # are done or `stop` is set; the backfill does so, its own watchdog ending a transport that stalls).
    drain_seconds: float = DRAIN_SECONDS


def time_window(options: RunOptions, scenario: Scenario, now: datetime) -> tuple[float, float | None]:
    """Simulated start and end (epoch seconds): accelerated runs end at the real clock unless told."""
    duration = options.duration_seconds or scenario.duration_seconds
    if math.isinf(options.speed) and (options.start is None or duration is None):
        raise SimError("backfill needs --start and --duration-seconds (or a scenario duration)")
    if options.start is not None:
        start = options.start.timestamp()
    elif options.speed > 1:
        duration = duration or DEFAULT_ACCELERATED_SECONDS
        start = math.floor(now.timestamp() - duration + duration / options.speed)
    else:
        start = math.floor(now.timestamp())  # devices sample on whole seconds
    return start, (start + duration if duration else None)


def mqtt_endpoint(settings: Settings) -> tuple[str, int]:
    """Host and port of the broker in the settings' MQTT URL."""
    parts = urlsplit(settings.require_mqtt_url())
    return parts.hostname or "127.0.0.1", parts.port or 1883


class SimRunner:
    """Builds the plans and links of a run, then runs it."""

    def __init__(self, settings: Settings, options: RunOptions, progress: Callable[[str], None] | None = None):
        self.settings = settings
        self.options = options
        self.progress = progress
        registry = load_registry_file(options.registry_path)
        self.scenario = load_scenario(options.scenario)
        check_scenario(self.scenario, registry, options.scenario)
        transports = {t for t, on in (("mqtt", options.mqtt), ("hj212", options.hj212)) if on}
        unknown = sorted(set(options.devices or ()) - {d.mn for d in registry.file.devices})
        if unknown:
            raise SimError(f"not in {options.registry_path}: {', '.join(unknown)}")
        self.plans = [p for p in build_plans(registry, options.seed, options.devices) if p.transport in transports]
        self.stats = Stats()
        self.simulation: Simulation | None = None
        self.unsent = 0  # messages and frames still queued in the transports when the run ended (not delivered)

    def _links(self) -> tuple[list[DeviceLink], list[MqttDevice], list[Hj212Logger]]:
        """One link per plan, in plan order, and the same links split by transport."""
        links = [self._link(plan) for plan in self.plans]
        mqtt_devices = [link for link in links if isinstance(link, MqttDevice)]
        loggers = [link for link in links if isinstance(link, Hj212Logger)]
        return list(links), mqtt_devices, loggers

    def _link(self, plan: DevicePlan) -> MqttDevice | Hj212Logger:
        if plan.transport == "hj212":
            return Hj212Logger(plan.mn, plan.hj212_password or "", plan.system_code, self.settings.hj212_host,
                               self.settings.hj212_port, self.stats, is_flue_gas=plan.kind == "cems")
        host, port = mqtt_endpoint(self.settings)
        secret = device_secret(self.settings.require_secret(), plan.mn)
        return MqttDevice(plan.mn, secret, host, port, self.stats)

    async def run(self, stop: asyncio.Event) -> Stats:
        """Run until the scenario's end or `stop`; then drain and disconnect."""
        start_s, end_s = time_window(self.options, self.scenario, datetime.now(UTC))
        links, mqtt_devices, loggers = self._links()
        inner_stop = asyncio.Event()
        logger_tasks = [asyncio.create_task(lg.run(inner_stop)) for lg in loggers]
        for device in mqtt_devices:
            device.start()
        clock = SimClock(start_s, self.options.speed)
        self.simulation = Simulation(self.plans, self.scenario, links, clock, self.stats, end_s=end_s)
        reporter = asyncio.create_task(self._report(stop))
        try:
            await self.simulation.run(stop)
            await self._drain(links, stop)
        finally:
            self.unsent = self.backlog()
            reporter.cancel()
            inner_stop.set()
            await asyncio.gather(*logger_tasks, return_exceptions=True)
            await asyncio.gather(*(asyncio.to_thread(d.close) for d in mqtt_devices))
        return self.stats

    def backlog(self) -> int:
        """Messages and frames the transports have not yet delivered (or seen acknowledged)."""
        return sum(link.backlog() for link in self.simulation.links) if self.simulation else 0

    async def _drain(self, links: list[DeviceLink], stop: asyncio.Event) -> None:
        """Give transports time to deliver what is queued."""
        deadline = time.monotonic() + self.options.drain_seconds
        while time.monotonic() < deadline and not stop.is_set() and any(link.backlog() for link in links):
            await asyncio.sleep(0.1)

    def sim_time_text(self) -> str:
        """The simulated time now, in China Standard Time, for the progress line."""
        now_s = self.simulation.sim_now_s if self.simulation else time.time()
        return datetime.fromtimestamp(now_s, CST).strftime("%Y-%m-%d %H:%M:%S")

    async def _report(self, stop: asyncio.Event) -> None:
        if self.progress is None:
            return
        progress = Progress(self.stats)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            self.progress(progress.line(self.sim_time_text()))
