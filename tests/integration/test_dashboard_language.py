"""Every word shown to people comes from the catalogue (issue 18): every page, in each locale and as each
role that sees a different page, is rendered; the test fails on a key the catalogue lacks and on a raw code
in the visible text (a district or industry code, a state machine reason, an English word in zh-CN)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, get_args

import psycopg
import pytest
from psycopg.types.json import Jsonb

import dashboard.render
from alerts.answer_flow import answer_policy, tick_answers
from alerts.answers import sign_answer_link
from alerts.reports.links import new_report_link, revoke_report_link, sign_report_link
from alerts.reports.store import generate_report
from dashboard.audit import AuditAction, AuditEntity
from envmon.words import LOCALES, find, section, text, word
from tests.alert_helpers import WATER
from tests.browser.world import SECRET, World, build_world, client, login, raise_alert, water_history

# Raw codes seen on the pages by the issue; each must never reach people in any locale.
RAW_ANYWHERE = ("condition_cleared_latched", "engine opened", "new (#0)", "sent · 1", "v1 en draft", "(day)")
# Codes and English words that zh-CN pages showed instead of Chinese (whole words only: MN codes and
# plant codes are data and stay).
RAW_IN_ZH = ("electroplating", "chemical", "peak", "gas", "manual", "implausible", "instant", "open", "sent",
             "warning", "exceedance", "level2", "draft", "opened", "pollution", "safety", "hour", "day",
             *get_args(AuditAction), *get_args(AuditEntity))


class VisibleText(HTMLParser):
    """The text a person reads: element text outside script, style and <code> (identifiers people typed, such
    as a chain's code, are data), and the title/placeholder/label attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):
            self._hidden += 1
        self.parts += [v for k, v in attrs if k in ("title", "placeholder", "aria-label", "alt") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def raw_codes(shown: str, locale: str, district_codes: set[str]) -> list[str]:
    """The raw codes in a page's visible text (a command quoted in `backticks` is a command, not a word)."""
    shown = re.sub(r"`[^`]*`", "", shown)
    found = [code for code in RAW_ANYWHERE if code in shown]
    found += [code for code in district_codes if re.search(rf"\b{re.escape(code)}\b", shown)]
    if locale == "zh-CN":
        found += [w for w in RAW_IN_ZH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", shown, re.IGNORECASE)]
    return found


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    w = build_world(database_url)
    raise_alert(w)  # gas level 2 at T-001
    raise_alert(w, WATER, "w20117", 0.5, samples=3)
    water_history(w, hours=2)
    _every_audit_entry(w)
    yield w


def _every_audit_entry(w: World) -> None:
    """One audit row of every action and of every entity, as the administration page lists them."""
    actions, entities = get_args(AuditAction), get_args(AuditEntity)
    rows = [(actions[i % len(actions)], entities[i % len(entities)]) for i in range(max(len(actions), len(entities)))]
    with psycopg.connect(w.database_url, autocommit=True) as conn:
        for action, entity in rows:
            conn.execute("INSERT INTO audit_log (actor, action, entity, entity_key, detail) VALUES"
                         " ('admin', %s, %s, 'T-001', '{}')", (action, entity))


# Kinds whose every code must have words (others pass free text through: a person's reason, a role typed).
CLOSED_KINDS = ("audit_action", "audit_entity", "user_role", "severity", "state", "industry", "device_kind", "point_kind",
                "category", "basis", "direction", "scope")


@pytest.fixture
def missing_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Keys pages asked for that the catalogue lacks (text() and word() show the key or code itself, so the page
    would too; a code a page names with w() is a gap only where the catalogue has its kind)."""
    missing: list[str] = []

    def strict(locale: str, key: str) -> str:
        if find(locale, key) is None:
            missing.append(key)
        return text(locale, key)

    def strict_kind(locale: str, kind: str, code: str | None) -> str:
        if not section(locale, kind):  # w() of a kind the catalogue has no section for: every code would show raw
            missing.append(f"{kind}.*")
        elif kind in CLOSED_KINDS and code is not None and find(locale, f"{kind}.{code}") is None:
            missing.append(f"{kind}.{code}")
        return word(locale, kind, code)

    monkeypatch.setattr(dashboard.render, "text", strict)
    monkeypatch.setattr(dashboard.render, "word", strict_kind)
    return missing


PAGES = ("/", "/alerts", "/alerts?state=any", "/alerts/1", "/alerts/2", "/plants/T-001", "/health", "/admin",
         "/exports", f"/admin/devices/{WATER}/edit", "/admin/recipients/insp-a/edit", "/admin/chains/pollution/edit",
         "/admin/limits/1/edit", "/review", "/kpi", "/forwarding")


def _pages(c: Any, csrf: str, locale: str) -> Iterator[tuple[str, str]]:
    c.post("/locale", data={"locale": locale, "back": "/", "csrf_token": csrf})
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 200, (path, r.status_code)
        yield path, r.text
    yield "/nope", c.get("/plants/NOPE").text


@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_in_every_locale_uses_only_catalogue_words(
    world: World, missing_keys: list[str], locale: str
) -> None:
    districts = {"t", "u"}  # the world's district codes: pages must show their names
    problems: dict[str, list[str]] = {}
    with client(world) as c:
        csrf = login(c, "admin")
        for path, html in _pages(c, csrf, locale):
            if f'<span class="who">admin · {word(locale, "user_role", "admin")} <span' not in html:
                problems.setdefault(path, []).append("the header's role is not in words")
            found = raw_codes(visible(html), locale, districts - {"t", "u"} | {"fengxian"})
            if found:
                problems.setdefault(path, []).extend(found)
    assert missing_keys == [] and problems == {}


# Pages opened without an account, with the status each answers (each a different text to check).
PUBLIC_STATUS = {"/login": 200, "/login refused": 401, "/r/ report": 200, "/r/ altered": 404, "/r/ expired": 410,
                 "/r/ revoked": 410, "/a/ form": 200, "/a/ refused": 422, "/a/ bad date": 422, "/a/ sent": 200,
                 "/a/ sent again": 422, "/a/ altered": 404, "/a/ expired": 410}


def _public_pages(world: World, c: Any, locale: str) -> Iterator[tuple[str, Any]]:
    """The pages reached without an account, from an SMS or the sign-in: /login (and a refused sign-in), the
    report link /r/... (its report and its refusals) and the plant's answer form /a/... (empty, refused, sent,
    and its refusals), each asked in the locale."""
    lang = f"lang={locale}"
    yield "/login", c.get(f"/login?{lang}")
    token = c.get("/login").text.split('name="login_csrf" value="')[1].split('"')[0]
    # The form posts to /login: its language travels in the hidden `lang` field.
    yield "/login refused", c.post("/login", data={"username": "admin", "password": "wrong", "login_csrf": token,
                                                   "lang": locale})
    now = datetime.now(UTC)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        generate_report(conn, 2, locale=locale, now=now)
        report = new_report_link(SECRET, 2, now=now, ttl_seconds=3600, locale=locale)
        yield "/r/ report", c.get(f"/r/{report}")
        yield "/r/ altered", c.get(f"/r/{report[:-2]}xx?{lang}")
        expired = sign_report_link(SECRET, 2, now - timedelta(seconds=1), issued_at=now - timedelta(days=8))
        yield "/r/ expired", c.get(f"/r/{expired}?{lang}")
        revoke_report_link(conn, SECRET, report, now=now, actor="test")
        yield "/r/ revoked", c.get(f"/r/{report}?{lang}")
        answer = f"/a/{_answer_link(world, conn, now)}?{lang}"
    origin, fine = {"Origin": "https://testserver"}, {"cause": "x", "measures": "x", "expected_recovery_at": "2030-01-01T18:00"}
    yield "/a/ form", c.get(answer)
    yield "/a/ refused", c.post(answer, data={**fine, "cause": " "}, headers=origin)
    yield "/a/ bad date", c.post(answer, data={**fine, "expected_recovery_at": "soon"}, headers=origin)
    yield "/a/ sent", c.post(answer, data=fine, headers=origin)
    yield "/a/ sent again", c.post(answer, data=fine, headers=origin)
    yield "/a/ altered", c.get(f"/a/x{answer[3:]}")
    yield "/a/ expired", c.get(f"/a/{sign_answer_link(SECRET, 2, 1, now - timedelta(seconds=1))}?{lang}")


def _answer_link(world: World, conn: psycopg.Connection, now: datetime) -> str:
    """The water alert made an exceedance (a daily mean needs a day of data) and its plant asked by SMS."""
    conn.execute("UPDATE alerts SET severity = 'exceedance' WHERE id = 2")
    conn.execute("UPDATE sites SET contacts = %s WHERE code = 'T-001'",
                 (Jsonb([{"name": "王工", "role": "环保负责人", "phone": "+8613800000009"}]),))
    tick_answers(conn, answer_policy(world.settings), now)
    row = conn.execute("SELECT id FROM answer_requests WHERE alert_id = 2").fetchone()
    assert row is not None
    return sign_answer_link(SECRET, 2, int(row[0]), now + timedelta(hours=1))


@pytest.mark.parametrize("locale", LOCALES)
def test_public_pages_from_an_sms_in_every_locale_use_only_catalogue_words(
    world: World, missing_keys: list[str], locale: str
) -> None:
    """Issue 18's check of every page missed the pages people open without an account."""
    problems: dict[str, list[str]] = {}
    with client(world) as c:
        for path, r in _public_pages(world, c, locale):
            html = r.text
            if r.status_code != PUBLIC_STATUS[path]:
                problems.setdefault(path, []).append(f"answered {r.status_code}")
            if f'<html lang="{locale}">' not in html:
                problems.setdefault(path, []).append("not in the locale")
            if found := raw_codes(visible(html), locale, {"fengxian", "t", "u"}):
                problems.setdefault(path, []).extend(found)
            if locale == "zh-CN" and (english := re.findall(r"\b[a-z]{3,}(?: [a-z]{2,})+\b", visible(html).replace("envmon", ""))):
                problems.setdefault(path, []).extend(english)  # an English sentence left in a Chinese page
    assert missing_keys == [] and problems == {}


@pytest.mark.parametrize("locale", LOCALES)
def test_reports_and_sms_in_every_locale_show_no_raw_codes(world: World, locale: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        for alert_id in (1, 2):
            generate_report(conn, alert_id, locale=locale, now=now)
        bodies = [r[0] for r in conn.execute(
            "SELECT n.body FROM notifications n JOIN recipients r ON r.id = n.recipient_id WHERE r.locale = %s",
            (locale,))]
    problems: dict[str, list[str]] = {}
    with client(world) as c:
        login(c, "admin")
        for alert_id in (1, 2):
            html = c.get(f"/alerts/{alert_id}/report?locale={locale}").text
            if found := raw_codes(visible(html), locale, {"fengxian"}):
                problems[f"report {alert_id}"] = found
    for i, body in enumerate(bodies):
        if found := raw_codes(body, locale, {"fengxian"}):
            problems[f"sms {i}: {body}"] = found
    assert problems == {}


@pytest.mark.parametrize(("locale", "name"), [pytest.param("zh-CN", "邻区", id="zh-CN"),
                                              pytest.param("en", "Other district", id="en")])
def test_the_overview_names_each_plants_district_in_the_locale(world: World, locale: str, name: str) -> None:
    """The district column showed the registry code (`fengxian`) in both languages."""
    with client(world) as c:
        csrf = login(c, "admin")
        c.post("/locale", data={"locale": locale, "back": "/", "csrf_token": csrf})
        html = c.get("/").text
    row = re.search(r'<tr class="status-[a-z_]+" data-site="U-001">(.*?)</tr>', html, re.S)
    assert row is not None and f"<td>{name}</td>" in row.group(1), row and row.group(1)


@pytest.mark.parametrize("actor", ["engine", "system", "plant"])
def test_every_automatic_timeline_actor_has_words_in_both_languages(actor: str) -> None:
    """The plant's-answer steps showed `system` and `plant` raw on the zh-CN timeline."""
    assert all(word(locale, "actor", actor) != actor or locale == "en" for locale in LOCALES)
    assert find("en", f"actor.{actor}") is not None


# Refused administration changes (form path, fields): each must say why in the user's language.
REFUSALS = [
    pytest.param("/admin/plants", {"code": "T-001", "name_zh": "甲", "name_en": "A", "district": "t",
                                   "industry": "electroplating"}, id="plant-exists"),
    pytest.param("/admin/plants", {"code": "X-1", "name_zh": "甲", "name_en": "A", "district": "nowhere",
                                   "industry": "electroplating"}, id="plant-no-district"),
    pytest.param("/admin/maintenance", {"site": "T-001", "starts_at": "2026-01-02T08:00", "ends_at": "2026-01-01T08:00",
                                        "reason": "x"}, id="maintenance-ends-before-it-starts"),
    pytest.param("/admin/maintenance", {"site": "NOPE", "starts_at": "2026-01-01T08:00", "ends_at": "2026-01-02T08:00",
                                        "reason": "x"}, id="maintenance-no-plant"),
    pytest.param("/admin/devices", {"site": "T-001", "mn": WATER, "kind": "water_analyser", "point_kind": "outfall",
                                    "point_name_zh": "排口", "point_name_en": "Outfall", "pollutants": "w20117",
                                    "interval": "60"}, id="device-exists"),
    pytest.param("/admin/recipients", {"code": "insp-a", "name": "A", "phone": "+8613800000001", "locale": "en"},
                 id="recipient-exists"),
    pytest.param("/admin/users", {"username": "Bad Name!", "role": "viewer"}, id="user-bad-name"),
    pytest.param("/admin/limits", {"site": "T-001", "pollutant": "w20117", "basis": "day", "direction": "upper",
                                   "upper": "0.1", "source": "x\u202e"}, id="limit-text-out-of-bounds"),
    pytest.param("/admin/maintenance/999999/end", {}, id="maintenance-window-missing"),
]


def test_a_refused_administration_change_says_why_in_the_users_language(world: World) -> None:
    wrong: dict[str, dict[str, str]] = {}
    with client(world) as c:
        csrf = login(c, "admin")
        for case in REFUSALS:
            path, form = case.values
            shown = {locale: _refusal(c, csrf, locale, str(path), dict(form)) for locale in LOCALES}  # type: ignore[arg-type]
            # Chinese words, and no English sentence left once the codes people typed are taken out.
            untyped = re.sub(r"\b\w*[\d_-]\w*\b", "", shown["zh-CN"])
            if (shown["zh-CN"] == shown["en"] or not re.search(r"[\u4e00-\u9fff]", shown["zh-CN"])
                    or re.search(r"\b[a-z]{3,}\b \b[a-z]{3,}\b", untyped)):
                wrong[str(case.id)] = shown
    assert wrong == {}


def _refusal(c: Any, csrf: str, locale: str, path: str, form: dict[str, str]) -> str:
    """The reason the administration page gives for refusing the form, in the locale."""
    c.post("/locale", data={"locale": locale, "back": "/admin", "csrf_token": csrf})
    r = c.post(path, data={**form, "csrf_token": csrf})
    found = re.search(r'<p class="error card" id="admin-error">(.*?)</p>', r.text, re.S)
    assert r.status_code in (400, 404) and found is not None, (path, r.status_code)
    return found.group(1)
