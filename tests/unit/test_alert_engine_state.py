"""A snapshot saved by the single-class engine (before alerts/rules/engine.py was split by concern) restores.

tests/unit/data/engine_snapshot_v1.json was written by the engine of commit 3377b73 after this scenario
(times in seconds after T0): a stack monitor's minute values of 40 mg/m3 against its hourly limit of 30 for
58 minutes; at 3400 oxygen low at a gas detector (opens, clears at 3407); Cr(VI) 1.5 at 3410-3430 (opens),
0.5 at 3440 (its clear hold starts) and a late 1.8 at 3435 (peak); pH 5.0 at 3445 and 3455 (pending, two of
three samples); flow flagged M at 3445 (the device's flag hold starts); messages 7-9 lost (seq_gap); a tick
at 3457.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alerts.rules.engine import Engine
from tests.unit.test_alert_engine import CEMS, WATER, at, batch, kinds, policy, registry

SNAPSHOT = Path(__file__).resolve().parent / "data" / "engine_snapshot_v1.json"


def _saved() -> dict[str, Any]:
    snap: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return snap


def test_an_old_snapshot_is_written_back_unchanged() -> None:
    restored = Engine.restore(registry(), policy(), _saved())
    again = json.loads(json.dumps(restored.snapshot()))
    # A restart forgets when the engine started: silence counts from the new start (alerts/rules/state.py).
    assert again.pop("started_s") is None
    assert again == {k: v for k, v in _saved().items() if k != "started_s"}


def test_an_old_snapshot_continues_every_hold_clear_and_mean() -> None:
    restored = Engine.restore(registry(), policy(), _saved())
    assert kinds(restored.evaluate(batch([(3465, WATER, "w01001", 5.0, "N")]), at(3465))) == \
        ["open:instant:exceedance"], "the pending pH key had two samples: the third opens it"
    assert kinds(restored.tick(at(3500))) == ["clear:instant:exceedance"], "Cr(VI) clear hold ran from 3440"
    assert kinds(restored.tick(at(3570))) == ["open:flag:fault"], "the flag hold ran from 3445"
    hour = restored.tick(at(4000))
    assert [(t.kind, t.key.device_id, t.key.rule, t.severity, t.value) for t in hour] == \
        [("open", CEMS, "hour_avg", "exceedance", 40.0)], "the hour's sums were restored"
    assert hour[0].detail["valid_count"] == 58


def test_an_old_snapshot_keeps_the_recent_readings_and_late_counts() -> None:
    restored = Engine.restore(registry(), policy(), _saved())
    assert (restored.late_judged, restored.late_unjudged) == (1, 0)
    restored.evaluate(batch([(3435, WATER, "w20117", 1.8, "N")]), at(3470))
    assert restored.late_judged == 1, "a late reading the snapshot's recent readings hold is not judged twice"
