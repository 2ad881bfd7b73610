"""Browser fixtures: Debian's chromium driven by Playwright (never a downloaded browser), fresh profile."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    """A headless chromium with a profile of its own, 1440x900, in Berlin: pages must show Shanghai time anyway."""
    with tempfile.TemporaryDirectory(prefix="envmon-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1440, "height": 900}, timezone_id="Europe/Berlin", locale="zh-CN",
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module", autouse=True)
def _quick_password_hashes(quick_password_hashes: None) -> None:
    """Cheap argon2id for the users these tests create and sign in (see tests/conftest.py)."""
