"""The HJ 212 TCP gateway: data loggers connect, send frames, and get the replies the standard asks for.

Per connection a FrameReader reassembles frames from the byte stream. A logger is checked against
the registry (MN registered for transport hj212, PW right); a refusal is answered at once with
CN=9011 (QnRtn 3 wrong PW, 4 wrong MN, 9 CRC). Data uploads (2011/2051/2061/2031) go into the
same pipeline as MQTT, with the same guarantee: the CN=9014 reply a logger asked for (Flag A bit)
is sent only after the readings are committed, so a logger that gets no reply sends again.
Missing minute/hour/day data is asked for again with a history request (2051/2061/2031) until it is
stored; the open requests and the latest data times survive a restart (ingest/history.py).
Wrong passwords and unknown MNs are answered a few times only: then the connection is closed and the
remote address backs off (ingest/hj212_guard.py), logged once per block window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from envmon.catalogue import load_catalogue
from envmon.columns import Row
from envmon.protocols.hj212 import (
    BytesSkipped,
    FrameReader,
    FrameReceived,
    HJ212Error,
    Message,
    QnRtn,
    ReplyTo,
    SplitAssembler,
    data_reply,
    decode_message,
    history_request,
    message_readings,
    parse_segment,
    request_reply,
)
from envmon.protocols.hj212.readings import UPLOADS
from ingest.directory import DeviceInfo
from ingest.history import HistoryMonitor, HistoryStore
from ingest.hj212_guard import AuthGuard, AuthPolicy, Verdict
from ingest.pipeline import Inbound, Pipeline
from ingest.quarantine import QuarantineEntry

log = logging.getLogger(__name__)
READ_BYTES = 4096
IDLE_TIMEOUT_SECONDS = 600.0


@dataclass(eq=False)
class _Connection:
    """One logger's TCP connection."""

    writer: asyncio.StreamWriter
    peer: str
    host: str = "unknown"
    reader: FrameReader = field(default_factory=FrameReader)
    auth_failures: int = 0

    def send(self, frame: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame)

    @property
    def is_closing(self) -> bool:
        """True once the connection was closed (by us, after failed logins, or by the peer)."""
        return self.writer.is_closing()


