"""HJ 212 ZsRtd/ZsAvg (折算 values) become readings of the corrected codes beside the measured ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from envmon.catalogue import load_catalogue
from envmon.protocols.hj212.message import Message
from envmon.protocols.hj212.readings import message_readings

MN = "310120CH011G01"
NOW = datetime(2026, 5, 20, 2, 30, 5, tzinfo=UTC)


def _upload(cn: str, items: str) -> Message:
    cp = f"DataTime=20260520100000;{items}"
    return Message(st="31", cn=cn, mn=MN, cp=cp, qn="20260520103000123", pw="123456", flag=4)


@pytest.mark.parametrize(
    ("cn", "items", "expected", "problems"),
    [
        pytest.param(
            "2011", "a21026-Rtd=40.0,a21026-ZsRtd=65.5,a21026-Flag=N;a19001-Rtd=10.0,a19001-Flag=N",
            {("a21026", "instant"): (40.0, "N"), ("a21026z", "instant"): (65.5, "N"), ("a19001", "instant"): (10.0, "N")},
            [], id="realtime-rtd-and-zsrtd",
        ),
        pytest.param(
            "2061", "a21002-Min=80,a21002-Avg=95,a21002-Max=120,a21002-ZsMin=90,a21002-ZsAvg=110,a21002-ZsMax=140,"
            "a21002-Flag=N",
            {("a21002", "hour"): (95.0, "N"), ("a21002z", "hour"): (110.0, "N")},
            [], id="hourly-avg-and-zsavg",
        ),
        pytest.param(
            "2051", "a34013-Avg=4.0,a34013-ZsAvg=6.5,a34013-Flag=T",
            {("a34013", "minute"): (4.0, "T"), ("a34013z", "minute"): (6.5, "T")},
            [], id="the-code-flag-applies-to-both",
        ),
        pytest.param(
            "2011", "a21026-ZsRtd=65.5,a21026-Flag=N",
            {("a21026z", "instant"): (65.5, "N")},
            [], id="only-the-corrected-value-sent",
        ),
        pytest.param(
            "2011", "a01012-Rtd=120,a01012-ZsRtd=99",
            {("a01012", "instant"): (120.0, "N")},
            [], id="zs-of-a-code-without-a-corrected-series-is-ignored",
        ),
        pytest.param(
            "2011", "a21026z-Rtd=70,a21026z-Flag=N",
            {("a21026z", "instant"): (70.0, "N")},
            [], id="the-corrected-code-itself",
        ),
    ],
)
def test_zs_fields_become_corrected_readings(
    cn: str, items: str, expected: dict[tuple[str, str], tuple[float, str]], problems: list[str]
) -> None:
    readings, found = message_readings(_upload(cn, items), load_catalogue(), now=NOW)
    assert found == problems
    assert {(r.pollutant, r.basis): (r.value, r.flag) for r in readings} == expected
