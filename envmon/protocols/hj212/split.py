"""Reassembly of messages split across packets (Flag bit D, PNUM/PNO), keyed by (MN, QN)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.message import FLAG_SPLIT, Message


@dataclass(frozen=True, slots=True)
class IncompleteGroup:
    """A split message that did not complete in time: which packets came, and when the first did."""

    mn: str
    qn: str | None
    pnum: int
    received: tuple[int, ...]
    first_seen: datetime

    def describe(self) -> str:
        """A line for the log: which device, which message, which packets are missing."""
        missing = sorted(set(range(1, self.pnum + 1)) - set(self.received))
        return (
            f"split message QN={self.qn} from MN={self.mn} incomplete: "
            f"missing packet(s) {', '.join(map(str, missing))} of {self.pnum}"
        )


@dataclass(slots=True)
class _Group:
    """Packets collected so far for one (MN, QN)."""

    pnum: int
    first_seen: datetime
    packets: dict[int, Message] = field(default_factory=dict)


class SplitAssembler:
    """Collects the packets 1..PNUM of split messages and returns each message once it is complete."""

    def __init__(self, timeout_seconds: float = 600.0) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.timeout_seconds = timeout_seconds
        self._groups: dict[tuple[str, str | None], _Group] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def add(self, packet: Message, now: datetime) -> Message | None:
        """The whole message when `packet` completes it (or is not split), else None."""
        if packet.pnum is None or packet.pno is None:
            return packet
        key = (packet.mn, packet.qn)
        group = self._groups.setdefault(key, _Group(pnum=packet.pnum, first_seen=now))
        if packet.pnum != group.pnum:
            problem = f"PNUM {packet.pnum} differs from {group.pnum} in earlier packets of QN={packet.qn}"
            raise FieldError("PNUM", problem)
        group.packets.setdefault(packet.pno, packet)
        if len(group.packets) < group.pnum:
            return None
        del self._groups[key]
        return combine_packets([group.packets[number] for number in range(1, group.pnum + 1)])

    def expire(self, now: datetime) -> list[IncompleteGroup]:
        """Drop and return the groups whose first packet is older than the timeout."""
        stale = [key for key, g in self._groups.items() if (now - g.first_seen).total_seconds() > self.timeout_seconds]
        return [_incomplete(key, self._groups.pop(key)) for key in stale]


def _incomplete(key: tuple[str, str | None], group: _Group) -> IncompleteGroup:
    """The report of a dropped group."""
    received = tuple(sorted(group.packets))
    return IncompleteGroup(mn=key[0], qn=key[1], pnum=group.pnum, received=received, first_seen=group.first_seen)


def combine_packets(packets: list[Message]) -> Message:
    """One message from packets in PNO order; CP items are joined with `;`, repeated items kept once."""
    items = [item for packet in packets for item in packet.cp.split(";") if item]
    first = packets[0]
    flag = None if first.flag is None else first.flag & ~FLAG_SPLIT
    return replace(first, cp=";".join(dict.fromkeys(items)), flag=flag, pnum=None, pno=None)
