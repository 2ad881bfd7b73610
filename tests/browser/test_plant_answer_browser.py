"""The plant's answer in a real browser: the contact answers on a phone from the SMS link, the inspector
accepts it on the alert page (happy path); an expired link and another plant's inspector are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import BrowserContext, expect

from alerts.answers import sign_answer_link
from dashboard.app import create_app
from tests.browser.world import PASSWORD, SECRET, Served, World
from tests.integration.test_plant_answer import _exceedance, _link_path, _tick
from tests.integration.test_plant_answer import world as answer_world

world = answer_world  # the answer tests' world: T-001 and U-001 with a registered contact


def test_contact_answers_on_a_phone_and_the_inspector_accepts(world: World, browser: BrowserContext,
                                                               artifacts: Path) -> None:
    alert_id = _exceedance(world)
    _tick(world, datetime.now(UTC))
    path = _link_path(world, alert_id)
    with Served(create_app(world.settings)) as served:
        phone = browser.new_page()
        phone.set_viewport_size({"width": 390, "height": 844})
        phone.goto(served.url + path)
        expect(phone.locator("#answer h1")).to_have_text("超标说明")
        phone.fill('textarea[name="cause"]', "调节池液位过高,还原反应时间不足")
        phone.fill('textarea[name="measures"]', "已停产镀铬线,增加还原剂投加")
        phone.fill('input[name="expected_recovery_at"]', "2030-01-01T18:00")
        phone.screenshot(path=str(artifacts / "plant-answer-phone.png"), full_page=True)
        phone.click("#answer-submit")
        expect(phone.locator("#answer-done")).to_be_visible()

        page = browser.new_page()
        page.goto(f"{served.url}/login")
        page.fill("#username", "inspector")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{served.url}/")
        page.goto(f"{served.url}/alerts/{alert_id}")
        expect(page.locator("#answers .cause")).to_have_text("调节池液位过高,还原反应时间不足")
        page.click("#answer-accept")
        expect(page.locator('#answers .answer-round[data-state="accepted"]')).to_be_visible()
        expect(page.locator("#timeline")).to_contain_text("说明被采纳")
        page.screenshot(path=str(artifacts / "plant-answer-alert.png"), full_page=True)


def test_expired_link_is_refused_on_the_phone(world: World, browser: BrowserContext) -> None:
    alert_id = _exceedance(world)
    _tick(world, datetime.now(UTC))
    with psycopg.connect(world.database_url) as conn:
        request_id = conn.execute("SELECT id FROM answer_requests WHERE alert_id = %s", (alert_id,)).fetchone()
    assert request_id is not None
    expired = sign_answer_link(SECRET, alert_id, request_id[0], datetime.now(UTC) - timedelta(minutes=1))
    with Served(create_app(world.settings)) as served:
        phone = browser.new_page()
        phone.set_viewport_size({"width": 390, "height": 844})
        response = phone.goto(f"{served.url}/a/{expired}")
        assert response is not None and response.status == 410
        expect(phone.locator("#message")).to_contain_text("链接已过期")
        expect(phone.locator("#answer-form")).to_have_count(0)


@pytest.mark.parametrize("user", ["outsider"])
def test_another_plants_inspector_does_not_see_the_answer(world: World, browser: BrowserContext, user: str) -> None:
    alert_id = _exceedance(world)
    _tick(world, datetime.now(UTC))
    with Served(create_app(world.settings)) as served:
        page = browser.new_page()
        page.goto(f"{served.url}/login")
        page.fill("#username", user)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{served.url}/")
        response = page.goto(f"{served.url}/alerts/{alert_id}")
        assert response is not None and response.status == 404
