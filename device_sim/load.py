"""Load mode: thousands of synthetic devices at a target aggregate rate through the real broker.

Publisher processes each take a share of the devices and of the rate; they log in as the
simulator user (who may publish for any device on the local stack), generate with `LoadBlock`
and send with the ingest benchmark's lean MQTT v5 publisher (QoS 1, pipelined within the broker's
Receive Maximum). The achieved rate counts only messages the broker acknowledged.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from device_sim.errors import SimError
from device_sim.fastgen import LOAD_CODES, LoadBlock
from envmon.protocols.mqtt_wire import publish_packet
from envmon.protocols.wire_publisher import WirePublisher
from envmon.settings import Settings
from envmon.stack import launcher, mosquitto

MAX_BURST = 2000


@dataclass(frozen=True)
class LoadConfig:
    """A load run."""

    port: int
    user: str
    password: str
    devices: int = 2000
    readings_per_s: float = 50_000
    duration_seconds: float = 30.0
    publishers: int = 1
    mn_prefix: str = "LOAD"
    seed: int = 0

    def mns(self) -> list[str]:
        """The synthetic devices' MN codes."""
        return [f"{self.mn_prefix}{n:05d}" for n in range(self.devices)]


class _Feed:
    """PUBLISH packets in round-robin order: message k goes to device k mod n, in round k div n."""

    def __init__(self, block: LoadBlock) -> None:
        self._block = block
        self._ready: deque[tuple[int, bytes]] = deque()
        self._last_round_s = 0.0
        self.taken = 0

    def take(self, count: int, now: float) -> list[bytes]:
        """The next `count` packets; new rounds are sampled at `now` (a device's times always differ)."""
        while len(self._ready) < count:
            self._last_round_s = max(now, self._last_round_s + 0.001)
            self._ready.extend(enumerate(self._block.round(self._last_round_s)))
        packets = []
        for k in range(self.taken, self.taken + count):
            index, payload = self._ready.popleft()
            packets.append(publish_packet(self._block.topics[index], k % 65535 + 1, payload))
        self.taken += count
        return packets


def _load_worker(cfg: LoadConfig, mns: list[str], rate_msgs: float, sent_v: Any, acked_v: Any, refused_v: Any,
                 result: Any) -> None:
    """Publish round-robin over `mns` at `rate_msgs` for the configured time."""
    feed = _Feed(LoadBlock(mns, LOAD_CODES, cfg.seed))
    pub = WirePublisher(cfg.port, cfg.user, cfg.password)
    start = time.time()
    while (now := time.time()) - start < cfg.duration_seconds:
        sent = feed.taken
        burst = min(int((now - start) * rate_msgs) - sent, pub.window - (sent - pub.acked), MAX_BURST)
        acked_v.value, refused_v.value, sent_v.value = pub.acked, pub.refused, sent
        if burst <= 0:
            time.sleep(0.001)
            continue
        pub.send(feed.take(burst, now))
    sent = feed.taken
    seconds = time.time() - start
    deadline = time.time() + 30
    while pub.acked < sent and time.time() < deadline:
        time.sleep(0.01)
    acked_v.value, refused_v.value = pub.acked, pub.refused
    pub.close()
    result.put({"sent": sent, "acked": pub.acked, "refused": pub.refused, "seconds": seconds})


def run_load(cfg: LoadConfig, progress: Any = None) -> dict[str, Any]:
    """Run the publishers; the achieved rate and what the broker acknowledged."""
    ctx = mp.get_context("spawn")
    mns = cfg.mns()
    results: Any = ctx.Queue()
    counters = [(ctx.Value("q", 0), ctx.Value("q", 0), ctx.Value("q", 0)) for _ in range(cfg.publishers)]
    rate_msgs = cfg.readings_per_s / len(LOAD_CODES) / cfg.publishers
    procs = [
        ctx.Process(target=_load_worker, args=(cfg, mns[i :: cfg.publishers], rate_msgs, *counters[i], results))
        for i in range(cfg.publishers)
    ]
    for proc in procs:
        proc.start()
    _watch(procs, counters, cfg, progress)
    for proc in procs:
        proc.join()
    try:
        outcomes = [results.get(timeout=10) for _ in procs]
    except queue.Empty:
        codes = [p.exitcode for p in procs]
        raise SimError(f"a load publisher failed (exit codes {codes}); is the broker up and the login right?") from None
    return _summary(cfg, outcomes)


def _watch(procs: list[Any], counters: list[tuple[Any, Any, Any]], cfg: LoadConfig, progress: Any) -> None:
    last, last_t = 0, time.time()
    while any(p.is_alive() for p in procs):
        time.sleep(1.0)
        sent = sum(s.value for s, _, _ in counters)
        now = time.time()
        if progress is not None:
            rate = (sent - last) / (now - last_t)
            refused = sum(r.value for _, _, r in counters)
            progress(f"devices {cfg.devices}  messages/s {rate:,.0f}  readings/s {rate * len(LOAD_CODES):,.0f}  "
                     f"errors {refused}  acked {sum(a.value for _, a, _ in counters):,d}")
        last, last_t = sent, now


def _summary(cfg: LoadConfig, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    sent = sum(o["sent"] for o in outcomes)
    acked = sum(o["acked"] for o in outcomes)
    seconds = max(o["seconds"] for o in outcomes)
    return {
        "devices": cfg.devices,
        "publishers": cfg.publishers,
        "target_readings_per_s": cfg.readings_per_s,
        "achieved_readings_per_s": round(acked * len(LOAD_CODES) / seconds),
        "messages_sent": sent,
        "messages_acked": acked,
        "refused": sum(o["refused"] for o in outcomes),
        "readings_per_message": len(LOAD_CODES),
        "seconds": round(seconds, 2),
    }


def broker_login(settings: Settings, mqtt_url: str | None) -> tuple[int, str, str]:
    """Port, user and password for load mode: `--mqtt-url`, or the local stack's simulator login."""
    if mqtt_url:
        parts = urlsplit(mqtt_url)
        if not parts.username or parts.password is None:
            raise SimError("--mqtt-url needs user and password: mqtt://user:password@host:port")
        return parts.port or 1883, parts.username, parts.password
    state = launcher.read_state(settings.state_dir)
    if state is None:
        raise SimError("load mode needs the local stack (`envmon stack up`) or --mqtt-url")
    return state.mqtt_port, mosquitto.SIM_USER, state.mqtt_users[mosquitto.SIM_USER]


def run_load_command(args: argparse.Namespace, settings: Settings) -> int:
    """`envmon sim --load`: run, show progress, print the result as JSON."""
    port, user, password = broker_login(settings, args.mqtt_url)
    cfg = LoadConfig(port, user, password, args.load_devices, args.rate, args.duration_seconds or 30.0,
                     args.publishers, args.mn_prefix, args.seed)
    result = run_load(cfg, lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2))
    return 0 if result["messages_acked"] == result["messages_sent"] and not result["refused"] else 1
