"""`envmon demo`: the whole platform in one process on the local stack with the example district.

The composition lives here, above the features: ingest hands its batches straight to the alert service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from alerts.service import AlertService
from alerts.watchdog import Watchdog
from dashboard.service import DashboardService, create_demo_users
from device_sim.backfill import BUDGET_SECONDS
from device_sim.service import SimService
from envmon.db import connect, redact_url
from envmon.errors import ConfigError
from envmon.health import HealthReporter
from envmon.migrate import migrate
from envmon.ports import demo_ports, require_free_ports
from envmon.registry.service import apply_registry_file
from envmon.registry.store import registry_summary, sync_catalogue
from envmon.runtime import Component, run_components
from envmon.settings import Settings, load_settings
from envmon.stack import launcher
from envmon.stack.processes import free_port
from ingest.service import IngestService

log = logging.getLogger(__name__)
DEFAULT_REGISTRY = Path(__file__).resolve().parent.parent / "examples" / "fengxian.toml"
DEMO_POLICY = DEFAULT_REGISTRY.parent / "demo-policy.toml"


def with_demo_policy(settings: Settings) -> Settings:
    """The demo's settings: its own engine policy (stuck and silent sensors alert within minutes) unless one is set."""
    if settings.alerts_policy_file is not None:
        return settings
    return settings.model_copy(update={"alerts_policy_file": DEMO_POLICY})


def with_known_hj212_port(settings: Settings, pick: Callable[[], int] = free_port) -> Settings:
    """The settings with a real HJ 212 port: with 0 the gateway would listen where the simulator's loggers, which
    dial `hj212_port`, never look (they queued their frames until the backfill gave up)."""
    if settings.hj212_port != 0:
        return settings
    return settings.model_copy(update={"hj212_port": pick()})


def policy_line(path: Path, *, silent_seconds: float, constant_samples: int) -> str:
    """The banner line that says which policy runs and what it makes of silent and stuck sensors."""
    return (f"  policy     {path.name}: a device is silent after {silent_seconds:g} s, a sensor stuck after "
            f"{constant_samples} equal values")


def stored_readings(settings: Settings) -> tuple[int, str] | None:
    """(how many real-time readings, since when) an earlier run left in the database; None on a fresh one."""
    # Real-time readings only, the ones the backfill's line counts: the HJ 212 loggers' minute and hour means are
    # rows of their own (a count of every row said 173,198 where the backfill had delivered 110,376 readings). The
    # count includes the oxygen-corrected values ingest derives for flue gas (5,040 more for the example week).
    with connect(settings) as conn:
        row = conn.execute("SELECT count(*), min(time) FROM (SELECT time FROM readings WHERE basis = 'instant'"
                           " LIMIT 10000000) r").fetchone()
    if row is None or not row[0]:
        return None
    return int(row[0]), row[1].astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")


def backfill_wanted(earlier: tuple[int, str] | None, *, enabled: bool) -> bool:
    """A fresh database gets a week of history before going live; an earlier run's data is reused instead."""
    return enabled and earlier is None


def _say(line: str) -> None:
    print(line, flush=True)


class AfterLive:
    """A component started once the simulated district reports in real time: the demo's watchdog. During the
    backfill a device sends its week in a few large store-and-forward messages, minutes apart, and whole districts
    would look silent (a platform fault paged at every fresh start)."""

    def __init__(self, inner: Watchdog, live: asyncio.Event) -> None:
        self.inner = inner
        self.name = inner.name
        self.live = live

    @property
    def failure(self) -> str | None:
        """Why the inner component stopped, if it failed."""
        return self.inner.failure

    async def run(self, stop: asyncio.Event) -> None:
        """Wait for the district to go live (or `stop`), then run the inner component until `stop`."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.live.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if not stop.is_set():
            await self.inner.run(stop)


def demo_components(settings: Settings, registry_path: Path, *, backfill: bool = False,
                    backfill_seconds: float = BUDGET_SECONDS) -> list[Component]:
    """Every component in one process: the alert engine hears ingest's batches directly (no bus)."""
    settings = settings.model_copy(update={"ingest_publish_batches": False})
    alerts = AlertService(settings)
    ingest = IngestService(settings, hj212=True, subscribers=[alerts])
    sim = SimService(settings, registry_path=registry_path, scenario="demo", backfill=backfill, say=_say,
                     stored=ingest.readings_stored, backfill_seconds=backfill_seconds)
    return [ingest, alerts, sim, DashboardService(settings), HealthReporter(settings),
            AfterLive(Watchdog(settings), sim.live)]


