"""The forward service's metrics keep their exposed names, kinds and target label."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from ingest.forward.metrics import ForwardMetrics


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        pytest.param("envmon_forward_backlog_readings", "gauge", id="backlog"),
        pytest.param("envmon_forward_unacked_frames", "gauge", id="unacked"),
        pytest.param("envmon_forward_lag_seconds", "gauge", id="lag"),
        pytest.param("envmon_forward_connected", "gauge", id="connected"),
        pytest.param("envmon_forward_frames_sent", "counter", id="sent"),
        pytest.param("envmon_forward_frames_resent", "counter", id="resent"),
        pytest.param("envmon_forward_frames_acked", "counter", id="acked"),
        pytest.param("envmon_forward_refusals", "counter", id="refusals"),
        pytest.param("envmon_forward_reconnects", "counter", id="reconnects"),
    ],
)
def test_metric_is_exposed_per_target_under_its_name(name: str, kind: str) -> None:
    metrics = ForwardMetrics()
    for metric in vars(metrics).values():
        if hasattr(metric, "labels"):
            metric.labels("province")
    text = generate_latest(metrics.registry).decode()
    sample = f"{name}_total" if kind == "counter" else name
    assert f"# TYPE {sample} {kind}" in text
    assert f'{sample}{{target="province"}} 0.0' in text
