"""One simulated HJ 212 data logger on TCP: real-time, minute and hour data, each waiting for its 9014,
and answers to history requests (CN 2051/2061 with BeginTime/EndTime) from the frames it kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from device_sim.hj212_frames import CN_OF_BASIS, corrupt_frames, qn_of, realtime_frame, summary_frame
from device_sim.samples import Action, Sample
from device_sim.stats import Stats
from device_sim.summaries import Summariser
from envmon.protocols.hj212 import (
    ExeRtn,
    FrameReader,
    FrameReceived,
    HJ212Error,
    Message,
    QnRtn,
    decode_message,
    execution_result,
    parse_cp,
    request_reply,
)

log = logging.getLogger(__name__)
REPLY_TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 3
# About a day of minute data plus its hours (~1 MB a logger): the gateway asks within minutes.
HISTORY_FRAMES = 1500
RECONNECT_SECONDS = 1.0


@dataclass
class _Outgoing:
    frame: bytes
    qn: str | None  # None: nothing to wait for (replies, corrupt frames)
    attempts: int = 0
    sent_at: float = 0.0


class Hj212Logger:
    """A data logger's connection to the gateway; `deliver` is called from the event loop."""

    def __init__(self, mn: str, pw: str, st: str, host: str, port: int, stats: Stats, *, is_flue_gas: bool,
                 window: int = 16) -> None:
        self.mn, self._pw, self._st = mn, pw, st
        self._host, self._port = host, port
        self._stats = stats
        self._window = window
        self._summarisers = [Summariser("minute", is_flue_gas), Summariser("hour", is_flue_gas)]
        self._outgoing: deque[_Outgoing] = deque()
        self._pending: dict[str, _Outgoing] = {}
        self._history: OrderedDict[tuple[str, float], bytes] = OrderedDict()
        self._wake = asyncio.Event()
        self._online = asyncio.Event()
        self._online.set()
        self._qn_ms = 0
        self.connected = False

    def _next_qn(self, t_s: float) -> str:
        """A QN unique for this logger: the sample time in ms, moved on when already used."""
        self._qn_ms = max(self._qn_ms + 1, round(t_s * 1000))
        return qn_of(self._qn_ms)

    def _queue(self, frame: bytes, qn: str | None) -> None:
        self._outgoing.append(_Outgoing(frame, qn))
        self._wake.set()

    def deliver(self, action: Action, sample: Sample) -> None:
        """Send the real-time frame, and the minute/hour frames the sample closes (or keep them)."""
        # A logger that is down keeps its frames and sends them once it is connected again.
        sending = action in ("send", "stored")
        if sending:
            qn = self._next_qn(sample.time_s)
            self._queue(realtime_frame(sample, st=self._st, pw=self._pw, qn=qn), qn)
        if action == "lose":
            return
        for summariser in self._summarisers:
            summary = summariser.add(sample)
            if summary is None:
                continue
            qn = self._next_qn(sample.time_s)
            frame = summary_frame(summary, mn=self.mn, st=self._st, pw=self._pw, qn=qn)
            self._keep(CN_OF_BASIS[summary.basis], summary.begin_s, frame)
            if sending:
                self._queue(frame, qn)

    def _keep(self, cn: str, begin_s: float, frame: bytes) -> None:
        self._history[(cn, begin_s)] = frame
        while len(self._history) > HISTORY_FRAMES:
            self._history.popitem(last=False)

    def malformed(self, sample: Sample, count: int) -> None:
        """Send a burst of corrupt frames (bad CRC, bad length, garbage)."""
        good = realtime_frame(sample, st=self._st, pw=self._pw, qn=self._next_qn(sample.time_s))
        for frame in corrupt_frames(good, count):
            self._queue(frame, None)

    def backlog(self) -> int:
        """Frames not yet sent or not yet answered."""
        return len(self._outgoing) + len(self._pending)

    def set_online(self, online: bool) -> None:
        """Drop the connection for an outage, or allow it again."""
        if online:
            self._online.set()
        else:
            self._online.clear()
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, send, reconnect, until `stop` is set."""
        while not stop.is_set():
            if not self._online.is_set():
                await _first(stop.wait(), self._online.wait())
                continue
            try:
                reader, writer = await asyncio.open_connection(self._host, self._port)
            except OSError:
                await _first(stop.wait(), asyncio.sleep(RECONNECT_SECONDS))
                continue
            await self._session(reader, writer, stop)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        """One TCP connection: unanswered frames go first again, then everything queued."""
        self.connected = True
        self._outgoing.extendleft(reversed(list(self._pending.values())))
        self._pending.clear()
        reading = asyncio.create_task(self._read(reader, writer))
        try:
            await self._send_loop(writer, reading, stop)
        except ConnectionError as exc:
            log.info("logger %s: connection lost: %r", self.mn, exc)
        finally:
            self.connected = False
            reading.cancel()
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _send_loop(self, writer: asyncio.StreamWriter, reading: asyncio.Task[None], stop: asyncio.Event) -> None:
        while not stop.is_set() and self._online.is_set() and not reading.done():
            self._retry_unanswered()
            if self._outgoing and len(self._pending) < self._window:
                item = self._outgoing.popleft()
                writer.write(item.frame)
                if item.qn is not None:
                    item.attempts += 1
                    item.sent_at = time.monotonic()
                    self._pending[item.qn] = item
                await writer.drain()
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.5)

    def _retry_unanswered(self) -> None:
        """Frames without a 9014 after the timeout are sent again, up to MAX_ATTEMPTS times."""
        now = time.monotonic()
        for qn, item in list(self._pending.items()):
            if now - item.sent_at < REPLY_TIMEOUT_SECONDS:
                continue
            del self._pending[qn]
            if item.attempts < MAX_ATTEMPTS:
                self._outgoing.appendleft(item)
            else:
                log.warning("logger %s: no reply to QN %s after %d attempts", self.mn, qn, item.attempts)
                self._stats.count(errors=1)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        while data := await reader.read(4096):
            for event in frames.feed(data):
                if isinstance(event, FrameReceived):
                    self._on_frame(event.frame)

    def _on_frame(self, frame: bytes) -> None:
        try:
            msg = decode_message(frame)
        except HJ212Error as exc:
            log.warning("logger %s: bad frame from the platform: %s", self.mn, exc)
            return
        if msg.cn == "9014":
            if msg.qn is not None and self._pending.pop(msg.qn, None) is not None:
                self._stats.count(acked=1)
        elif msg.cn in CN_OF_BASIS.values():
            self._answer_history(msg)
        elif msg.cn == "9011":
            self._on_refusal(msg)
        self._wake.set()

    def _on_refusal(self, msg: Message) -> None:
        """QnRtn 9 answers our own corrupt frames; a wrong MN or PW is an error worth counting."""
        area = parse_cp(msg.cp)
        if area.qn_rtn in (QnRtn.WRONG_MN, QnRtn.WRONG_PW):
            log.warning("logger %s refused by the platform: QnRtn=%s", self.mn, area.qn_rtn)
            self._stats.count(errors=1)

    def _answer_history(self, request: Message) -> None:
        """9011 ready, the kept frames of [BeginTime, EndTime], then 9012 with the result."""
        area = parse_cp(request.cp)
        if area.begin_time is None or area.end_time is None:
            self._queue(request_reply(request, QnRtn.REFUSED), None)
            return
        begin, end = area.begin_time.timestamp(), area.end_time.timestamp()
        found = [(k, f) for k, f in self._history.items() if k[0] == request.cn and begin <= k[1] <= end]
        self._queue(request_reply(request, QnRtn.READY), None)
        for _, frame in found:
            self._queue(frame, decode_message(frame).qn)
        self._queue(execution_result(request, ExeRtn.SUCCESS if found else ExeRtn.NO_DATA), None)
        log.info("logger %s answered CN=%s history request with %d frames", self.mn, request.cn, len(found))
        self._stats.count(resent=len(found))


async def _first(*waits: object) -> None:
    """Wait until the first of these awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
