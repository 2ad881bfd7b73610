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
