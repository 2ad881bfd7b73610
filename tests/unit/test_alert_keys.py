"""The key state machine on its own (alerts/rules/keys.py): observations and times in, transitions out."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from alerts.model import AlertKey
from alerts.rules.frame import RULE_ROW, ActiveMasks, EngineFrame
from alerts.rules.keys import KeyBook, Observation
from envmon.catalogue import load_catalogue
from tests.unit.test_alert_engine import WATER, policy, registry

KEY = AlertKey(WATER, "w20117", "instant")
# ("obs", time_s, tier, held) hands the key one observation; ("tick", time_s) runs the timers.
Step = tuple[str, float] | tuple[str, float, int, int]


def book() -> KeyBook:
    """A key book over the test district, with the default policy (instant: 3 samples, clear hold 60 s)."""
    p = policy()
    return KeyBook(p, ActiveMasks(EngineFrame(registry(), p, load_catalogue().pollutants)))


def run(keys: KeyBook, steps: Sequence[Step]) -> list[str]:
    """The transitions of the steps, as kind:severity@time."""
    out = []
    for step in steps:
        if step[0] == "obs":
            _, time_s, tier, held = step  # type: ignore[misc]
            keys.observe(KEY, Observation(time_s, tier, held, 1.0 + tier))
        else:
            keys.mature(step[1])
        out += [f"{t.kind}:{t.severity}@{t.time.timestamp():g}" for t in keys.flush()]
    return out


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([("obs", 0, 2, 0), ("obs", 10, 2, 0), ("obs", 20, 2, 0)], ["open:exceedance@20"],
                     id="three-breaching-samples-open"),
        pytest.param([("obs", 0, 2, 0), ("obs", 10, 0, 0), ("obs", 20, 2, 0), ("obs", 30, 2, 0)], [],
                     id="a-normal-sample-forgets-the-pending-key"),
        pytest.param([("obs", 0, 2, 0), ("obs", 10, 2, 0), ("obs", 20, 2, 0), ("obs", 15, 0, 0), ("tick", 200)],
                     ["open:exceedance@20"], id="an-older-observation-changes-nothing"),
        pytest.param([("obs", 0, 2, 0), ("obs", 10, 2, 0), ("obs", 20, 2, 0), ("obs", 30, 0, 0), ("tick", 89)],
                     ["open:exceedance@20"], id="no-clear-before-the-clear-hold"),
        pytest.param([("obs", 0, 2, 0), ("obs", 10, 2, 0), ("obs", 20, 2, 0), ("obs", 30, 0, 0), ("tick", 90)],
                     ["open:exceedance@20", "clear:exceedance@90"], id="clear-after-the-clear-hold-on-a-tick"),
        pytest.param([("obs", 0, 3, 0), ("obs", 10, 3, 0), ("obs", 20, 3, 0), ("obs", 30, 2, 2), ("tick", 90)],
                     ["open:severe@20", "severity:exceedance@90"], id="a-step-down-waits-for-the-clear-hold"),
        pytest.param([("obs", 0, 2, 0), ("obs", 10, 2, 0), ("obs", 20, 2, 0), ("obs", 30, 3, 3)],
                     ["open:exceedance@20", "severity:severe@30"], id="a-step-up-is-at-once"),
    ],
)
def test_key_book_moves_a_key(steps: Sequence[Step], expected: list[str]) -> None:
    assert run(book(), steps) == expected


def test_the_masks_follow_the_keys_that_are_not_inactive() -> None:
    keys = book()
    series = keys.masks.series[RULE_ROW["instant"]]
    run(keys, [("obs", 0, 2, 0)])
    assert series.sum() == 1 and KEY in keys.states
    run(keys, [("obs", 10, 0, 0)])
    assert series.sum() == 0 and KEY not in keys.states
