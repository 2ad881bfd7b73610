"""The demo's stuck and silent sensors (issue 18): the demo scenario's own samples for its first minutes, judged by
the real alert processor with the demo policy, show in Chromium as a stuck-value and a no-data alert in both
locales. Time is compressed the way the engine allows (it takes `now` as an argument): the scenario is placed
six minutes in the past and the processor steps through it, so the test does not wait the five minutes the demo
does (`envmon demo` itself is looked at in test_demo_alive_browser.py)."""

from __future__ import annotations

import asyncio
import math
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from playwright.sync_api import BrowserContext, expect

from alerts.processor import AlertProcessor
from alerts.rules.policy import load_policy_file
from dashboard.app import create_app
from device_sim.clock import SimClock
from device_sim.engine import Simulation
from device_sim.plans import build_plans
from device_sim.samples import Action, Sample
from device_sim.scenario import load_scenario
from device_sim.stats import Stats
from envmon.columns import ReadingColumns
from envmon.registry.load import load_registry_file
from envmon_app.demo import DEMO_POLICY
from tests.browser.test_dashboard_look import SCREENSHOTS, UPDATE_DOCS
from tests.browser.world import Served, World, build_district_world, sign_in, store_readings
from tests.conftest import EXAMPLE_REGISTRY

STUCK, SILENT = "310120EP004W01", "310120CH011W01"  # the demo scenario's stuck Cr(VI) sensor and offline analyser
MINUTES = 6  # the demo policy alerts on both within five minutes of the scenario's start
STEP_SECONDS = 10


class _Kept:
    """A device link that keeps what the device sends (the MQTT and HJ 212 transports are tested elsewhere)."""

    def __init__(self, out: list[Sample]) -> None:
        self.out = out

    def deliver(self, action: Action, sample: Sample) -> None:
        if action == "send":
            self.out.append(sample)

    def malformed(self, sample: Sample, count: int) -> None:
        """The demo has no malformed bursts on these two devices."""

    def set_online(self, online: bool) -> None:
        """Going offline is the absence of samples here."""

    def backlog(self) -> int:
        return 0


def _demo_samples(start_s: float, end_s: float) -> list[Sample]:
    """What the two devices send under the demo scenario from `start_s` to `end_s` (epoch seconds)."""
    plans = build_plans(load_registry_file(EXAMPLE_REGISTRY), 0, (STUCK, SILENT))
    sent: list[Sample] = []
    sim = Simulation(plans, load_scenario("demo"), [_Kept(sent) for _ in plans], SimClock(start_s, math.inf), Stats(),
                     end_s=end_s)
    # Its own thread: Playwright's sync API keeps an event loop running in this one.
    runner = threading.Thread(target=asyncio.run, args=(sim.run(asyncio.Event()),))
    runner.start()
    runner.join()
    factors = {p.mn: dict(zip(p.codes, p.protocol_factor.tolist(), strict=True)) for p in plans}
    # Canonical units, as ingest stores them (the devices send protocol units).
    return [Sample(s.device, s.seq, s.time_s, s.codes,
                   tuple(v * factors[s.device][c] for c, v in zip(s.codes, s.values, strict=True)), s.flags)
            for s in sent]


def _step_through(database_url: str, processor: AlertProcessor, devices: dict[str, int], samples: list[Sample],
                  start: datetime, end: datetime) -> None:
    """Store and evaluate the samples in time order, ticking the processor's timers every STEP_SECONDS."""
    at = start
    while at <= end:
        due = [s for s in samples if at - timedelta(seconds=STEP_SECONDS) < s.time <= at]
        rows = [(s.time, devices[s.device], code, value, flag) for s in due
                for code, value, flag in zip(s.codes, s.values, s.flags, strict=True)]
        if rows:
            store_readings(database_url, rows)
            processor.evaluate(ReadingColumns.from_rows(
                [(t, d, p, "instant", v, f, i, t) for i, (t, d, p, v, f) in enumerate(rows)]), at)
        processor.tick(at)
        at += timedelta(seconds=STEP_SECONDS)


def _judge(world: World, samples: list[Sample], start: datetime, end: datetime) -> dict[tuple[str, str], tuple[int, datetime]]:
    """Run the real alert processor with the demo policy over the samples; the two devices' alerts (id, opened)."""
    processor = AlertProcessor(world.settings, load_policy_file(DEMO_POLICY))
    try:
        processor.connect()
        _step_through(world.database_url, processor, world.devices, samples, start, end)
    finally:
        processor.close()
    with psycopg.connect(world.database_url) as conn:
        return {(mn, rule): (alert_id, at) for alert_id, mn, rule, at in conn.execute(
            "SELECT a.id, d.mn, a.rule, a.opened_at FROM alerts a JOIN devices d ON d.id = a.device_id"
            " WHERE d.mn = ANY(%s)", ([STUCK, SILENT],))}


def test_the_demo_scenarios_stuck_and_silent_sensors_alert_within_minutes_and_show_in_both_locales(
    database_url: str, browser: BrowserContext, artifacts: Path
) -> None:
    world = build_district_world(database_url)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(minutes=MINUTES)
    samples = _demo_samples(start.timestamp(), end.timestamp())
    assert {s.device for s in samples} == {STUCK, SILENT}
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        sign_in(page, served.url, "operator", "zh-CN")
        page.goto(f"{served.url}/alerts")
        expect(page.locator("#queue")).to_be_visible()
        opened = _judge(world, samples, start, end)  # while the queue is open: the rows arrive live (app.js)
        # The other devices of the district send nothing here (they would in the demo): only these two are judged.
        assert set(opened) == {(STUCK, "constant"), (SILENT, "silent")}, opened
        # After the stuck value starts (90 s) and the outage (120 s), within the first five minutes of the scenario.
        stuck_id, stuck_at = opened[(STUCK, "constant")]
        silent_id, silent_at = opened[(SILENT, "silent")]
        assert start + timedelta(seconds=90) < stuck_at <= start + timedelta(minutes=5), (start, opened)
        assert start + timedelta(seconds=120) < silent_at <= start + timedelta(minutes=5), (start, opened)
        (artifacts / "demo-faults.txt").write_text(f"scenario start {start}: {opened}\n")
        for locale, stuck_word, silent_word in (("zh-CN", "六价铬 · 数值长时间不变", "设备无数据"),
                                                ("en", "Hexavalent chromium · constant value", "silent device")):
            if locale == "en":  # the second locale from the server's page (the first was drawn live by app.js)
                page.context.clear_cookies()
                sign_in(page, served.url, "operator", locale)
                page.goto(f"{served.url}/alerts")
            # The queue says what is wrong with each device: never "*", the code for every pollutant.
            expect(page.locator(f'#queue tr[data-alert="{stuck_id}"] td[data-label]').nth(5)).to_have_text(stuck_word)
            expect(page.locator(f'#queue tr[data-alert="{silent_id}"] td[data-label]').nth(5)).to_have_text(silent_word)
            shot = artifacts / f"demo-faults-queue-{locale}.png"
            page.screenshot(path=str(shot))
            if UPDATE_DOCS:  # docs/screenshots: the queue with device alerts (the walk's world has none)
                shutil.copyfile(shot, SCREENSHOTS / f"alerts-device-faults-{locale}-1400.png")
            for alert_id, word in ((stuck_id, stuck_word), (silent_id, silent_word)):
                page.goto(f"{served.url}/alerts/{alert_id}")
                expect(page.locator("main")).to_contain_text(word.split(" · ")[-1])
