"""Forwarding frames: queued readings into HJ 212 uploads, grouping, order, units, QNs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from envmon.catalogue import load_catalogue
from envmon.protocols.hj212 import decode_message, format_qn, message_readings, parse_cp
from ingest.forward.frames import QnClock, Queued, Route, plan_frames, protocol_value, resend_frames

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
ROUTES = {1: Route(1, "UP-MN-1", "pw1", "32"), 2: Route(2, "UP-MN-2", "pw2", "32")}
CATALOGUE = load_catalogue()


def _q(id_: int, device: int, pollutant: str, *, basis: str = "instant", seconds: int = 0, value: float = 1.0,
       qn: str | None = None) -> Queued:
    return Queued(id_, device, T0 + timedelta(seconds=seconds), pollutant, basis, value, "N", qn)


def _counter() -> QnClock:
    return QnClock(lambda: T0)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([_q(1, 1, "w01001"), _q(2, 1, "w20116")], [("UP-MN-1", "2011", (1, 2))], id="one-time-one-frame"),
        pytest.param([_q(1, 1, "w01001"), _q(2, 1, "w01001", seconds=30)],
                     [("UP-MN-1", "2011", (1,)), ("UP-MN-1", "2011", (2,))], id="two-times-two-frames-in-order"),
        pytest.param([_q(5, 2, "w01001"), _q(3, 1, "w01001"), _q(4, 1, "w20116")],
                     [("UP-MN-1", "2011", (3, 4)), ("UP-MN-2", "2011", (5,))], id="ordered-by-first-queue-id"),
        pytest.param([_q(1, 1, "w01001", basis="minute"), _q(2, 1, "w01001", basis="hour"),
                      _q(3, 1, "w01001", basis="day")],
                     [("UP-MN-1", "2051", (1,)), ("UP-MN-1", "2061", (2,)), ("UP-MN-1", "2031", (3,))],
                     id="basis-to-cn"),
        pytest.param([_q(1, 9, "w01001"), _q(2, 1, "w01001")], [("UP-MN-1", "2011", (2,))], id="unrouted-device-left"),
    ],
)
def test_plan_frames_groups_by_device_basis_and_time(rows: list[Queued], expected: list[tuple[str, str, tuple[int, ...]]]
                                                     ) -> None:
    frames = plan_frames(rows, ROUTES, "2017", CATALOGUE, _counter())
    got = [(decode_message(f.data).mn, decode_message(f.data).cn, f.ids) for f in frames]
    assert got == expected
    assert len({f.qn for f in frames}) == len(frames)


def test_frame_carries_upstream_pw_reply_flag_and_round_trips_to_the_stored_values() -> None:
    rows = [_q(1, 1, "w20117", value=0.0425), _q(2, 1, "w01001", value=7.2)]
    [frame] = plan_frames(rows, ROUTES, "2017", CATALOGUE, _counter())
    msg = decode_message(frame.data)
    assert (msg.pw, msg.st, msg.wants_reply, msg.version, msg.qn) == ("pw1", "32", True, "2017", frame.qn)
    readings, problems = message_readings(msg, CATALOGUE, now=T0)
    assert problems == []
    assert sorted((r.pollutant, r.value, r.time, r.basis) for r in readings) == [
        ("w01001", 7.2, T0, "instant"), ("w20117", pytest.approx(0.0425), T0, "instant")]
    assert "w20117-Rtd=42.5," in msg.cp  # ug/L on the wire, mg/L stored


def test_corrected_series_goes_out_as_the_measured_codes_zs_field() -> None:
    corrected = next(p for p in CATALOGUE.corrected.values())
    value = protocol_value(_q(1, 1, corrected, basis="hour", value=12.0), CATALOGUE)
    assert (value.code, value.field) == (CATALOGUE.get(corrected).corrected_from, "ZsAvg")


def test_too_many_values_for_one_frame_are_cut_into_frames_that_fit() -> None:
    codes = [p.code for p in CATALOGUE.pollutants if p.corrected_from is None]
    rows = [_q(i, 1, code, value=123456.789 + i) for i, code in enumerate(codes)]
    frames = plan_frames(rows, {1: Route(1, "M" * 24, "P" * 16, "32")}, "2017", CATALOGUE, _counter())
    assert len(frames) > 1, f"{len(codes)} values should not fit one frame"
    assert [i for f in frames for i in f.ids] == [r.id for r in rows]
    assert all(len(f.data) <= 1036 for f in frames)
    assert len({f.qn for f in frames}) == len(frames)


def test_resend_rebuilds_the_same_frame_with_the_same_qn() -> None:
    rows = [_q(1, 1, "w01001"), _q(2, 1, "w20116"), _q(3, 2, "w01001", seconds=30)]
    planned = plan_frames(rows, ROUTES, "2017", CATALOGUE, _counter())
    qn_of = {i: f.qn for f in planned for i in f.ids}
    again = resend_frames([dataclasses.replace(r, qn=qn_of[r.id]) for r in rows], ROUTES, "2017", CATALOGUE)
    assert [(f.qn, f.ids, f.data) for f in again] == [(f.qn, f.ids, f.data) for f in planned]


@pytest.mark.parametrize(
    ("last", "now", "expected"),
    [
        pytest.param("", T0, format_qn(T0), id="fresh"),
        pytest.param(format_qn(T0), T0, format_qn(T0 + timedelta(milliseconds=1)), id="same-ms-moves-on"),
        pytest.param(format_qn(T0 + timedelta(seconds=5)), T0, format_qn(T0 + timedelta(seconds=5, milliseconds=1)),
                     id="clock-behind-last-qn"),
        pytest.param(format_qn(T0), T0 + timedelta(seconds=1), format_qn(T0 + timedelta(seconds=1)), id="clock-ahead"),
    ],
)
def test_qn_clock_never_repeats(last: str, now: datetime, expected: str) -> None:
    assert QnClock(lambda: now, last)() == expected


def test_data_time_is_the_readings_time_in_cst() -> None:
    [frame] = plan_frames([_q(1, 1, "w01001", seconds=90)], ROUTES, "2017", CATALOGUE, _counter())
    assert parse_cp(decode_message(frame.data).cp).data_time == T0 + timedelta(seconds=90)
