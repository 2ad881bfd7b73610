"""An engine shard sees only its district's devices and their limits."""

from __future__ import annotations

import pytest

from alerts.processor import shard_registry
from alerts.rules.registry import from_registry
from envmon.registry.load import parse_registry
from tests.alert_helpers import ALERT_REGISTRY


@pytest.mark.parametrize(
    ("shard", "devices", "limits"),
    [pytest.param("*", 2, 3, id="all"), pytest.param("t", 2, 3, id="its-district"),
     pytest.param("fengxian", 0, 0, id="another-district")],
)
def test_a_shard_keeps_its_district(shard: str, devices: int, limits: int) -> None:
    registry = shard_registry(from_registry(parse_registry(ALERT_REGISTRY)), shard)
    assert (len(registry.devices), len(registry.limits)) == (devices, limits)
