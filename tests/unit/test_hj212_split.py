"""Split messages (PNUM/PNO): reassembly in any order, duplicates, expiry of incomplete groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envmon.protocols.hj212.cp import parse_cp
from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.message import Message
from envmon.protocols.hj212.split import IncompleteGroup, SplitAssembler

NOW = datetime(2026, 5, 20, 2, 30, tzinfo=UTC)
QN = "20260520103000123"


def packet(pno: int, pnum: int, cp: str, *, mn: str = "310120EP001W01", qn: str = QN) -> Message:
    return Message(st="32", cn="2011", mn=mn, cp=cp, qn=qn, pw="123456", flag=7, pnum=pnum, pno=pno)


def test_message_that_is_not_split_passes_straight_through() -> None:
    message = Message(st="32", cn="2011", mn="A1", cp="w01018-Rtd=1", flag=5)
    assert SplitAssembler().add(message, NOW) is message


def test_packets_in_order_give_one_message_at_the_last_packet() -> None:
    assembler = SplitAssembler()
    assert assembler.add(packet(1, 3, "DataTime=20260520103000;w01018-Rtd=1"), NOW) is None
    assert assembler.add(packet(2, 3, "w20117-Rtd=42.5,w20117-Flag=N"), NOW) is None
    whole = assembler.add(packet(3, 3, "w01001-Rtd=7.2"), NOW)
    assert whole == Message(
        st="32",
        cn="2011",
        mn="310120EP001W01",
        cp="DataTime=20260520103000;w01018-Rtd=1;w20117-Rtd=42.5,w20117-Flag=N;w01001-Rtd=7.2",
        qn=QN,
        pw="123456",
        flag=5,
    )
    assert len(assembler) == 0


def test_data_time_repeated_in_each_packet_is_kept_once() -> None:
    assembler = SplitAssembler()
    assembler.add(packet(1, 2, "DataTime=20260520103000;w01018-Rtd=1"), NOW)
    whole = assembler.add(packet(2, 2, "DataTime=20260520103000;w20117-Rtd=2"), NOW)
    assert whole is not None
    assert [v.code for v in parse_cp(whole.cp).values] == ["w01018", "w20117"]


def test_repeated_packet_is_ignored() -> None:
    assembler = SplitAssembler()
    assert assembler.add(packet(1, 2, "a=1"), NOW) is None
    assert assembler.add(packet(1, 2, "a=1"), NOW) is None
    whole = assembler.add(packet(2, 2, "b=2"), NOW)
    assert whole is not None and whole.cp == "a=1;b=2"


def test_groups_are_kept_apart_by_device_and_qn() -> None:
    assembler = SplitAssembler()
    assembler.add(packet(1, 2, "a=1", mn="A1"), NOW)
    assembler.add(packet(1, 2, "b=1", mn="B1"), NOW)
    assembler.add(packet(1, 2, "c=1", qn="20260520103100000"), NOW)
    whole = assembler.add(packet(2, 2, "b=2", mn="B1"), NOW)
    assert whole is not None and (whole.mn, whole.cp) == ("B1", "b=1;b=2")
    assert len(assembler) == 2


def test_pnum_that_changes_within_a_group_is_refused() -> None:
    assembler = SplitAssembler()
    assembler.add(packet(1, 3, "a=1"), NOW)
    with pytest.raises(FieldError, match="PNUM 4 differs from 3"):
        assembler.add(packet(2, 4, "b=1"), NOW)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=12).flatmap(lambda n: st.permutations(list(range(1, n + 1)))))
def test_packets_in_any_order_reassemble_once_complete(order: list[int]) -> None:
    pnum = len(order)
    assembler = SplitAssembler()
    results = [assembler.add(packet(pno, pnum, f"w{pno:05d}-Rtd={pno}"), NOW) for pno in order]
    assert results[:-1] == [None] * (pnum - 1)
    whole = results[-1]
    assert whole is not None and whole.pnum is None and not whole.is_split
    assert whole.cp == ";".join(f"w{pno:05d}-Rtd={pno}" for pno in range(1, pnum + 1))


def test_incomplete_groups_expire_after_the_timeout() -> None:
    assembler = SplitAssembler(timeout_seconds=60)
    assembler.add(packet(1, 3, "a=1"), NOW)
    assembler.add(packet(3, 3, "c=1"), NOW + timedelta(seconds=30))
    assert assembler.expire(NOW + timedelta(seconds=60)) == []
    expired = assembler.expire(NOW + timedelta(seconds=61))
    assert expired == [IncompleteGroup(mn="310120EP001W01", qn=QN, pnum=3, received=(1, 3), first_seen=NOW)]
    assert expired[0].describe() == (
        f"split message QN={QN} from MN=310120EP001W01 incomplete: missing packet(s) 2 of 3"
    )
    assert len(assembler) == 0


def test_expiry_keeps_young_groups() -> None:
    assembler = SplitAssembler(timeout_seconds=60)
    assembler.add(packet(1, 2, "a=1", mn="OLD"), NOW)
    assembler.add(packet(1, 2, "a=1", mn="NEW"), NOW + timedelta(seconds=50))
    assert [group.mn for group in assembler.expire(NOW + timedelta(seconds=90))] == ["OLD"]
    whole = assembler.add(packet(2, 2, "b=1", mn="NEW"), NOW + timedelta(seconds=95))
    assert whole is not None and whole.cp == "a=1;b=1"


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SplitAssembler(timeout_seconds=0)
