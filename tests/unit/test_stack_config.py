"""The local stack's PostgreSQL configuration."""

from __future__ import annotations

import pytest

from envmon.stack.postgres import shared_buffers_mb


@pytest.mark.parametrize(
    ("ram_gib", "expected_mb"),
    [
        pytest.param(0.5, 128, id="small-machine-floor"),
        pytest.param(4, 512, id="an-eighth"),
        pytest.param(24, 2048, id="capped"),
    ],
)
def test_local_stack_shared_buffers_follow_memory(ram_gib: float, expected_mb: int) -> None:
    assert shared_buffers_mb(int(ram_gib * 1024**3)) == expected_mb
