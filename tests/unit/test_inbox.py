"""The bounded inbox between sources and the writer: order, batching, backpressure."""

from __future__ import annotations

import threading
import time

from ingest.inbox import Inbox


def test_items_come_out_in_order_in_batches() -> None:
    box: Inbox[int] = Inbox(100)
    box.put_many([1, 2, 3])
    box.put_many([4, 5])
    assert box.take(4, 0.1, 0.0) == [1, 2, 3, 4]
    assert box.take(4, 0.1, 0.0) == [5]
    assert box.take(4, 0.01, 0.0) == []


def test_take_lingers_for_the_batch_to_fill() -> None:
    box: Inbox[int] = Inbox(100)
    box.put_many([1])
    threading.Timer(0.05, box.put_many, args=([2, 3],)).start()
    assert box.take(3, 0.1, 1.0) == [1, 2, 3]


def test_a_full_inbox_blocks_the_source_until_the_writer_takes() -> None:
    box: Inbox[int] = Inbox(2)
    box.put_many([1, 2])
    done = threading.Event()
    threading.Thread(target=lambda: (box.put_many([3]), done.set()), daemon=True).start()
    time.sleep(0.1)
    assert not done.is_set()
    assert box.take(1, 0.1, 0.0) == [1]
    assert done.wait(1.0)
    assert box.take(5, 0.1, 0.0) == [2, 3]


def test_the_linger_counts_from_the_oldest_item_not_from_the_take() -> None:
    box: Inbox[int] = Inbox(100)
    box.put_many([1])
    time.sleep(0.2)  # the writer was busy with the previous batch meanwhile
    threading.Timer(0.5, box.put_many, args=([2],)).start()
    started = time.monotonic()
    assert box.take(10, 0.1, 0.25) == [1]  # 0.25 s after item 1 arrived, which is already past
    assert time.monotonic() - started < 0.2


def test_items_left_behind_keep_their_own_arrival_time() -> None:
    box: Inbox[int] = Inbox(100)
    box.put_many([1, 2])
    time.sleep(0.3)
    box.put_many([3])
    assert box.take(1, 0.1, 0.0) == [1]
    started = time.monotonic()
    assert box.take(10, 0.1, 0.2) == [2, 3]  # item 2 is 0.3 s old: no more waiting
    assert time.monotonic() - started < 0.15
    box.put_many([4])
    started = time.monotonic()
    assert box.take(10, 0.1, 0.2) == [4]  # a fresh item waits the whole linger
    assert time.monotonic() - started >= 0.19


def test_a_batch_stops_at_its_weight_but_takes_at_least_one_item() -> None:
    box: Inbox[bytes] = Inbox(100, weigh=len)
    box.put_many([b"x" * 40, b"y" * 40, b"z" * 40, b"w" * 500])
    assert box.take(10, 0.1, 0.0, max_weight=100) == [b"x" * 40, b"y" * 40]  # a third would weigh 120
    assert box.take(10, 0.1, 0.0, max_weight=100) == [b"z" * 40]
    assert box.take(10, 0.1, 0.0, max_weight=100) == [b"w" * 500]  # heavier than a batch alone: taken alone


def test_an_inbox_full_by_weight_blocks_the_source_until_the_writer_takes() -> None:
    box: Inbox[bytes] = Inbox(100, weigh=len, weight_capacity=100)
    box.put_many([b"a" * 60, b"b" * 60])  # one call may overshoot: 120 of 100
    done = threading.Event()
    threading.Thread(target=lambda: (box.put_many([b"c"]), done.set()), daemon=True).start()
    time.sleep(0.1)
    assert not done.is_set()  # full by weight although only 2 of 100 items wait
    assert box.take(1, 0.1, 0.0) == [b"a" * 60]  # 60 left: room again
    assert done.wait(1.0)
    assert box.take(5, 0.1, 0.0) == [b"b" * 60, b"c"]


def test_a_batch_lingers_only_until_it_has_its_weight() -> None:
    box: Inbox[bytes] = Inbox(100, weigh=len)
    box.put_many([b"a" * 60])
    threading.Timer(0.05, box.put_many, args=([b"b" * 60],)).start()
    started = time.monotonic()
    assert box.take(10, 0.1, 5.0, max_weight=100) == [b"a" * 60]  # the second would overweigh the batch
    assert time.monotonic() - started < 2.0  # woken by the weight, not the 5 s linger
