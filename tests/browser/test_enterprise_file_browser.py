"""The enterprise file in a real browser: an inspector records enforcement and uploads a permit scan (happy
path); another district's operator is refused the plant, and a disguised file is refused by content."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import BrowserContext, expect

from dashboard.app import create_app
from tests.browser.world import Served, World, build_world, sign_in
from tests.integration.test_enterprise_file_dashboard import PERMIT, add_permit
from tests.unit.test_documents import PDF


@pytest.fixture
def world(database_url: str) -> World:
    w = build_world(database_url)
    add_permit(w)
    return w



def test_inspector_keeps_the_plant_file(world: World, browser: BrowserContext, artifacts: Path, tmp_path: Path) -> None:
    scan = tmp_path / "排污许可证正本.pdf"
    scan.write_bytes(PDF)
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, served.url, "inspector")
        page.goto(f"{served.url}/plants/T-001")
        expect(page.locator("#file h2")).to_have_text("企业档案")
        expect(page.locator("#file .permit")).to_contain_text(PERMIT)

        form = page.locator("#enforcement-form")
        form.locator('input[name="decided_on"]').fill("2026-03-02")
        form.locator('select[name="kind"]').select_option("penalty")
        form.locator('input[name="case_number"]').fill("奉环罚〔2026〕12号")
        form.locator('input[name="penalty_yuan"]').fill("200000")
        form.locator("button").click()
        expect(page.locator("#enforcement")).to_contain_text("奉环罚〔2026〕12号")

        page.locator('#upload-form input[type="file"]').set_input_files(str(fake))
        page.locator("#upload-form button").click()
        expect(page.locator("#upload-form .upload-result")).to_contain_text("只接受 PDF、PNG 和 JPEG")

        page.locator('#upload-form input[type="file"]').set_input_files(str(scan))
        page.locator("#upload-form button").click()
        expect(page.locator("#documents")).to_contain_text("排污许可证正本.pdf")
        page.locator("#file").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "enterprise-file.png"), full_page=True)
        assert errors == []
    with psycopg.connect(world.database_url) as conn:
        assert conn.execute("SELECT filename FROM site_documents").fetchall() == [("排污许可证正本.pdf",)]


def test_another_districts_operator_is_refused_the_plant_file(world: World, browser: BrowserContext) -> None:
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        sign_in(page, served.url, "outsider")
        response = page.goto(f"{served.url}/plants/T-001")
        assert response is not None and response.status == 404
        expect(page.locator("body")).not_to_contain_text(PERMIT)
