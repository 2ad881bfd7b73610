"""Administration edits of devices, recipients, escalation chains and limits (issue 18 leftover): each edit is
validated as on creation and audited with before and after; a refused one says why and changes nothing; rows
that history refers to are deactivated or ended, never deleted or rewritten; only admins may edit."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.alert_helpers import ALERT_REGISTRY, GAS, WATER, load_alert_registry
from tests.browser.world import OTHER_REGISTRY, World, build_world, client, login, raise_alert


@pytest.fixture
def world(database_url: str) -> World:
    return build_world(database_url, locale="en")  # refusals are read in English; one test switches to Chinese


def _rows(world: World, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(world.database_url) as conn:
        return conn.execute(sql, params).fetchall()


def _limit_of(world: World, mn: str = GAS, pollutant: str = "s02001") -> int:
    """The limit in force for a pollutant of the device's plant (site scope)."""
    [(limit_id,)] = _rows(world, "SELECT l.id FROM limits l JOIN devices d ON d.site_id = l.site_id WHERE d.mn = %s"
                                 " AND l.pollutant = %s AND l.valid_to IS NULL ORDER BY l.basis LIMIT 1", mn, pollutant)
    return int(limit_id)


def _post(world: World, path: str, form: dict[str, str], user: str = "admin") -> Any:
    with client(world) as c:
        csrf = login(c, user)
        return c.post(path, data={**form, "csrf_token": csrf}, follow_redirects=False)


DEVICE = {"point_kind": "outfall", "point_name_zh": "总排口（新）", "point_name_en": "Main outfall (new)",
          "pollutants": "w20117 w01001 w01018", "interval": "120"}
RECIPIENT = {"name": "Inspector A (new)", "phone": "+8613900000009", "locale": "en", "role": "district inspector"}
CHAIN = {"name": "Pollution (new)", "category_pollution": "1", "category_device": "1",
         "steps": "insp-a:0\nlead-c+safety-b:900", "repeat": "1200"}
LIMIT = {"direction": "upper", "upper": "0.3", "lower": "", "source": "permit 2026-17"}

# (path, form, select of the stored values, what they are after the edit, audit entity, audit key, one changed field)
EDITS = [
    pytest.param(f"/admin/devices/{WATER}/edit", DEVICE,
                 "SELECT point_kind, point_name_en, pollutants, reporting_interval_seconds FROM devices WHERE mn = %s",
                 WATER, [("outfall", "Main outfall (new)", ["w20117", "w01001", "w01018"], 120)],
                 "device", WATER, "reporting_interval_seconds", id="device"),
    pytest.param("/admin/recipients/insp-a/edit", RECIPIENT,
                 "SELECT name, phone, locale, role FROM recipients WHERE code = %s", "insp-a",
                 [("Inspector A (new)", "+8613900000009", "en", "district inspector")],
                 "recipient", "insp-a", "phone", id="recipient"),
    pytest.param("/admin/chains/pollution/edit", CHAIN,
                 "SELECT c.name, c.categories, c.repeat_interval_seconds, array_agg(r.code || '@' || s.position || ':'"
                 " || s.delay_seconds ORDER BY s.position, r.code) FROM escalation_chains c JOIN escalation_steps s"
                 " ON s.chain_id = c.id JOIN recipients r ON r.id = s.recipient_id WHERE c.code = %s GROUP BY c.id",
                 "pollution", [("Pollution (new)", ["pollution", "device"], 1200,
                                ["insp-a@0:0", "lead-c@1:900", "safety-b@1:900"])],
                 "escalation_chain", "pollution", "steps", id="chain"),
]


