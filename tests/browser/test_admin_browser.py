"""Administration and export in headless Debian chromium (issue 18): an escalation chain is edited through its
page at phone width (360 px, nothing runs off the page) and on a desk, a refused edit says why; the edit pages
and the administration page pass axe-core in both languages; the export page downloads CSV and XLSX."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from playwright.sync_api import BrowserContext, Page, expect

from dashboard.app import create_app
from tests.alert_helpers import WATER
from tests.browser.test_dashboard_look import axe_violations
from tests.browser.world import Served, World, build_world, sign_in, store_readings

EDIT_PAGES = {"chain": "/admin/chains/pollution/edit", "device": f"/admin/devices/{WATER}/edit",
              "recipient": "/admin/recipients/insp-a/edit", "limit": "/admin/limits/1/edit", "admin": "/admin"}


def _overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: nothing runs off to the side)."""
    width: int = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    return width


def _steps(database_url: str) -> list[tuple[str, int, int]]:
    with psycopg.connect(database_url) as conn:
        return [(r[0], int(r[1]), int(r[2])) for r in conn.execute(
            "SELECT r.code, s.position, s.delay_seconds FROM escalation_steps s JOIN escalation_chains c"
            " ON c.id = s.chain_id JOIN recipients r ON r.id = s.recipient_id WHERE c.code = 'pollution'"
            " ORDER BY s.position, r.code")]


def test_an_escalation_chain_is_edited_on_a_phone_and_its_form_stays_on_the_page(
    database_url: str, browser: BrowserContext, artifacts: Path
) -> None:
    world = build_world(database_url)
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        page.set_viewport_size({"width": 360, "height": 780})
        sign_in(page, served.url, "admin", "en")
        page.goto(served.url + "/admin")
        assert _overflow(page) <= 0
        # On a phone the page is a list of folded sections (it ran to 9,000 px); one tap opens one.
        assert page.evaluate("() => document.documentElement.scrollHeight") <= 2 * 780
        assert page.locator("details.fold[open]").count() == 0
        page.click("#chains > details.fold > summary")
        page.click('#chains a[href="/admin/chains/pollution/edit"]')
        expect(page.locator("h1")).to_contain_text("pollution")
        assert _overflow(page) <= 0
        steps = page.get_by_label("Steps")  # found by its visible label, as a person finds it
        expect(steps).to_be_visible()
        steps.fill("insp-a:0\nnobody:60")
        page.click("#save")
        expect(page.locator("#admin-error")).to_contain_text("Unknown recipients: nobody")
        expect(steps).to_have_value("insp-a:0\nnobody:60")  # what was typed comes back to be corrected
        assert _steps(database_url) == [("insp-a", 0, 0), ("lead-c", 1, 3)]
        steps.fill("insp-a:0\nlead-c+safety-b:900")
        page.get_by_label("Repeat interval (s)").fill("1800")
        page.screenshot(path=str(artifacts / "admin-chain-edit-en-360.png"), full_page=True)
        page.click("#save")
        page.wait_for_url(f"{served.url}/admin#chains")  # back at the chains, open
        expect(page.locator('#chains tr:has(code:text-is("pollution")) td.steps')).to_be_visible()
        expect(page.locator('#chains tr:has(code:text-is("pollution")) td.steps')).to_have_text("insp-a:0, lead-c+safety-b:900")
        # The audit log says what happened in words, as a card on the phone; a device is deactivated with one tap.
        page.click("#audit > details.fold > summary")
        expect(page.locator("#audit tbody tr").first.locator("td.audit-what")).to_have_text("escalation chain · changed")
        page.click("#devices > details.fold > summary")
        page.locator("#devices details:not(.fold) > summary").click()
        page.locator(f'#devices tr:has(td:text-is("{WATER}")) button.deactivate').click()
        page.wait_for_url(f"{served.url}/admin#devices")
        page.click("#audit > details.fold > summary")
        expect(page.locator("#audit tbody tr").first.locator("td.audit-what")).to_have_text("device · deactivated")
        assert page.locator("#audit tbody tr").first.evaluate("el => getComputedStyle(el).display") == "block"
        assert _overflow(page) <= 0
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(served.url + "/admin/chains/pollution/edit")
        assert _overflow(page) <= 0
        page.screenshot(path=str(artifacts / "admin-chain-edit-en-1400.png"), full_page=True)
    assert _steps(database_url) == [("insp-a", 0, 0), ("lead-c", 1, 900), ("safety-b", 1, 900)]


def test_the_edit_pages_pass_axe_in_both_languages_and_widths(
    database_url: str, browser: BrowserContext, artifacts: Path
) -> None:
    world = build_world(database_url)
    problems: dict[str, object] = {}
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        for locale in ("zh-CN", "en"):
            page.context.clear_cookies()
            sign_in(page, served.url, "admin", locale)
            for width in (1400, 360):
                page.set_viewport_size({"width": width, "height": 900})
                for name, path in EDIT_PAGES.items():
                    page.goto(served.url + path)
                    expect(page.locator("html")).to_have_attribute("lang", locale)
                    problems[f"{name}-{locale}-{width}"] = axe_violations(page)
                    if _overflow(page) > 0:
                        problems[f"{name}-{locale}-{width}-overflow"] = _overflow(page)
                    page.screenshot(path=str(artifacts / f"admin-edit-{name}-{locale}-{width}.png"), full_page=True)
    assert {k: v for k, v in problems.items() if v} == {}


def _with_readings(database_url: str) -> World:
    world = build_world(database_url)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    store_readings(database_url, [(start + timedelta(minutes=10 * i), world.devices[WATER], "w20117", 0.01 * i, "N")
                                  for i in range(12)])
    return world


def test_the_export_page_downloads_csv_and_xlsx(database_url: str, browser: BrowserContext) -> None:
    world = _with_readings(database_url)
    today = datetime.now(UTC).date()
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()  # a persistent context accepts downloads
        sign_in(page, served.url, "viewer", "en")
        files: dict[str, bytes] = {}
        for fmt in ("csv", "xlsx"):
            page.goto(served.url + "/exports")
            page.locator("#export-kind").select_option("readings")
            page.get_by_label("Plant", exact=True).select_option("T-001")
            page.locator("#export-start").fill((today - timedelta(days=1)).isoformat())
            page.locator("#export-end").fill((today + timedelta(days=1)).isoformat())
            page.locator("#export-format").select_option(fmt)
            with page.expect_download() as download:
                page.click("#export-download")
            assert download.value.suggested_filename.endswith(f".{fmt}")
            files[fmt] = Path(download.value.path()).read_bytes()
    rows = list(csv.reader(io.StringIO(files["csv"].decode("utf-8-sig"))))
    assert len(rows) == 1 + 12 and all(r[2] == WATER for r in rows[1:])
    with zipfile.ZipFile(io.BytesIO(files["xlsx"])) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in book.namelist() else ""
    assert sheet.count("<row") == 1 + 12 and WATER in sheet + strings
