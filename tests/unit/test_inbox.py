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