@pytest.mark.parametrize(("path", "form", "select", "key", "after", "entity", "audit_key", "field"), EDITS)
def test_an_edit_is_stored_and_audited_with_before_and_after(
    world: World, path: str, form: dict[str, str], select: str, key: str, after: list[tuple[Any, ...]], entity: str,
    audit_key: str, field: str,
) -> None:
    before = _rows(world, select, key)
    r = _post(world, path, form)
    assert r.status_code == 303, r.text
    assert _rows(world, select, key) == after
    [(actor, action, detail)] = _rows(world, "SELECT actor, action, detail FROM audit_log WHERE entity = %s"
                                             " AND entity_key = %s", entity, audit_key)
    assert (actor, action) == ("admin", "update")
    assert detail[field]["before"] != detail[field]["after"] and before != after


def test_an_edit_that_changes_nothing_writes_no_audit_entry(world: World) -> None:
    [current] = _rows(world, "SELECT name, phone, locale, role FROM recipients WHERE code = 'insp-a'")
    r = _post(world, "/admin/recipients/insp-a/edit", dict(zip(("name", "phone", "locale", "role"), current,
                                                               strict=True)))
    assert r.status_code == 303
    assert _rows(world, "SELECT count(*) FROM audit_log WHERE entity = 'recipient'") == [(0,)]


# (path, form, the words the page must show, the table whose rows must not change)
REFUSED = [
    pytest.param(f"/admin/devices/{WATER}/edit", {**DEVICE, "pollutants": "w20117 zz999"}, "zz999", "devices",
                 id="device-unknown-pollutant"),
    pytest.param(f"/admin/devices/{WATER}/edit", {**DEVICE, "interval": "0"}, "1 s to 1 day", "devices",
                 id="device-zero-interval"),
    pytest.param(f"/admin/devices/{WATER}/edit", {**DEVICE, "interval": "often"}, "not a finite number", "devices",
                 id="device-interval-not-a-number"),
    pytest.param(f"/admin/devices/{WATER}/edit", {**DEVICE, "point_kind": "roof"}, "point kinds must be known",
                 "devices", id="device-unknown-point-kind"),
    pytest.param(f"/admin/devices/{WATER}/edit", {**DEVICE, "point_name_en": ""}, "point names", "devices",
                 id="device-missing-english-point-name"),
    pytest.param("/admin/recipients/insp-a/edit", {**RECIPIENT, "phone": "13800000001"}, "E.164", "recipients",
                 id="recipient-phone-not-e164"),
    pytest.param("/admin/recipients/insp-a/edit", {**RECIPIENT, "locale": "fr"}, "E.164", "recipients",
                 id="recipient-unknown-language"),
    pytest.param("/admin/recipients/insp-a/edit", {**RECIPIENT, "name": " "}, "a name", "recipients",
                 id="recipient-no-name"),
    pytest.param("/admin/chains/pollution/edit", {**CHAIN, "steps": "insp-a:0, nobody:60"}, "Unknown recipients: nobody",
                 "escalation_steps", id="chain-unknown-recipient"),
    pytest.param("/admin/chains/pollution/edit", {**CHAIN, "steps": "insp-a:soon"}, "not “insp-a:soon”",
                 "escalation_steps", id="chain-malformed-step"),
    pytest.param("/admin/chains/pollution/edit", {**CHAIN, "steps": " "}, "at least one step", "escalation_steps",
                 id="chain-no-steps"),
    pytest.param("/admin/chains/pollution/edit", {**CHAIN, "repeat": "0"}, "repeat interval", "escalation_chains",
                 id="chain-no-repeat"),
    pytest.param("/admin/limits/{limit}/edit", {**LIMIT, "direction": "range", "lower": "5", "upper": "1"},
                 "lower below upper", "limits", id="limit-inverted-range"),
    pytest.param("/admin/limits/{limit}/edit", {**LIMIT, "upper": ""}, "lacks the value", "limits",
                 id="limit-upper-without-value"),
    pytest.param("/admin/limits/{limit}/edit", {**LIMIT, "upper": "inf"}, "not a finite number", "limits",
                 id="limit-infinite"),
    pytest.param("/admin/limits/{limit}/edit", {**LIMIT, "source": ""}, "a source", "limits", id="limit-no-source"),
]


