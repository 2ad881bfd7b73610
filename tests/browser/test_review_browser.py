"""Data review in a real browser: an inspector marks a period that hides an exceedance, cannot approve it
themself, an operator of another plant neither sees nor touches it, a second person approves it; the KPI page
and its CSV export answer."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from dashboard.app import create_app
from tests.alert_helpers import WATER
from tests.browser.world import Served, World, build_world, raise_alert, sign_in

DOCS = Path(__file__).resolve().parents[2] / "docs"
# As in test_dashboard_browser.py: docs/ screenshots are refreshed only with ENVMON_UPDATE_DOCS_SCREENSHOTS=1.
UPDATE_DOCS = os.environ.get("ENVMON_UPDATE_DOCS_SCREENSHOTS") == "1"
CSRF_POST = """async ([url, body]) => {
  const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json',
    'X-CSRF-Token': document.body.dataset.csrf}, body: JSON.stringify(body)});
  return r.status;
}"""


@pytest.fixture
def world(database_url: str) -> World:
    return build_world(database_url)


def _shot(page: Page, artifacts: Path, name: str) -> None:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path))
    if UPDATE_DOCS:
        shutil.copyfile(path, DOCS / f"dashboard-{name}.png")



def _local(world: World, moment: datetime) -> str:
    return moment.astimezone(world.settings.zone).strftime("%Y-%m-%dT%H:%M:%S")


def _propose(page: Page, base: str, world: World, mn: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    page.goto(f"{base}/review")
    page.fill("#propose [name=device_mn]", mn)
    page.fill("#propose [name=pollutant]", "w20117")
    page.fill("#propose [name=start_at]", _local(world, now - timedelta(hours=1)))
    page.fill("#propose [name=end_at]", _local(world, now + timedelta(hours=1)))
    page.select_option("#propose [name=reason]", "invalid")
    page.fill("#propose [name=evidence]", "analyser drift found on site, photo 3")
    page.click("#propose-submit")


def test_a_mark_over_an_exceedance_waits_for_a_second_person(
    world: World, browser: BrowserContext, artifacts: Path
) -> None:
    alert_id = raise_alert(world, WATER, "w20117", 5.0, samples=3)
    # The alert opens as a warning and becomes an exceedance once held; the test does not wait for the hold.
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET severity = 'exceedance' WHERE id = %s", (alert_id,))
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        sign_in(page, served.url, "inspector")
        _propose(page, served.url, world, WATER)
        expect(page.locator("#review-done")).to_contain_text("另一人批准")
        row = page.locator("#marks tbody tr").first
        expect(row).to_have_class("mark-pending")
        expect(row.locator("button.approve")).to_have_count(0)  # never offered to the proposer
        mark_id = int(row.get_attribute("id").removeprefix("mark-"))  # type: ignore[union-attr]
        assert page.evaluate(CSRF_POST, [f"/api/review/marks/{mark_id}/approve", {"note": "mine"}]) == 409
        _shot(page, artifacts, "review-pending")

        # One browser profile holds one session: sign out before the next person signs in.
        page.click("#logout")
        other = page
        sign_in(other, served.url, "outsider")
        other.goto(f"{served.url}/review")
        expect(other.locator(f"#mark-{mark_id}")).to_have_count(0)
        assert other.evaluate(CSRF_POST, [f"/api/review/marks/{mark_id}/withdraw", {"note": "x"}]) == 404
        _propose(other, served.url, world, WATER)
        expect(other.locator("main")).to_contain_text("未找到")

        other.goto(f"{served.url}/review")
        other.click("#logout")
        second = page
        sign_in(second, served.url, "admin")
        second.goto(f"{served.url}/review")
        second.fill(f"#mark-{mark_id} form[action$='/approve'] [name=note]", "checked the drift report")
        _shot(second, artifacts, "review-four-eyes")  # the second person, about to approve
        second.click(f"#mark-{mark_id} button.approve")
        expect(second.locator("#review-done")).to_be_visible()
        expect(second.locator(f"#mark-{mark_id}")).to_have_class("mark-active")
        expect(second.locator(f"#mark-{mark_id}")).to_contain_text("checked the drift report")
        _shot(second, artifacts, "review")

        second.goto(f"{served.url}/kpi")
        expect(second.locator("#kpis")).to_contain_text(WATER)
        _shot(second, artifacts, "kpi")
        with second.expect_download() as download:
            second.click("#kpi-csv")
        text = Path(download.value.path()).read_text(encoding="utf-8-sig")
        assert text.startswith("level,key,") and WATER in text
