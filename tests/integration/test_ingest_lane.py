"""The priority lane end to end: a gas alarm behind a backlog of analyser messages in the broker is committed,
judged and alerted on before the backlog is stored, while every message is still acknowledged in arrival order
and stored once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import psycopg
import pytest

from alerts.notify.fake_twilio import FakeTwilio
from alerts.service import AlertService
from envmon import topics
from envmon.protocols.mqtt_wire import Publish, publish_header, publish_packet
from envmon.protocols.wire_publisher import WirePublisher
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from ingest.mqtt_source import MqttSource
from ingest.pipeline import Pipeline, StoredBatch
from tests.alert_helpers import GAS, WATER, alert_settings, query, start_alerts, wait_until
from tests.ingest_helpers import RunningIngest, start_ingest
from tests.patience import patience

pytestmark = pytest.mark.services
# Enough analyser messages that storing them takes far longer than one small commit and one engine step.
BACKLOG = 20_000


class RecordingSource(MqttSource):
    """The real MQTT source, noting the packet ids it received and acknowledged, in order."""

    def __init__(self, mqtt_url: str, pipeline: Pipeline, *, client_id: str) -> None:
        super().__init__(mqtt_url, pipeline, client_id=client_id)
        self.arrived: list[int] = []
        self.acked: list[int] = []

    def _on_publishes(self, batch: list[Publish], generation: int) -> None:
        self.arrived.extend(p.mid for p in batch)
        super()._on_publishes(batch, generation)

    def ack(self, tokens: list[object]) -> None:
        self.acked.extend(cast(tuple[int, int, int], token)[1] for token in tokens)
        super().ack(tokens)


class BacklogWatch:
    """Subscribed after the alert service: notes the order of deliveries and whether the gas alert was
    committed when the backlog's last message was handed over."""

    def __init__(self, database_url: str, water_id: int, gas_id: int) -> None:
        self._url, self._water_id, self._gas_id = database_url, water_id, gas_id
        self.deliveries: list[str] = []
        self.alerts_when_backlog_done: int | None = None
        self.done = threading.Event()

    def on_batch(self, batch: StoredBatch) -> None:
        readings = batch.readings
        if (readings.device_id == self._gas_id).any():
            self.deliveries.append("gas")
        water = readings.seq[readings.device_id == self._water_id]
        if len(water):
            self.deliveries.append("backlog")
        if len(water) and int(water.max()) == BACKLOG:
            with psycopg.connect(self._url) as conn:
                found = conn.execute("SELECT count(*) FROM alerts WHERE device_id = %s", (self._gas_id,)).fetchone()
                self.alerts_when_backlog_done = found[0] if found else None
            self.done.set()


def message(device: str, seq: int, when: datetime, values: dict[str, float]) -> bytes:
    return json.dumps({"device": device, "seq": seq, "time": when.isoformat(), "values": values}).encode()


def publish_all(stack: StackState, payloads: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 in order, pipelined within the broker's window (paho's one by one took 9 s for the backlog);
    return once the broker acknowledged them all."""
    pub = WirePublisher(stack.mqtt_port, mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
    try:
        packets = [publish_packet(publish_header(topics.device_topic(device, topics.UP)), n % 65535 + 1, payload)
                   for n, (device, payload) in enumerate(payloads)]
        sent = 0
        while sent < len(packets):
            assert wait_until(lambda: pub.window > sent - pub.acked, interval=0.001), "the broker stopped acknowledging"  # noqa: B023
            burst = min(pub.window - (sent - pub.acked), len(packets) - sent)
            pub.send(packets[sent : sent + burst])
            sent += burst
        assert wait_until(lambda: pub.acked >= len(packets), interval=0.001)
        assert pub.refused == 0
    finally:
        pub.close()


@pytest.fixture
def lane_ingest(stack: StackState, alert_db: str) -> Iterator[RunningIngest]:
    ingest = start_ingest(stack, alert_db, client_id="envmon-ingest-lane-test")
    ingest.source.stop()  # its persistent session keeps what is published now: the backlog
    yield ingest
    ingest.shutdown()


def test_a_gas_alarm_passes_the_backlog_yet_every_ack_keeps_arrival_order(
    stack: StackState, alert_db: str, fake: FakeTwilio, lane_ingest: RunningIngest
) -> None:
    [(water_id,)], [(gas_id,)] = (query(alert_db, "SELECT id FROM devices WHERE mn = %s", mn) for mn in (WATER, GAS))
    service: AlertService = start_alerts(alert_settings(stack, alert_db, fake))
    lane_ingest.pipeline.subscribe(service)
    watch = BacklogWatch(alert_db, water_id, gas_id)
    lane_ingest.pipeline.subscribe(watch)
    now = datetime.now(UTC)
    backlog = [
        (WATER, message(WATER, seq, now - timedelta(seconds=BACKLOG - seq), {"w20117": 10.0, "w01001": 7.2}))
        for seq in range(1, BACKLOG + 1)
    ]
    # H2S above level 2, then a gas message the decoder refuses: the lane quarantines it, in order, like the backlog.
    alarm, refused = message(GAS, 1, now, {"s02001": 20.0}), b'{"device": "' + GAS.encode() + b'", "seq": "x"}'
    publish_all(stack, [*backlog, (GAS, alarm), (GAS, refused)])
    source = RecordingSource(stack.mqtt_url_for(mosquitto.SERVICE_USER), lane_ingest.pipeline,
                             client_id="envmon-ingest-lane-test")
    lane_ingest.source = source
    try:
        source.start()
        assert watch.done.wait(patience(60)), "the backlog was not stored"
        assert watch.alerts_when_backlog_done == 1, "the gas alert was not committed before the backlog was stored"
        assert watch.deliveries.index("gas") < len(watch.deliveries) - 1
        assert wait_until(lambda: len(source.acked) >= BACKLOG + 2, timeout=30)
        assert source.acked == source.arrived, "acknowledgements left arrival order"
        assert len(source.acked) == BACKLOG + 2
    finally:
        service.shutdown()
    stored = query(alert_db, "SELECT device_id, count(*), count(DISTINCT seq) FROM readings GROUP BY 1 ORDER BY 1")
    assert sorted(stored) == sorted([(water_id, 2 * BACKLOG, BACKLOG), (gas_id, 1, 1)]), "lost or doubled"
    assert query(alert_db, "SELECT severity FROM alerts WHERE device_id = %s", gas_id) == [("level2",)]
    assert query(alert_db, "SELECT device_mn, raw FROM quarantine") == [(GAS, refused)]
