"""The engine's catch-up from the database (alerts/catchup.py): where it starts, the rows it turns into a batch,
and that evaluating readings again (the catch-up overlaps what the bus delivered) judges nothing twice."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from alerts.catchup import catch_up_since
from alerts.rules.engine import Engine
from tests.unit.test_alert_engine import CEMS, WATER, Row, at, batch, kinds, policy, registry

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("saved_at", "margin_seconds", "floor", "expected"),
    [
        pytest.param(None, 300.0, None, NOW - timedelta(seconds=300), id="no-snapshot-yet-the-margin-before-now"),
        pytest.param(NOW - timedelta(hours=2), 300.0, None, NOW - timedelta(hours=2, seconds=300),
                     id="engine-down-two-hours-everything-since-its-snapshot"),
        pytest.param(NOW - timedelta(seconds=5), 330.0, None, NOW - timedelta(seconds=335),
                     id="recent-snapshot-less-margin"),
        pytest.param(NOW + timedelta(minutes=10), 300.0, None, NOW - timedelta(seconds=300),
                     id="snapshot-from-a-clock-ahead-counts-from-now"),
        pytest.param(NOW - timedelta(seconds=5), 300.0, NOW - timedelta(hours=2), NOW - timedelta(hours=2),
                     id="unfinished-catch-up-resumes-from-its-start-though-its-chunks-saved-snapshots"),
        pytest.param(NOW - timedelta(hours=3), 300.0, NOW - timedelta(hours=2), NOW - timedelta(hours=3, seconds=300),
                     id="an-older-snapshot-than-the-floor-wins"),
    ],
)
def test_catch_up_starts_a_margin_before_the_last_snapshot(
    saved_at: datetime | None, margin_seconds: float, floor: datetime | None, expected: datetime
) -> None:
    assert catch_up_since(saved_at, NOW, margin_seconds, floor=floor) == expected


CR_OVER = [(float(i * 60), WATER, "w20117", 1.5, "N") for i in range(3)]  # three Cr(VI) readings above 1.0 mg/L


def _restored(seen: Sequence[Row], extra_policy: str = "") -> Engine:
    """An engine that evaluated `seen` (one batch per reading), then restarted from its snapshot."""
    engine = Engine(registry(), policy(extra_policy))
    for row in seen:
        engine.evaluate(batch([row]), at(row[0]))
    return Engine.restore(registry(), policy(extra_policy), json.loads(json.dumps(engine.snapshot())))


@pytest.mark.parametrize(
    ("seen", "caught_up", "expected"),
    [
        pytest.param(CR_OVER[:2], CR_OVER, ["open:instant:exceedance"], id="third-reading-lost-by-the-broker-opens"),
        pytest.param(CR_OVER, CR_OVER, [], id="all-seen-the-catch-up-opens-nothing-again"),
        pytest.param([], CR_OVER, ["open:instant:exceedance"], id="none-seen-opens-once"),
        pytest.param(CR_OVER[:2], CR_OVER[2:] + CR_OVER, ["open:instant:exceedance"],
                     id="bus-and-catch-up-overlap-opens-once"),
    ],
)
def test_catch_up_judges_each_reading_once(seen: list[Row], caught_up: list[Row], expected: list[str]) -> None:
    engine = _restored(seen)
    out = []
    for chunk in (caught_up[:2], caught_up[2:]):  # two chunks, as the catch-up reads them
        if chunk:
            out += engine.evaluate(batch(chunk), at(300))
    assert kinds(out) == expected


# Fifty minutes of dust in one clock hour (mean 35 mg/m3 over the hourly limit of 30), one reading a minute.
DUST = [(m * 60.0, CEMS, "a34013", 40.0 if m % 2 else 30.0, "N") for m in range(50)]


@pytest.mark.parametrize(
    ("seen", "caught_up"),
    [
        pytest.param(DUST, DUST, id="whole-hour-read-again"),
        pytest.param(DUST[:30], DUST, id="hour-partly-seen"),
        pytest.param(DUST[::2], DUST[1::2] + DUST, id="bus-and-catch-up-interleaved"),
    ],
)
def test_catch_up_counts_each_reading_once_in_the_hourly_mean(seen: list[Row], caught_up: list[Row]) -> None:
    engine = _restored(seen, "[averages]\ngrace_seconds = 0")
    engine.evaluate(batch(caught_up), at(3000))
    out = [t for t in engine.tick(at(3600)) if t.key.rule == "hour_avg"]
    assert kinds(out) == ["open:hour_avg:exceedance"]
    assert out[0].detail["valid_count"] == len(DUST)
    assert out[0].value == pytest.approx(float(np.mean([r[3] for r in DUST])))


# WATER reports every 60 s: it is silent 600 s after it was last heard of (tests/unit/test_alert_engine.py).
@pytest.mark.parametrize(
    ("received_offset_s", "expected"),
    [
        pytest.param(700.0, [], id="live-batch-received-now-the-device-is-alive"),
        pytest.param(100.0, ["open:silent:fault"], id="caught-up-reading-received-long-ago-does-not-hide-a-silence"),
        pytest.param(650.0, [], id="caught-up-reading-received-recently-keeps-the-device-alive"),
    ],
)
def test_caught_up_readings_count_as_alive_when_they_were_received(
    received_offset_s: float, expected: list[str]
) -> None:
    engine = Engine(registry(), policy())
    engine.evaluate(batch([(0, WATER, "w20117", 0.1, "N")]), at(0))
    engine.evaluate(batch([(100, WATER, "w20117", 0.1, "N")], received_offset_s=received_offset_s), at(700))
    assert kinds([t for t in engine.tick(at(701)) if t.key.device_id == WATER]) == expected


@pytest.mark.parametrize(
    ("received_offset_s", "expected"),
    [
        pytest.param(700.0, ["clear:silent:fault"], id="live-batch-received-now-clears"),
        pytest.param(50.0, [], id="caught-up-reading-from-before-the-silence-does-not-clear"),
        pytest.param(690.0, ["clear:silent:fault"], id="caught-up-reading-received-after-it-clears"),
    ],
)
def test_caught_up_readings_clear_a_silent_alert_only_when_received_recently(
    received_offset_s: float, expected: list[str]
) -> None:
    engine = Engine(registry(), policy())
    engine.evaluate(batch([(0, WATER, "w20117", 0.1, "N")]), at(0))
    assert kinds([t for t in engine.tick(at(601)) if t.key.device_id == WATER]) == ["open:silent:fault"]
    out = engine.evaluate(batch([(100, WATER, "w20117", 0.1, "N")], received_offset_s=received_offset_s), at(700))
    assert kinds([t for t in out if t.key.rule == "silent"]) == expected
