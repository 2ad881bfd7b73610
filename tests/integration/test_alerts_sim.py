"""A simulator scenario through the whole platform: simulated devices -> Mosquitto -> ingest -> alert engine
-> the real twilio client -> fake Twilio, with signed delivery callbacks back to the alert service. The same
seed and scenario always give the same SMS, in the same order, to the same numbers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.notify.fake_twilio import FakeTwilio
from alerts.service import AlertService
from device_sim.runner import RunOptions, SimRunner
from envmon.settings import load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from ingest.service import IngestService
from tests.alert_helpers import alert_settings, query, wait_until
from tests.conftest import EXAMPLE_REGISTRY, example_district_database
from tests.patience import slowness

pytestmark = pytest.mark.services

GAS, WATER = "310120CH002S01", "310120EP004W01"  # not the devices of test_sim_end_to_end: device sessions stay apart
SCENARIO = f"""
name = "alerts-end-to-end"
duration_seconds = 150
[[incidents]]
device = "{GAS}"
kind = "gas_leak"
pollutant = "s01001"
at_seconds = 20
duration_seconds = 100
level1_seconds = 40
[[incidents]]
device = "{WATER}"
kind = "spike"
pollutant = "w20117"
at_seconds = 30
duration_seconds = 120
peak_ratio = 2.5
"""
# GB/T 50493 chain of the example district: the park's duty room, the Hangzhou Bay duty room, 马超.
GAS_STEP0 = ["+8613932622297", "+8613935929603", "+8613975196640"]
# Heavy-metal chain: 张伟 and 李娜 of the enforcement squad.
METAL_STEP0 = ["+8613998369006", "+8613902677354"]


@pytest.fixture
def district_db(stack: StackState, admin_url: str) -> Iterator[str]:
    url = example_district_database(admin_url, "envmon_alerts_sim")
    launcher.set_device_credentials(stack, [GAS, WATER])
    yield url


async def _run(stack: StackState, url: str, fake: FakeTwilio, scenario: Path) -> None:
    settings = alert_settings(stack, url, fake, ingest_http_port=0, hj212_port=0, ingest_client_id="alerts-sim",
                              ingest_publish_batches=False)
    alerts = AlertService(settings)
    ingest = IngestService(settings, hj212=False, subscribers=[alerts])
    fake.rewrite = lambda public: public.replace("https://envmon.example", f"http://127.0.0.1:{alerts.http_port}")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(alerts.run(stop)), asyncio.create_task(ingest.run(stop))]
    assert await asyncio.to_thread(alerts.ready.wait, 15)
    assert await asyncio.to_thread(ingest.wait_connected, 10)
    sim_settings = load_settings(environment="test", mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER),
                                 state_dir=stack.state_dir, secret_key=stack.secret_key)
    options = RunOptions(registry_path=EXAMPLE_REGISTRY, scenario=str(scenario), speed=10.0, seed=7,
                         devices=(GAS, WATER), hj212=False)
    await SimRunner(sim_settings, options).run(asyncio.Event())
    await asyncio.to_thread(fake.wait_for_messages, 8, 30)
    await asyncio.sleep(2)  # callbacks, and nothing more should come
    stop.set()
    await asyncio.gather(*tasks)


def test_a_gas_leak_and_a_chromium_spike_text_exactly_the_expected_people(
    stack: StackState, district_db: str, tmp_path: Path
) -> None:
    scenario = tmp_path / "alerts.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    with FakeTwilio(auto_callbacks=("sent", "delivered"), wait_scale=slowness()) as fake:
        asyncio.run(_run(stack, district_db, fake, scenario))
        sent = [(m.to, m.body.splitlines()[0]) for m in fake.messages]
    alerts = query(district_db, "SELECT d.mn, a.rule, a.severity, a.state FROM alerts a JOIN devices d"
                                " ON d.id = a.device_id ORDER BY a.id")
    # The Cr(VI) spike is an instantaneous value against GB 21900's daily-mean limit: a pre-warning (issue 16).
    assert alerts == [(GAS, "gas", "level2", "open"), (WATER, "instant", "warning", "open")]
    def kind(line: str) -> str:
        return "level1" if "【一级报警】" in line else "level2" if "【二级报警】" in line else "cr6" if "六价铬" in line else line

    by_kind: dict[str, list[str]] = {}
    for to, line in sent:
        by_kind.setdefault(kind(line), []).append(to)
    # Each step's recipients in the chain's order, each told once per announcement: 8 SMS, no more.
    assert by_kind == {"level1": GAS_STEP0, "level2": GAS_STEP0, "cr6": METAL_STEP0}
    order = [kind(line) for _, line in sent]
    assert order.index("level2") > max(i for i, k in enumerate(order) if k == "level1"), "level 1 before level 2"
    assert all("[加重]" in line for _, line in sent if kind(line) == "level2"), "level 2 is announced as a rise"
    assert wait_until(lambda: query(district_db, "SELECT DISTINCT status FROM notifications") == [("delivered",)])
