"""HJ 212 frames the simulated loggers send pass the platform's codec with a correct CRC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from device_sim.hj212_frames import DATA_FLAG, corrupt_frames, qn_of, realtime_frame, summary_frame
from device_sim.samples import Sample
from device_sim.summaries import Summary
from envmon.catalogue import load_catalogue
from envmon.protocols.hj212 import (
    FrameError,
    FrameReader,
    FrameReceived,
    HJ212Error,
    crc_hex,
    decode_message,
    message_readings,
)

T = datetime(2026, 11, 22, 2, 0, 30, tzinfo=UTC)
CODES = ("w20117", "w20116", "w20121", "w20122", "w20123", "w20115", "w01001", "w01018", "w00000")
SAMPLE = Sample("310120EP003W01", 7, T.timestamp(), CODES,
                (21.5, 0.1234, 0.05, 0.14, 0.33, 2.7, 7.31, 52.4, 5.6), ("N",) * 8 + ("C",))


def test_realtime_frame_has_the_right_crc_and_reads_back_in_canonical_units() -> None:
    frame = realtime_frame(SAMPLE, st="32", pw="615708", qn=qn_of(round(T.timestamp() * 1000)))
    segment = frame[6:-6]
    assert frame[-6:-2].decode() == crc_hex(segment)
    msg = decode_message(frame)
    assert (msg.cn, msg.st, msg.mn, msg.pw, msg.flag, msg.qn) == ("2011", "32", SAMPLE.device, "615708", 5,
                                                                  "20261122100030000")
    assert msg.wants_reply and msg.version == "2017"
    readings, problems = message_readings(msg, load_catalogue(), now=T)
    assert problems == []
    by_code = {r.pollutant: r for r in readings}
    assert by_code["w20117"].value == pytest.approx(0.0215)  # 21.5 ug/L -> mg/L
    assert by_code["w20115"].value == pytest.approx(0.0027)
    assert by_code["w00000"].flag == "C" and by_code["w20116"].flag == "N"
    assert {r.time for r in readings} == {T} and {r.basis for r in readings} == {"instant"}


def test_summary_frame_carries_avg_min_max_and_reads_back_as_minute_data() -> None:
    summary = Summary("minute", T.timestamp() - 30, ("w20117", "w01001"), (20.0, 7.3), (18.5, 7.2), (22.0, 7.4),
                      ("N", "D"))
    frame = summary_frame(summary, mn="310120EP003W01", st="32", pw="615708", qn="20261122100100001")
    msg = decode_message(frame)
    assert msg.cn == "2051" and msg.flag == DATA_FLAG
    assert "w20117-Avg=20.0,w20117-Min=18.5,w20117-Max=22.0,w20117-Flag=N" in msg.cp
    readings, problems = message_readings(msg, load_catalogue(), now=T)
    assert problems == [] and {r.basis for r in readings} == {"minute"}
    assert {r.pollutant: (r.value, r.flag) for r in readings} == {"w20117": (pytest.approx(0.02), "N"),
                                                                  "w01001": (7.3, "D")}


def test_hour_summary_is_cn_2061() -> None:
    summary = Summary("hour", T.timestamp() - 1830, ("a34013",), (9.0,), (8.0,), (10.0,), ("N",))
    assert decode_message(summary_frame(summary, mn="M1", st="31", pw="1", qn="20261122100100001")).cn == "2061"


def test_the_largest_device_fits_in_one_frame() -> None:
    summary = Summary("minute", T.timestamp(), CODES, (123456.1234,) * 9, (123456.1234,) * 9, (123456.1234,) * 9,
                      ("N",) * 9)
    assert len(summary_frame(summary, mn="310120EP003W01", st="32", pw="615708", qn="20261122100100001")) <= 1036


def test_corrupt_frames_are_each_refused_by_the_codec() -> None:
    good = realtime_frame(SAMPLE, st="32", pw="615708", qn="20261122100030000")
    for bad in corrupt_frames(good, 3):
        with pytest.raises((HJ212Error, FrameError)):
            decode_message(bad)


def test_a_stream_of_frames_splits_back_into_the_same_frames() -> None:
    frames = [realtime_frame(SAMPLE, st="32", pw="615708", qn=f"2026112210003000{i}") for i in range(3)]
    reader = FrameReader()
    data = b"".join(frames)
    events = [e for i in range(0, len(data), 50) for e in reader.feed(data[i : i + 50])]
    assert [e.frame for e in events if isinstance(e, FrameReceived)] == frames
