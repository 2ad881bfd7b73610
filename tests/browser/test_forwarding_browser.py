"""The upstream forwarding page in chromium: an administrator follows the nav link to the targets, the page reads
as cards on a phone without sideways scrolling and has no serious accessibility violation (axe-core) in either
language or width, and an operator has no link and is refused."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import BrowserContext, expect

from dashboard.app import create_app
from tests.browser.test_dashboard_look import axe_violations
from tests.browser.world import Served, build_world, sign_in
from tests.integration.test_forwarding_page import route_and_queue

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
UPDATE_DOCS = os.environ.get("ENVMON_UPDATE_DOCS_SCREENSHOTS") == "1"



def test_an_administrator_reads_the_targets_on_a_desk_and_a_phone_an_operator_is_refused(
    database_url: str, browser: BrowserContext, artifacts: Path
) -> None:
    world = build_world(database_url)
    route_and_queue(world, datetime.now(UTC))
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        for locale in ("zh-CN", "en"):
            page.context.clear_cookies()
            page.set_viewport_size({"width": 1400, "height": 900})
            sign_in(page, served.url, "admin", locale)
            page.click("header nav a[href='/forwarding']")
            page.wait_for_url(f"{served.url}/forwarding")
            province = page.locator("#targets tr[data-target='province']")
            expect(province).to_have_attribute("data-state", "connected")
            expect(province.locator("td.backlog")).to_contain_text("3")
            expect(page.locator("#targets tr[data-target='national']")).to_have_attribute("data-state", "not_reporting")
            for width, height in ((1400, 900), (390, 844)):
                page.set_viewport_size({"width": width, "height": height})
                if width == 390:  # a card per target: the labels beside the values, nothing wider than the phone
                    expect(page.locator("#targets thead")).to_have_css("position", "absolute")
                    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
                assert not axe_violations(page), (locale, width)
                name = f"forwarding-{locale}-{width}.png"
                page.screenshot(path=str(artifacts / name), full_page=True)
                if UPDATE_DOCS:
                    shutil.copyfile(artifacts / name, SCREENSHOTS / name)
        page.context.clear_cookies()
        page.set_viewport_size({"width": 1400, "height": 900})
        sign_in(page, served.url, "operator", "en")
        expect(page.locator("header nav a[href='/forwarding']")).to_have_count(0)
        response = page.goto(f"{served.url}/forwarding")
        assert response is not None and response.status == 403
