"""The forwarding file: targets, device routes and which data, and what is refused."""

from __future__ import annotations

import pytest

from ingest.forward.config import DeviceRoute, ForwardConfigError, TargetConfig, parse_targets

GOOD = """
[[targets]]
name = "province"
host = "10.0.0.5"
port = 9212

[[targets.devices]]
mn = "LOCAL1"
upstream_mn = "UP1"
upstream_pw = "123456"
data = ["realtime", "hour"]

[[targets.devices]]
mn = "LOCAL2"
upstream_mn = "UP2"
upstream_pw = "654321"
st = "31"
"""


def test_a_target_with_routes_and_default_data() -> None:
    assert parse_targets(GOOD) == [
        TargetConfig("province", "10.0.0.5", 9212, "2017", (
            DeviceRoute("LOCAL1", "UP1", "123456", ("instant", "hour")),
            DeviceRoute("LOCAL2", "UP2", "654321", ("instant", "minute", "hour", "day"), st="31"),
        ))
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('[[targets]]\nname = "a"\nhost = "h"\nport = 70000\n', "port", id="port-out-of-range"),
        pytest.param('[[targets]]\nname = "a"\nport = 1\n', "host is required", id="host-missing"),
        pytest.param('[[targets]]\nname = "a"\nhost = "h"\nport = 1\nversion = "2019"\n', "version", id="bad-version"),
        pytest.param('[[targets]]\nname = "a"\nhost = "h"\nport = 1\n[[targets]]\nname = "a"\nhost = "h"\nport = 2\n',
                     "unique", id="duplicate-name"),
        pytest.param('[[targets]]\nname = "a"\nhost = "h"\nport = 1\n[[targets.devices]]\nmn = "L"\n'
                     'upstream_mn = "U"\nupstream_pw = "p"\ndata = ["hourly"]\n', "data must list", id="unknown-data"),
        pytest.param('[[targets]]\nname = "a"\nhost = "h"\nport = 1\n[[targets.devices]]\nmn = "L"\n'
                     'upstream_mn = "U"\n', "upstream_pw", id="pw-missing"),
        pytest.param("targets = [", "not TOML", id="not-toml"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ForwardConfigError, match=message):
        parse_targets(text)
