"""Administration input checks (pure): users, devices, limits, chain steps, NUL refusal."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import get_args

import pytest

from dashboard.admin_edit import changes
from dashboard.admin_forms import as_form
from dashboard.admin_registry import NewLimit, check_limit, parse_steps, steps_text
from dashboard.admin_store import AdminError, NewDevice, OutOfBounds, check_device
from dashboard.app import is_nul_in
from dashboard.audit import AuditAction, AuditEntity
from dashboard.errors import Refused
from dashboard.users import UserError, check_new_user
from envmon.registry.bounds import BoundsError
from envmon.words import LOCALES, find

KNOWN = {"w20117", "w01001"}


def device(**changes: object) -> NewDevice:
    values: dict[str, object] = {
        "site_code": "T-001", "mn": "310120T001W09", "kind": "water_analyser", "point_kind": "outfall",
        "point_name_zh": "排口", "point_name_en": "Outfall", "pollutants": ("w20117",), "reporting_interval_seconds": 60,
    }
    values.update(changes)
    return NewDevice(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("changes", [
    pytest.param({"mn": "31/0120"}, id="mn-with-slash-would-escape-its-topic"),
    pytest.param({"kind": "toaster"}, id="unknown-kind"),
    pytest.param({"pollutants": ("w99999",)}, id="unknown-pollutant"),
    pytest.param({"pollutants": ()}, id="no-pollutant"),
    pytest.param({"reporting_interval_seconds": 0}, id="zero-interval"),
    pytest.param({"point_name_en": ""}, id="missing-english-name"),
])
def test_malformed_devices_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(AdminError):
        check_device(device(**changes), KNOWN)


def test_a_well_formed_device_passes() -> None:
    check_device(device(), KNOWN)


def limit(direction: str, lower: float | None, upper: float | None, basis: str = "instant") -> NewLimit:
    return NewLimit("T-001", None, "w20117", basis, direction, lower, upper, "permit")


@pytest.mark.parametrize(("lim", "ok"), [
    pytest.param(limit("upper", None, 0.1), True, id="upper"),
    pytest.param(limit("lower", 2.0, None), True, id="lower"),
    pytest.param(limit("range", 6.0, 9.0), True, id="range"),
    pytest.param(limit("upper", 0.1, None), False, id="upper-without-upper-value"),
    pytest.param(limit("range", 9.0, 6.0), False, id="inverted-range"),
    pytest.param(limit("upper", None, 0.1, basis="week"), False, id="unknown-basis"),
])
def test_limit_values_fit_their_direction(lim: NewLimit, ok: bool) -> None:
    if ok:
        check_limit(lim)
    else:
        with pytest.raises(AdminError):
            check_limit(lim)


@pytest.mark.parametrize(("text", "steps"), [
    pytest.param("insp-a:0", [(0, ("insp-a",))], id="one"),
    pytest.param(" insp-a:0 , lead-c:600,", [(0, ("insp-a",)), (600, ("lead-c",))], id="spaces-and-trailing-comma"),
    pytest.param("insp-a:0\nlead-c:600\n", [(0, ("insp-a",)), (600, ("lead-c",))], id="one-step-a-line"),
    pytest.param("insp-a + insp-b:0, lead-c:600", [(0, ("insp-a", "insp-b")), (600, ("lead-c",))],
                 id="two-people-in-a-step"),
])
def test_chain_steps_parse(text: str, steps: list[tuple[int, tuple[str, ...]]]) -> None:
    assert parse_steps(text) == steps


@pytest.mark.parametrize("text", [
    pytest.param("insp-b+insp-a:0, lead-c:600", id="people-in-a-step-sorted"),
    pytest.param("lead-c:0\ninsp-a:30", id="lines"),
])
def test_steps_as_text_read_back_to_the_same_steps(text: str) -> None:
    steps = parse_steps(text)
    assert parse_steps(steps_text(steps)) == [(d, tuple(sorted(c))) for d, c in steps]


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"), pytest.param("insp-a", id="no-delay"), pytest.param("insp-a:-5", id="negative"),
    pytest.param(":10", id="no-recipient"), pytest.param("insp-a+:10", id="empty-second-recipient"),
])
def test_malformed_chain_steps_are_refused(text: str) -> None:
    with pytest.raises(AdminError):
        parse_steps(text)


@pytest.mark.parametrize(("username", "role", "ok"), [
    pytest.param("li.na", "inspector", True, id="dotted-name"),
    pytest.param("Li", "viewer", False, id="upper-case"),
    pytest.param("x", "viewer", False, id="too-short"),
    pytest.param("li na", "viewer", False, id="space"),
    pytest.param("chief", "root", False, id="unknown-role"),
])
def test_new_user_names_and_roles(username: str, role: str, ok: bool) -> None:
    if ok:
        check_new_user(username, role)
    else:
        with pytest.raises(UserError):
            check_new_user(username, role)


@pytest.mark.parametrize(("path", "query", "refused"), [
    pytest.param("/plants/T-001", "range=1h", False, id="plain"),
    pytest.param("/plants/T\x00", "", True, id="nul-in-path"),
    pytest.param("/api/alerts", "site=%00", True, id="encoded-nul-in-query"),
])
def test_nul_characters_are_refused_at_the_edge(path: str, query: str, refused: bool) -> None:
    assert is_nul_in(path, query) is refused


@pytest.mark.parametrize(("before", "after", "detail"), [
    pytest.param({"a": 1, "b": "x"}, {"a": 1, "b": "x"}, {}, id="nothing-changed"),
    pytest.param({"a": 1, "b": "x", "site": "T"}, {"a": 2, "b": "x"}, {"a": {"before": 1, "after": 2}},
                 id="one-field-and-only-fields-edited"),
    pytest.param({"p": ["w1", "w2"]}, {"p": ["w2", "w1"]}, {"p": {"before": ["w1", "w2"], "after": ["w2", "w1"]}},
                 id="list-order-is-a-change"),
])
def test_the_audit_detail_holds_each_changed_field_before_and_after(
    before: dict[str, object], after: dict[str, object], detail: dict[str, object]
) -> None:
    assert changes(before, after) == detail


@pytest.mark.parametrize(("row", "form"), [
    pytest.param({"upper": 0.5, "lower": None}, {"upper": "0.5", "lower": ""}, id="number-and-none"),
    pytest.param({"upper": 30.0}, {"upper": "30"}, id="whole-number-without-point"),
    pytest.param({"categories": ["pollution", "device"]}, {"category_pollution": "1", "category_device": "1"},
                 id="categories-as-ticked-boxes"),
    pytest.param({"interval": 60, "active": True}, {"interval": "60", "active": "True"}, id="integers-as-typed"),
])
def test_an_edit_form_shows_a_row_as_typed(row: dict[str, object], form: dict[str, str]) -> None:
    assert as_form(row) == form


# ----- every refusal and audit entry in words (issue 18: the audit log showed raw codes, refusals were English) -----
ROOT = Path(__file__).resolve().parents[2]
REFUSAL = re.compile(r"\b(?:AdminError|UserError)\(\s*\"(\w+)\"((?:[^()]|\([^()]*\))*)\)")


def _refusals() -> list[tuple[str, str, set[str]]]:
    """(file, key, parameter names) of every AdminError/UserError the dashboard raises."""
    found = []
    for path in sorted((ROOT / "dashboard").glob("*.py")):
        for key, args in REFUSAL.findall(path.read_text(encoding="utf-8")):
            found.append((path.name, key, set(re.findall(r"(\w+)=", args))))
    return found


def test_the_dashboard_raises_refusals_only_by_catalogue_key() -> None:
    """An English sentence in place of a key would show as `page.<sentence>`; the count guards the pattern."""
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "dashboard").glob("*.py"))
    assert len(_refusals()) >= 40
    assert re.findall(r"\b(?:AdminError|UserError)\(\s*f?\"[^\"]*\s", source) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_refusal_has_words_with_its_placeholders_in_every_locale(locale: str) -> None:
    wrong = [(name, key) for name, key, params in _refusals()
             if find(locale, f"page.{key}") is None
             or {p for _, p, _, _ in string.Formatter().parse(find(locale, f"page.{key}") or "") if p} != params]
    assert wrong == []


@pytest.mark.parametrize(
    ("error", "locale", "expected"),
    [
        pytest.param(AdminError("admin_error_no_plant", code="FX-9"), "zh-CN", "没有企业 FX-9", id="admin-zh"),
        pytest.param(AdminError("admin_error_no_plant", code="FX-9"), "en", "No plant FX-9", id="admin-en"),
        pytest.param(UserError("user_error_exists", username="li"), "zh-CN", "用户 li 已存在", id="user-zh"),
        pytest.param(OutOfBounds(BoundsError("too_long", length=300, limit=200).inside("name")), "zh-CN",
                     "name：300 个字符，至多 200 个", id="bounds-zh"),
        pytest.param(OutOfBounds(BoundsError("control", code="0000", position=3).inside("item 0").inside("steps")),
                     "en", "steps: item 0: control character U+0000 at position 3", id="bounds-en-nested"),
    ],
)
def test_a_refusal_reads_in_the_users_language_and_in_english_for_logs(
    error: Refused, locale: str, expected: str
) -> None:
    assert error.words(locale) == expected
    assert str(error) == error.words("en")


@pytest.mark.parametrize("kind", ["audit_action", "audit_entity"])
@pytest.mark.parametrize("locale", LOCALES)
def test_every_audited_action_and_entity_has_words(kind: str, locale: str) -> None:
    codes = get_args(AuditAction if kind == "audit_action" else AuditEntity)
    assert [c for c in codes if find(locale, f"{kind}.{c}") is None] == []


def test_the_audit_codes_written_in_sql_are_listed_too() -> None:
    """The registry load and `envmon silence`/`maintenance` write audit rows without write_audit()."""
    assert {"registry.load", "create"} <= set(get_args(AuditAction))
    assert {"registry", "silence", "maintenance"} <= set(get_args(AuditEntity))
