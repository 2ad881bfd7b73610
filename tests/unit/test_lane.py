"""The priority lane's pure pieces: which devices ride it, arrival-order acknowledgements, the lanes of the inbox
and of the alert engine's intake."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from alerts.intake import Intake, Queued, put_off_since
from envmon.batchwire import decode_batch
from envmon.catalogue import load_catalogue
from envmon.columns import ReadingColumns, Row
from ingest.batch_bus import BatchPublisher
from ingest.batches import StoredBatch
from ingest.directory import DeviceDirectory
from ingest.inbox import Inbox
from ingest.lane import BULK, LANE, AckOrder, lane_devices, life_safety_codes

SAFETY = life_safety_codes(load_catalogue())


def test_the_life_safety_codes_are_the_catalogues_gas_detector_channels() -> None:
    # LEL %, H2S, Cl2, NH3, CO and ambient O2: every pollutant of kind "safety", and nothing else.
    assert {"s01001", "s02001", "s02002", "s02003", "s02004", "s03001"} == SAFETY


@pytest.mark.parametrize(
    ("pollutants", "rides"),
    [
        pytest.param({"s02001"}, True, id="h2s-detector"),
        pytest.param({"s01001", "s02004"}, True, id="lel-and-co-detector"),
        pytest.param({"s03001"}, True, id="oxygen-deficiency-detector"),
        pytest.param({"w20117", "w00000", "w01001"}, False, id="water-analyser"),
        pytest.param({"a21026", "a19001", "a21026z"}, False, id="cems"),
        pytest.param({"w21003", "s02003"}, True, id="any-safety-channel-takes-the-whole-device"),
        pytest.param(set(), False, id="no-channels"),
    ],
)
def test_a_device_rides_the_lane_when_it_reports_a_life_safety_pollutant(pollutants: set[str], rides: bool) -> None:
    assert (lane_devices([("MN1", frozenset(pollutants))], SAFETY) == {"MN1"}) is rides


# (lane, items) of arrivals; then (lane, items committed) steps and the items released after each step.
Arrivals = list[tuple[int, list[str]]]
Steps = list[tuple[int, list[str], list[str]]]


@pytest.mark.parametrize(
    ("arrivals", "steps"),
    [
        pytest.param(
            [(BULK, ["a", "b"]), (LANE, ["G"]), (BULK, ["c"])],
            [(LANE, ["G"], []), (BULK, ["a", "b"], ["a", "b", "G"]), (BULK, ["c"], ["c"])],
            id="lane-committed-first-waits-for-the-backlog-before-it",
        ),
        pytest.param(
            [(LANE, ["G"]), (BULK, ["a", "b"])],
            [(LANE, ["G"], ["G"]), (BULK, ["a", "b"], ["a", "b"])],
            id="lane-first-in-arrival-goes-at-once",
        ),
        pytest.param(
            [(BULK, ["a", "b", "c"]), (LANE, ["G"]), (BULK, ["d"])],
            [(BULK, ["a"], ["a"]), (LANE, ["G"], []), (BULK, ["b", "c", "d"], ["b", "c", "G", "d"])],
            id="a-backlog-batch-ending-midway-releases-up-to-its-end",
        ),
        pytest.param(
            [(BULK, ["a"]), (LANE, ["G"]), (BULK, ["b"]), (LANE, ["H"])],
            [(LANE, ["G", "H"], []), (BULK, ["a", "b"], ["a", "G", "b", "H"])],
            id="interleaved-lanes",
        ),
        pytest.param(
            [(BULK, ["a"]), (BULK, ["b"]), (LANE, ["G"]), (LANE, ["H"])],
            [(BULK, ["a", "b"], ["a", "b"]), (LANE, ["G"], ["G"]), (LANE, ["H"], ["H"])],
            id="neighbours-of-one-lane-merge",
        ),
        pytest.param(
            [(BULK, ["a", "b"])],
            [(BULK, ["a", "b"], ["a", "b"])],
            id="no-lane-traffic-is-plain-fifo",
        ),
    ],
)
def test_acknowledgements_are_released_in_arrival_order(arrivals: Arrivals, steps: Steps) -> None:
    order: AckOrder[str] = AckOrder()
    for lane, items in arrivals:
        order.arrived(lane, len(items))
    for lane, committed, released in steps:
        assert order.committed(lane, committed) == released
    assert order.waiting == 0


def test_the_lane_is_taken_ahead_of_the_backlog_and_arrivals_are_noted_in_order() -> None:
    noted: list[tuple[int, int]] = []
    box: Inbox[str] = Inbox(100, on_arrival=lambda lane, count: noted.append((lane, count)))
    box.put_many(["a", "b"])
    box.put_many(["c", "G", "d", "H"], [False, True, False, True])
    assert (box.backlog_depth, box.lane_depth, len(box)) == (4, 2, 6)
    assert box.take_lane(10, 0.0) == ["G", "H"]
    assert box.take(10, 0.0, 0.0) == ["a", "b", "c", "d"]
    assert noted == [(BULK, 2), (BULK, 1), (LANE, 1), (BULK, 1), (LANE, 1)]
    assert box.take_lane(10, 0.0) == []


def test_a_lane_item_wakes_a_waiting_lane_taker_at_once() -> None:
    box: Inbox[str] = Inbox(100)
    threading.Timer(0.05, box.put_many, args=(["G"], [True])).start()
    assert box.take_lane(10, 5.0) == ["G"]


def test_the_lane_shares_the_capacity_so_backpressure_is_unchanged() -> None:
    box: Inbox[str] = Inbox(2)
    box.put_many(["a", "G"], [False, True])
    done = threading.Event()
    threading.Thread(target=lambda: (box.put_many(["b"]), done.set()), daemon=True).start()
    assert not done.wait(0.1)
    assert box.take_lane(1, 0.0) == ["G"]
    assert done.wait(5.0)


def _queued(name: float) -> Queued:
    return (ReadingColumns.empty(), None, name)


@pytest.mark.parametrize(
    ("puts", "taken"),
    [
        pytest.param([(False, 1.0), (False, 2.0), (True, 3.0)], [3.0, 1.0, 2.0], id="lane-batch-goes-first"),
        pytest.param([(True, 1.0), (True, 2.0), (False, 3.0)], [1.0, 2.0, 3.0], id="lane-batches-keep-their-order"),
        pytest.param([(False, 1.0), (False, 2.0)], [1.0, 2.0], id="backlog-alone-is-fifo"),
    ],
)
def test_the_engine_takes_lane_batches_before_the_backlog(puts: list[tuple[bool, float]], taken: list[float]) -> None:
    intake = Intake(10)
    for lane, name in puts:
        intake.put(_queued(name), lane=lane)
    assert intake.oldest_queued() == min(name for _, name in puts)
    assert [item[2] for item in iter(lambda: intake.get(0.0), None)] == taken
    assert intake.qsize() == 0


def test_a_full_backlog_queue_does_not_hold_a_lane_batch_back() -> None:
    intake = Intake(1)
    intake.put(_queued(1.0))
    put = threading.Thread(target=intake.put, args=(_queued(2.0),), kwargs={"lane": True}, daemon=True)
    put.start()
    put.join(5.0)
    assert not put.is_alive()
    first = intake.get(0.0)
    assert first is not None and first[2] == 2.0


@pytest.mark.parametrize(
    ("waiting", "since", "now", "expected"),
    [
        pytest.param(False, None, 10.0, None, id="no-lane-batch-housekeeping-now"),
        pytest.param(True, None, 10.0, 10.0, id="lane-batch-puts-it-off-from-now"),
        pytest.param(True, 10.0, 10.5, 10.0, id="still-put-off-within-the-bound"),
        pytest.param(True, 10.0, 11.0, None, id="put-off-long-enough-housekeeping-now"),
        pytest.param(False, 10.0, 10.5, None, id="lane-drained-housekeeping-now"),
    ],
)
def test_a_waiting_lane_batch_puts_housekeeping_off_for_a_bounded_time(
    waiting: bool, since: float | None, now: float, expected: float | None
) -> None:
    assert put_off_since(waiting, since, now, 1.0) == expected


def test_lane_batches_go_to_the_bus_on_their_own_topic() -> None:
    when = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    rows = ReadingColumns.from_rows([Row(when, 1, "s02001", "instant", 20.0, "N", 1, when)])
    backlog: list[bytes] = []
    lane: list[bytes] = []
    publisher = BatchPublisher(backlog.append, lane.append)
    publisher.on_batch(StoredBatch(rows, when, DeviceDirectory([]), lane=True))
    publisher.on_batch(StoredBatch(rows, when, DeviceDirectory([])))
    assert (len(backlog), len(lane)) == (1, 1)
    assert decode_batch(lane[0]).value.tolist() == [20.0]


def test_lane_items_weigh_on_the_shared_byte_capacity() -> None:
    box: Inbox[bytes] = Inbox(100, weigh=len, weight_capacity=10)
    box.put_many([b"12345", b"GGGGGG"], [False, True])  # 11 bytes: full
    done = threading.Event()
    threading.Thread(target=lambda: (box.put_many([b"x"]), done.set()), daemon=True).start()
    assert not done.wait(0.1)
    assert box.take_lane(10, 0.0) == [b"GGGGGG"]
    assert done.wait(5.0)
    assert box.take(10, 0.0, 0.0, max_weight=5) == [b"12345"]