def run_demo(
    settings: Settings, *, registry_path: Path | None, keep_stack: bool, duration_seconds: float | None,
    backfill: bool = True, backfill_seconds: float = BUDGET_SECONDS,
) -> int:
    """Set everything up, print a summary, run until interrupted, then shut down cleanly."""
    require_free_ports(demo_ports(settings))  # before anything starts: a busy port is named, nothing to undo
    external = bool(settings.database_url and settings.mqtt_url) and launcher.read_state(settings.state_dir) is None
    started_stack = False
    if not external:
        was_running = launcher.status(settings.state_dir).get("postgres", {}).get("running", False)
        launcher.up(settings.state_dir, timescaledb=settings.timescaledb)
        started_stack = not was_running
        settings = load_settings(environment="demo", state_dir=settings.state_dir)
    settings.require_secret()
    settings = with_known_hj212_port(with_demo_policy(settings))
    try:
        registry_path = registry_path or DEFAULT_REGISTRY
        banner, earlier = _prepare(settings, registry_path, backfill=backfill)
        components = demo_components(settings, registry_path, backfill=backfill_wanted(earlier, enabled=backfill),
                                     backfill_seconds=backfill_seconds)
        print(
            "\n".join(
                [*banner, f"  running    {', '.join(c.name for c in components)}", "  Press Ctrl-C to stop.", ""]
            ),
            flush=True,
        )
        asyncio.run(run_components(components, duration_seconds=duration_seconds))
        failed = [f"{c.name}: {why}" for c in components if (why := getattr(c, "failure", None))]
    finally:
        if started_stack and not keep_stack:
            print("stopping the local stack ...", flush=True)
            launcher.down(settings.state_dir)
    if failed:  # a component whose thread died stopped the demo: say so and exit non-zero
        print("envmon demo stopped: " + "; ".join(failed), flush=True)
        return 1
    print("envmon demo stopped.")
    return 0


# The banner counts table rows: limits are stored one row per plant, pollutant and basis (presets expanded),
# which is what `registry check` calls "limit rows"; the engine logs how many of them meet a device.
SUMMARY_WORDS = {"limits": "limit rows", "escalation_chains": "escalation chains"}


def _data_line(earlier: tuple[int, str] | None, settings: Settings, *, backfill: bool) -> str:
    if earlier is None:
        if backfill:
            return "  data       a fresh database: backfilling the past week through ingest before going live"
        return "  data       a fresh database (--no-backfill: no history)"
    return (f"  data       reusing {earlier[0]:,} real-time readings (with derived oxygen-corrected values) of an "
            f"earlier run (from {earlier[1]}), no backfill; remove {settings.state_dir} after `envmon stack down` "
            "to start afresh")


def _policy_banner(settings: Settings) -> str:
    from alerts.rules.policy import load_policy_file

    path = settings.alerts_policy_file or DEMO_POLICY
    policy = load_policy_file(path)
    return policy_line(path, silent_seconds=policy.silent.min_seconds, constant_samples=policy.constant.samples)


def summary_text(summary: dict[str, int]) -> str:
    """The registry's row counts as the banner says them."""
    return ", ".join(f"{count} {SUMMARY_WORDS.get(table, table)}" for table, count in summary.items())


def _prepare(settings: Settings, registry_path: Path, *, backfill: bool) -> tuple[list[str], tuple[int, str] | None]:
    """Migrate and load the registry; return the banner's lines and what an earlier run left."""
    if not registry_path.is_file():
        raise ConfigError(f"registry file {registry_path} not found")
    result = migrate(settings.require_database_url(), settings.migrations_dir, timescaledb=settings.timescaledb)
    with connect(settings) as conn:
        sync_catalogue(conn)
    earlier = stored_readings(settings)
    applied = apply_registry_file(settings, registry_path, actor="demo")
    with connect(settings) as conn:
        summary = registry_summary(conn)
    logins = applied.broker_logins
    users = create_demo_users(settings)
    url = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
    return ([
        "",
        "envmon demo",
        f"  database   {redact_url(settings.require_database_url())} ({result.flavour})",
        f"  broker     {redact_url(settings.require_mqtt_url())}",
        f"  registry   {registry_path.name}: {summary_text(summary)}",
        f"  devices    {logins if logins is not None else 'external'} MQTT device logins on the broker",
        f"  locale     {settings.locale}, times shown in {settings.timezone}",
        _data_line(earlier, settings, backfill=backfill),
        _policy_banner(settings),
        f"  dashboard  {url}  (sign in as one of these demo users)",
        *(f"             {name:<12} {role:<10} {password}" for name, role, password in users),
        f"  alerts     http://{settings.alerts_http_host}:{settings.alerts_http_port} (metrics, Twilio webhooks);"
        " SMS are printed here (no Twilio account configured)" if not settings.twilio_account_sid else
        f"  alerts     http://{settings.alerts_http_host}:{settings.alerts_http_port}; SMS through Twilio",
    ], earlier)