class Hj212Gateway:
    """An asyncio TCP server feeding the ingest pipeline; also the pipeline's ack source for loggers."""

    transport = "hj212"
    name = "hj212-gateway"

    def __init__(
        self, pipeline: Pipeline, host: str = "127.0.0.1", port: int = 9212, *, auth: AuthPolicy | None = None,
        history: HistoryMonitor | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._guard = AuthGuard(auth or AuthPolicy())
        self._host, self._port = host, port
        self._catalogue = load_catalogue()
        self._splits = SplitAssembler()
        self._history = history or HistoryMonitor(HistoryStore(pipeline.database_url))
        pipeline.subscribe(self._history)  # committed minute/hour/day data closes the windows it fills
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port: int | None = None
        self.listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set."""
        self._loop = asyncio.get_running_loop()
        # Before the first upload: a gap spanning the restart is then noticed, open ones asked again.
        await asyncio.to_thread(self._history.restore)
        server = await asyncio.start_server(self._serve, self._host, self._port)
        self.port = int(server.sockets[0].getsockname()[1])
        self.listening.set()
        log.info("HJ 212 gateway listening on %s:%d", self._host, self.port)
        async with server:
            await stop.wait()
        await asyncio.to_thread(self._history.close)
        log.info("HJ 212 gateway stopped")

    def ack(self, tokens: list[object]) -> None:
        """Called by the writer thread after commit: send the 9014 replies loggers asked for."""
        replies = [cast(tuple[_Connection, bytes | None], t) for t in tokens]
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._send_replies, replies)

    def _send_replies(self, replies: list[tuple[_Connection, bytes | None]]) -> None:
        for conn, reply in replies:
            if reply is not None:
                conn.send(reply)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        host = str(peername[0]) if peername else "unknown"
        conn = _Connection(writer, f"{peername[0]}:{peername[1]}" if peername else "unknown", host)
        if self._guard.blocked_seconds(host, time.monotonic()) > 0:
            # Logged once when the block started; each refused connection only counts.
            self._pipeline.metrics.hj212_refused_connections.inc()
            writer.close()
            return
        log.info("logger connected from %s", conn.peer)
        try:
            while not conn.is_closing and (
                data := await asyncio.wait_for(reader.read(READ_BYTES), IDLE_TIMEOUT_SECONDS)
            ):
                await self._on_events(conn, conn.reader.feed(data))
        except (TimeoutError, ConnectionError) as exc:
            log.info("logger %s: connection ended: %r", conn.peer, exc)
        finally:
            await self._on_events(conn, conn.reader.close())
            writer.close()

    async def _on_events(self, conn: _Connection, events: list[FrameReceived | BytesSkipped]) -> None:
        for event in events:
            if conn.is_closing:
                return  # closed after failed logins: the rest of what it sent is not read
            await self._guarded(conn, event)

    async def _guarded(self, conn: _Connection, event: FrameReceived | BytesSkipped) -> None:
        """One frame, whatever it holds: an unexpected error quarantines the frame and the connection
        goes on (the frame's content must never end a logger's connection or the gateway)."""
        try:
            await self._on_event(conn, event)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:
            log.exception("logger %s: a frame could not be handled; quarantined", conn.peer)
            raw = event.frame if isinstance(event, FrameReceived) else event.data
            await self._quarantine(conn, None, "internal_error", f"handling it failed: {type(exc).__name__}: {exc}",
                                   raw)

    async def _on_event(self, conn: _Connection, event: FrameReceived | BytesSkipped) -> None:
        if isinstance(event, BytesSkipped):
            await self._on_skipped(conn, event)
            return
        try:
            msg = decode_message(event.frame)
        except HJ212Error as exc:
            await self._quarantine(conn, None, "hj212_invalid", str(exc), event.frame)
            return
        await self._on_message(conn, msg, event.frame)

    async def _on_skipped(self, conn: _Connection, event: BytesSkipped) -> None:
        reply_to = _reply_to_of(event.data)
        is_crc = event.reason.startswith("CRC mismatch")
        if is_crc and reply_to is not None:
            conn.send(request_reply(reply_to, QnRtn.WRONG_CRC))
        reason = "hj212_crc" if is_crc else "hj212_garbage"
        await self._quarantine(conn, reply_to.mn if reply_to else None, reason, event.reason, event.data)

    async def _on_message(self, conn: _Connection, msg: Message, frame: bytes) -> None:
        device = self._pipeline.directory.get(msg.mn) or await asyncio.to_thread(self._pipeline.lookup_device, msg.mn)
        if device is None or device.transport != "hj212":
            await self._refuse_login(conn, msg, QnRtn.WRONG_MN, "unknown_device",
                                     f"MN {msg.mn} is not a registered HJ 212 logger", frame)
            return
        if msg.pw != device.hj212_password:
            await self._refuse_login(conn, msg, QnRtn.WRONG_PW, "wrong_password", f"wrong PW from MN {msg.mn}", frame)
            return
        now = datetime.now(UTC)
        for group in self._splits.expire(now):
            log.warning("split message never completed: %s", group.describe())
        whole = self._splits.add(msg, now)
        if whole is None:
            return
        if whole.cn in UPLOADS:
            await self._on_upload(conn, whole, device, frame)
        else:
            log.info("logger %s (%s) sent CN=%s: %s", msg.mn, conn.peer, whole.cn, whole.cp)

    async def _on_upload(self, conn: _Connection, msg: Message, device: DeviceInfo, frame: bytes) -> None:
        now = datetime.now(UTC)
        try:
            readings, problems = message_readings(msg, self._catalogue, now=now, factors=device.factors)
        except HJ212Error as exc:
            await self._quarantine(conn, msg.mn, "hj212_invalid", str(exc), frame)
            return
        rows = [Row(r.time, device.id, r.pollutant, r.basis, r.value, r.flag, r.seq, now) for r in readings]
        partial = [QuarantineEntry(self.transport, conn.peer, msg.mn, "hj212_partial", "; ".join(problems), frame)]
        reply = data_reply(msg) if msg.wants_reply else None
        item = Inbound(self, (conn, reply), conn.peer, msg.mn, frame, now, rows=rows,
                       problems=partial if problems else [])
        if readings:
            # Before the rows are queued: a window is recorded before the data time that opens it can be
            # stored, so a crash in between cannot leave a stored latest time with the gap forgotten.
            await self._request_missing(conn, msg, device, readings[0].basis, readings[0].time)
        await self._submit(item)

    async def _refuse_login(
        self, conn: _Connection, msg: Message, rtn: QnRtn, reason: str, detail: str, frame: bytes
    ) -> None:
        """Answer a failed login with 9011, quarantine it, and close or block when the failures add up."""
        conn.send(request_reply(msg, rtn))
        await self._quarantine(conn, msg.mn, reason, detail, frame)
        self._pipeline.metrics.hj212_auth_failures.labels(reason).inc()
        conn.auth_failures += 1
        now = time.monotonic()
        verdict = self._guard.on_failure(conn.host, conn.auth_failures, now)
        if verdict is Verdict.BLOCK:
            self._pipeline.metrics.hj212_blocks.inc()
            log.warning("HJ 212 logins from %s blocked for %.0f s after repeated failed logins (last: %s, MN %s)",
                        conn.host, self._guard.blocked_seconds(conn.host, now), reason, msg.mn)
        elif verdict is Verdict.CLOSE:
            log.info("closing HJ 212 connection %s after %d failed logins (last: %s, MN %s)",
                     conn.peer, conn.auth_failures, reason, msg.mn)
        if verdict is not Verdict.ANSWER:
            conn.writer.close()  # the 9011 just written is flushed before the socket closes

    async def _request_missing(self, conn: _Connection, msg: Message, device: DeviceInfo, basis: str,
                               when: datetime) -> None:
        if self._history.needs_restore():  # the database was away when the gateway started
            await asyncio.to_thread(self._history.restore)
        for request in self._history.on_upload(device.mn, basis, when):
            log.info("asking logger %s for %s data %s .. %s (attempt %d)", device.mn, basis, request.begin.isoformat(),
                     request.end.isoformat(), request.attempt)
            conn.send(history_request(mn=device.mn, pw=device.hj212_password or "", cn=request.cn,
                                      begin=request.begin, end=request.end, st=msg.st, qn_time=datetime.now(UTC),
                                      version=msg.version))
        if self._history.pending:
            await asyncio.to_thread(self._history.flush)

    async def _quarantine(self, conn: _Connection, mn: str | None, reason: str, detail: str, raw: bytes) -> None:
        entry = QuarantineEntry(self.transport, conn.peer, mn, reason, detail, raw)
        await self._submit(Inbound(self, (conn, None), conn.peer, mn, raw, datetime.now(UTC), rows=[],
                                   problems=[entry]))

    async def _submit(self, item: Inbound) -> None:
        # submit blocks when the pipeline is full: keep that wait off the event loop.
        await asyncio.get_running_loop().run_in_executor(None, self._pipeline.submit, item)


def _reply_to_of(data: bytes) -> ReplyTo | None:
    """The MN and QN of a frame that failed its CRC, when its fields can still be read."""
    try:
        text = data.decode("ascii").strip()
        if not text.startswith("##") or len(text) < 10:
            return None
        return ReplyTo.of(parse_segment(text[6:-4]))
    except (UnicodeDecodeError, HJ212Error):
        return None
