"""The dashboard in a real browser (headless Debian chromium): sign in, see the overview, an exceedance
raised through the alert path appears live within 2 s, acknowledge it, open its report, charts draw."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from alerts.lifecycle import alert_code
from alerts.reports.links import new_report_link
from alerts.reports.store import generate_report
from dashboard.app import create_app
from dashboard.display import local_time
from tests.alert_helpers import GAS, WATER
from tests.browser.world import (
    SECRET,
    Served,
    World,
    build_district_world,
    build_world,
    raise_alert,
    sign_in,
    store_readings,
    water_history,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Screenshots always go to test-artifacts/; the ones in docs/ are refreshed only on request, so a test
# run leaves the work tree clean: ENVMON_UPDATE_DOCS_SCREENSHOTS=1 pytest tests/browser
UPDATE_DOCS = os.environ.get("ENVMON_UPDATE_DOCS_SCREENSHOTS") == "1"


@pytest.fixture
def world(database_url: str) -> World:
    w = build_world(database_url)
    water_history(w, hours=24)
    return w



def _shot(page: Page, artifacts: Path, name: str, *, docs: bool = False) -> None:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if docs and UPDATE_DOCS:
        shutil.copyfile(path, DOCS / f"dashboard-{name}.png")


def test_operator_sees_a_new_alert_live_acknowledges_it_and_opens_its_report(
    world: World, browser: BrowserContext, artifacts: Path
) -> None:
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, served.url, "operator")
        expect(page.locator("#plants")).to_contain_text("T-001")
        expect(page.locator("#live")).to_have_class("live on")
        _shot(page, artifacts, "overview-quiet")

        page.goto(f"{served.url}/alerts")
        expect(page.locator("#live")).to_have_class("live on")
        started = time.monotonic()
        alert_id = raise_alert(world)
        row = page.locator(f'#queue tr[data-alert="{alert_id}"]')
        expect(row).to_be_visible(timeout=2000)
        seen_after = time.monotonic() - started
        assert seen_after < 2.0, f"the alert appeared after {seen_after:.2f} s"
        (artifacts / "live-alert-latency.json").write_text(json.dumps({"alert_in_queue_seconds": round(seen_after, 3)}))
        expect(page.locator("#toast-link")).to_contain_text("二级报警")
        # The row was drawn by the script, in the configured zone, not the browser's (Berlin).
        with psycopg.connect(world.database_url) as conn:
            opened_at = conn.execute("SELECT opened_at FROM alerts WHERE id = %s", (alert_id,)).fetchone()[0]  # type: ignore[index]
        expect(row.locator("td").nth(7)).to_have_text(local_time(opened_at, ZoneInfo("Asia/Shanghai")))
        _shot(page, artifacts, "alerts", docs=True)

        with psycopg.connect(world.database_url, autocommit=True) as conn:
            generate_report(conn, alert_id, locale="zh-CN", now=datetime.now(UTC))
        page.goto(f"{served.url}/")
        expect(page.locator('#plants tr[data-site="T-001"]')).to_have_class("status-alarm")
        _shot(page, artifacts, "overview")

        page.goto(f"{served.url}/alerts/{alert_id}")
        page.select_option("#disposition", "confirmed")
        page.fill("#ack-note", "现场核查中")
        page.click("#acknowledge")
        expect(page.locator("#alert-state")).to_have_text("已确认")
        expect(page.locator("#timeline")).to_contain_text("现场核查中")
        _shot(page, artifacts, "alert-detail", docs=True)

        page.click("#report-html")
        expect(page.locator("body")).to_contain_text(alert_code(alert_id))
        expect(page.locator("body")).to_contain_text("现场检查")
        _shot(page, artifacts, "report")

        page.goto(f"{served.url}/plants/T-001")
        chart = page.locator(f'figure.chart[data-device="{world.devices[WATER]}"][data-pollutant="w20117"]')
        # A day of minutes (one fewer when the day's first minute fell just outside the window).
        expect(chart).to_have_attribute("data-points", re.compile(r"^14(39|40|41)$"), timeout=5000)
        expect(chart.locator("canvas")).to_have_count(1)
        page.click('button[data-range="7d"]')
        expect(chart).to_have_attribute("data-points", re.compile(r"^2[456]$"), timeout=5000)
        _shot(page, artifacts, "plant", docs=True)
        # A new reading updates the latest-values table live.
        store_readings(world.database_url, [(datetime.now(UTC), world.devices[WATER], "w20117", 0.0777, "N")])
        cell = page.locator(f'#latest tr[data-device="{world.devices[WATER]}"][data-pollutant="w20117"] .value')
        expect(cell).to_have_text("0.0777", timeout=2000)
        assert not errors, errors


def test_inspector_on_a_phone_acknowledges_an_enforcement_case(
    world: World, browser: BrowserContext, artifacts: Path
) -> None:
    alert_id = raise_alert(world, WATER, "w20117", 0.5, samples=3)
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        page.set_viewport_size({"width": 390, "height": 844})
        sign_in(page, served.url, "inspector")
        page.goto(f"{served.url}/alerts/{alert_id}")
        page.select_option("#disposition", "enforcement_case")
        page.dblclick("#acknowledge")  # a thumb taps twice: the form goes once (app.js), nothing says "forbidden"
        expect(page.locator("#alert-state")).to_have_text("已确认")
        expect(page.locator("#alert")).to_contain_text("立案查处")
        expect(page.locator("#action-error")).to_have_count(0)
        with psycopg.connect(world.database_url) as conn:
            acks = conn.execute("SELECT count(*) FROM alert_events WHERE alert_id = %s AND to_state = 'acknowledged'",
                                (alert_id,)).fetchone()
        assert acks == (1,)
        _shot(page, artifacts, "phone", docs=True)


def test_language_switch_to_english_in_the_browser(world: World, browser: BrowserContext, artifacts: Path) -> None:
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        sign_in(page, served.url, "admin")
        page.click("#switch-locale")
        expect(page.locator("header nav")).to_contain_text("Overview")
        page.goto(f"{served.url}/health")
        expect(page.locator("h1")).to_contain_text("Device health")
        _shot(page, artifacts, "health-en", docs=True)


def test_district_overview_map_shows_every_plant_coloured_by_its_state(
    database_url: str, browser: BrowserContext, artifacts: Path
) -> None:
    world = build_district_world(database_url)
    raise_alert(world, "310120CH001S01", "s01001", 60.0)  # combustible gas above level 2
    raise_alert(world, "310120EP001W01", "w20117", 0.5, samples=3)  # Cr(VI) five times its limit
    raise_alert(world, "310120EP002W01", "w20117", 0.09, samples=3)  # Cr(VI) near its limit: pre-warning
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        sign_in(page, served.url, "operator")
        expect(page.locator("#district-map a.tile")).to_have_count(56)
        expect(page.locator('#district-map a[data-site="FX-CH-001"]')).to_have_class("tile status-alarm")
        expect(page.locator('#district-map a[data-site="FX-EP-002"]')).to_have_class("tile status-warning")
        expect(page.locator('#district-map a[data-site="FX-CH-004"]')).to_have_class("tile status-fault")
        # A new alert changes its plant's colour on the open map, live. Cr(VI) readings at five times GB 21900's
        # daily-mean limit are a pre-warning until the day's mean is judged (issue 16): amber, not red.
        expect(page.locator('#district-map a[data-site="FX-EP-003"]')).to_have_class("tile status-ok")
        raise_alert(world, "310120EP003W01", "w20117", 0.5, samples=3)
        expect(page.locator('#district-map a[data-site="FX-EP-003"]')).to_have_class("tile status-warning", timeout=2000)
        _shot(page, artifacts, "district", docs=True)
        page.goto(f"{served.url}/alerts")
        _shot(page, artifacts, "district-alerts", docs=True)


def test_an_english_recipients_link_opens_the_english_report_on_a_phone(
    world: World, browser: BrowserContext, artifacts: Path
) -> None:
    alert_id = raise_alert(world)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        for locale in ("zh-CN", "en"):
            generate_report(conn, alert_id, locale=locale, now=datetime.now(UTC))
    token = new_report_link(SECRET, alert_id, now=datetime.now(UTC), ttl_seconds=3600, locale="en")
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()  # no session: the SMS link alone
        page.set_viewport_size({"width": 390, "height": 900})
        page.goto(f"{served.url}/r/{token}")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#report-pdf")).to_be_visible()
        expect(page.locator("#report-other-language")).to_have_text("中文版")
        _shot(page, artifacts, "report-link-en")
        page.click("#report-other-language")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator("#report-other-language")).to_have_text("English")
        _shot(page, artifacts, "report-link-zh")


def test_the_gas_chart_shows_level_1_and_level_2(world: World, browser: BrowserContext, artifacts: Path) -> None:
    now = datetime.now(UTC)
    store_readings(world.database_url, [(now - timedelta(minutes=m), world.devices[GAS], "s02001", 2.0 + m % 7, "N")
                                        for m in range(1, 120)])
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        sign_in(page, served.url, "inspector")
        page.goto(f"{served.url}/plants/T-001")
        chart = page.locator(f'figure.chart[data-device="{world.devices[GAS]}"][data-pollutant="s02001"]')
        expect(chart.locator("canvas")).to_have_count(1, timeout=5000)
        expect(chart.locator('li[data-kind="level1"]')).to_have_text("一级报警 6.6")
        expect(chart.locator('li[data-kind="level2"]')).to_have_text("二级报警 13.2")
        chart.scroll_into_view_if_needed()
        chart.screenshot(path=str(artifacts / "plant-gas-levels.png"))