@pytest.mark.parametrize(("path", "form", "words", "table"), REFUSED)
def test_an_invalid_edit_is_refused_with_its_reason_and_changes_nothing(
    world: World, path: str, form: dict[str, str], words: str, table: str,
) -> None:
    path = path.replace("{limit}", str(_limit_of(world)))
    before = _rows(world, f"SELECT * FROM {table} ORDER BY 1, 2, 3")
    r = _post(world, path, form)
    assert r.status_code == 400
    error = r.text.split('id="admin-error" role="alert">')[1].split("</p>")[0]
    assert words in error.replace("&#34;", '"').replace("&#39;", "'"), error
    assert 'id="edit-form"' in r.text  # the page again, with what was typed
    assert _rows(world, f"SELECT * FROM {table} ORDER BY 1, 2, 3") == before
    assert _rows(world, "SELECT count(*) FROM audit_log WHERE action = 'update'") == [(0,)]


def test_a_refused_edit_says_why_in_chinese_too(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        c.post("/locale", data={"locale": "zh-CN", "back": "/admin", "csrf_token": csrf})
        r = c.post("/admin/recipients/insp-a/edit", data={**RECIPIENT, "phone": "12345", "csrf_token": csrf})
    assert r.status_code == 400 and "接收人需要编码、姓名、E.164 格式电话" in r.text


def test_a_limit_edit_ends_the_old_limit_and_keeps_the_alert_on_it(world: World) -> None:
    alert_id = raise_alert(world)  # the gas alarm, judged against the plant's s02001 limit
    [(limit_id, old_upper)] = _rows(world, "SELECT limit_id, (SELECT upper_value FROM limits WHERE id = limit_id)"
                                           " FROM alerts WHERE id = %s", alert_id)
    r = _post(world, f"/admin/limits/{limit_id}/edit", {**LIMIT, "upper": "30"})
    assert r.status_code == 303, r.text
    [(valid_to, upper)] = _rows(world, "SELECT valid_to, upper_value FROM limits WHERE id = %s", limit_id)
    assert valid_to is not None and upper == old_upper  # the alert's limit keeps its values, ended now
    [(new_id, new_from, new_upper, new_source, preset)] = _rows(
        world, "SELECT id, valid_from, upper_value, source, preset FROM limits WHERE pollutant = 's02001'"
               " AND valid_to IS NULL AND id <> %s AND site_id = (SELECT site_id FROM limits WHERE id = %s)"
               " AND basis = (SELECT basis FROM limits WHERE id = %s)", limit_id, limit_id, limit_id)
    assert (new_from, new_upper, new_source, preset) == (valid_to, 30.0, "permit 2026-17", None)
    assert _rows(world, "SELECT limit_id FROM alerts WHERE id = %s", alert_id) == [(limit_id,)]
    [(detail,)] = _rows(world, "SELECT detail FROM audit_log WHERE entity = 'limit' AND entity_key = %s",
                        str(limit_id))
    assert detail["upper_value"] == {"before": old_upper, "after": 30.0}
    assert detail["limit_id"] == {"before": limit_id, "after": new_id}


def test_an_ended_limit_stays_and_cannot_be_changed_again(world: World) -> None:
    alert_id = raise_alert(world)
    [(limit_id,)] = _rows(world, "SELECT limit_id FROM alerts WHERE id = %s", alert_id)
    count = _rows(world, "SELECT count(*) FROM limits")
    assert _post(world, f"/admin/limits/{limit_id}/end", {}).status_code == 303
    [(valid_to,)] = _rows(world, "SELECT valid_to FROM limits WHERE id = %s", limit_id)
    assert valid_to is not None and _rows(world, "SELECT count(*) FROM limits") == count
    assert _rows(world, "SELECT action FROM audit_log WHERE entity = 'limit'") == [("deactivate",)]
    ended_at = valid_to.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    said = f"Limit {limit_id} was already ended by admin at {ended_at}"  # a stale page: who ended it, and when
    again = _post(world, f"/admin/limits/{limit_id}/edit", LIMIT)
    assert again.status_code == 409 and said in again.text
    twice = _post(world, f"/admin/limits/{limit_id}/end", {})  # a double click on "End limit"
    assert twice.status_code == 409 and said in twice.text
    assert _rows(world, "SELECT action FROM audit_log WHERE entity = 'limit'") == [("deactivate",)]
    with client(world) as c:
        login(c, "admin")
        assert f'href="/admin/limits/{limit_id}/edit"' not in c.get("/admin").text  # the list shows limits in force


def test_deactivating_a_device_and_a_recipient_keeps_their_readings_and_notifications(world: World) -> None:
    alert_id = raise_alert(world)  # readings of the gas detector; SMS to safety-b
    readings = _rows(world, "SELECT count(*) FROM readings WHERE device_id = %s", world.devices[GAS])
    sent = _rows(world, "SELECT n.id, n.phone FROM notifications n JOIN recipients r ON r.id = n.recipient_id"
                        " WHERE r.code = 'safety-b' ORDER BY n.id")
    assert readings[0][0] > 0 and sent
    assert _post(world, f"/admin/devices/{GAS}/active", {"active": "0"}).status_code == 303
    assert _post(world, "/admin/recipients/safety-b/active", {"active": "0"}).status_code == 303
    assert _post(world, "/admin/recipients/safety-b/edit", {**RECIPIENT, "phone": "+8613900000077"}).status_code == 303
    assert _rows(world, "SELECT count(*) FROM readings WHERE device_id = %s", world.devices[GAS]) == readings
    assert _rows(world, "SELECT n.id, n.phone FROM notifications n JOIN recipients r ON r.id = n.recipient_id"
                        " WHERE r.code = 'safety-b' ORDER BY n.id") == sent  # the log keeps the phone it used
    assert _rows(world, "SELECT limit_id IS NOT NULL, device_id FROM alerts WHERE id = %s", alert_id) == [
        (True, world.devices[GAS])]


EDIT_PAGES = [f"/admin/devices/{WATER}/edit", "/admin/recipients/insp-a/edit", "/admin/chains/pollution/edit",
              "/admin/limits/{limit}/edit"]


@pytest.mark.parametrize("path", EDIT_PAGES)
def test_every_field_of_an_edit_page_has_a_visible_label(world: World, path: str) -> None:
    with client(world) as c:
        login(c, "admin")
        html = c.get(path.replace("{limit}", str(_limit_of(world)))).text
    form = html.split('id="edit-form"')[1].split("</form>")[0]
    ids = re.findall(r'<(?:input|select|textarea) id="([^"]+)"', form)
    labels = set(re.findall(r'<label for="([^"]+)">', form))
    assert ids and set(ids) <= labels
    assert "placeholder=" not in form


def test_the_admin_page_labels_every_field_of_its_forms(world: World) -> None:
    with client(world) as c:
        login(c, "admin")
        html = c.get("/admin").text
    fields = re.findall(r'<(?:input|select|textarea) ([^>]*)>', html)
    unlabelled = [f for f in fields if 'type="hidden"' not in f and 'type="checkbox"' not in f
                  and "aria-label=" not in f and f'<label for="{_id(f)}">' not in html]
    assert not unlabelled


def _id(attributes: str) -> str:
    found = re.search(r'id="([^"]+)"', attributes)
    return found.group(1) if found else "-"


@pytest.mark.parametrize("user", ["viewer", "operator", "inspector"])
@pytest.mark.parametrize("path", EDIT_PAGES)
def test_only_admins_see_or_send_the_edit_pages(world: World, user: str, path: str) -> None:
    path = path.replace("{limit}", str(_limit_of(world)))
    before = _rows(world, "SELECT count(*) FROM audit_log")
    with client(world) as c:
        csrf = login(c, user)
        assert c.get(path).status_code == 403
        assert c.post(path, data={**DEVICE, **RECIPIENT, **CHAIN, **LIMIT, "csrf_token": csrf}).status_code == 403
    assert _rows(world, "SELECT count(*) FROM audit_log") == before


def test_editing_what_does_not_exist_is_not_found(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        for path in ("/admin/devices/NOPE0000/edit", "/admin/recipients/nobody/edit", "/admin/chains/none/edit",
                     "/admin/limits/999999/edit", "/admin/limits/abc/edit"):
            assert c.get(path).status_code == 404, path
        assert c.post("/admin/recipients/nobody/edit", data={**RECIPIENT, "csrf_token": csrf}).status_code == 404
        assert c.post("/admin/limits/999999/end", data={"csrf_token": csrf}).status_code == 404


def test_registry_apply_overwrites_edited_values_but_keeps_a_deactivation(world: World) -> None:
    """The rule the plant edit set: the registry file is the source for the values it lists, so applying it again
    brings them back; it never reactivates what an administrator deactivated."""
    _post(world, "/admin/recipients/insp-a/edit", RECIPIENT)
    _post(world, "/admin/recipients/lead-c/active", {"active": "0"})
    load_alert_registry(world.database_url, ALERT_REGISTRY + OTHER_REGISTRY)
    [(name,)] = _rows(world, "SELECT name FROM recipients WHERE code = 'insp-a'")
    assert name != RECIPIENT["name"]
    assert _rows(world, "SELECT active FROM recipients WHERE code = 'lead-c'") == [(False,)]


FILE_CHANGES_THE_LIMIT = ('preset = "GBT50493-2019"', 'scheme = "gas_alarm"\nbasis = "instant"\ndirection = "upper"\n'
                          'upper = 8.0\nlevel2_upper = 16.0\nsource = "permit 2026-18"')


def test_registry_apply_keeps_a_limit_ended_on_the_page_until_the_file_changes_it(world: World) -> None:
    """Issue 18 leftover: applying the unchanged file reopened a limit the administrator had ended."""
    limit_id = _limit_of(world)
    assert _post(world, f"/admin/limits/{limit_id}/end", {}).status_code == 303
    [(ended_at, by)] = _rows(world, "SELECT valid_to, ended_by FROM limits WHERE id = %s", limit_id)
    assert ended_at is not None and by == "admin"
    load_alert_registry(world.database_url, ALERT_REGISTRY + OTHER_REGISTRY)  # the same file again
    assert _rows(world, "SELECT valid_to, ended_by FROM limits WHERE id = %s", limit_id) == [(ended_at, "admin")]
    load_alert_registry(world.database_url, ALERT_REGISTRY.replace(*FILE_CHANGES_THE_LIMIT) + OTHER_REGISTRY)
    [(valid_to, by, upper)] = _rows(world, "SELECT valid_to, ended_by, upper_value FROM limits WHERE id = %s", limit_id)
    assert (valid_to, by, upper) == (None, None, 8.0)  # the file's new values, in force again


def test_registry_apply_still_ends_a_limit_the_file_ends(world: World) -> None:
    """The kept end is only the page's: a limit the file itself ends and later reopens follows the file."""
    limit_id = _limit_of(world)
    ended = ALERT_REGISTRY.replace('preset = "GBT50493-2019"',
                                   'preset = "GBT50493-2019"\nvalid_to = 2026-01-01T00:00:00+08:00')
    load_alert_registry(world.database_url, ended + OTHER_REGISTRY)
    assert _rows(world, "SELECT valid_to IS NOT NULL FROM limits WHERE id = %s", limit_id) == [(True,)]
    load_alert_registry(world.database_url, ALERT_REGISTRY + OTHER_REGISTRY)
    assert _rows(world, "SELECT valid_to FROM limits WHERE id = %s", limit_id) == [(None,)]
