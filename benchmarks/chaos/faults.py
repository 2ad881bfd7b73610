"""The fault driver: a seeded schedule of kills, terminations and outages, applied to the running platform.

Faults (each at least `MIN_EACH` times): SIGKILL and SIGTERM of ingest, of the alert engine and of the SMS
sender, SIGKILL of Mosquitto, and PostgreSQL stopped immediately (`pg_ctl stop -m immediate`). The SMS
sender is a thread of `envmon alerts`, so a sender fault arms the fake Twilio to hold its next request
(the message is created, the answer waits) and signals the process while that SMS is in flight: the
moment where a sender can lose or repeat a message. Killed parts start again after a short random delay.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.notify.fake_twilio import FakeTwilio
from benchmarks.chaos.services import STOP_SECONDS, Service
from envmon.stack import mosquitto, postgres
from envmon.stack.launcher import StackState

log = logging.getLogger(__name__)
KINDS = (
    "ingest_kill", "ingest_term", "alerts_kill", "alerts_term", "sender_kill", "sender_term", "mosquitto_kill",
    "postgres_stop",
)
MIN_EACH = 3
RESTART_DELAY_SECONDS = (0.2, 2.0)
# How long a sender fault waits for an SMS to be in flight before it signals the process anyway.
IN_FLIGHT_WAIT_SECONDS = 10.0
HOLD_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Fault:
    """One scheduled fault: seconds after the start, and what."""

    at_seconds: float
    kind: str


def schedule(rng: random.Random, start_seconds: float, end_seconds: float, mean_gap_seconds: float) -> list[Fault]:
    """Faults at random moments between start and end: every kind `MIN_EACH` times, more to fill the gap."""
    total = max(len(KINDS) * MIN_EACH, int((end_seconds - start_seconds) / mean_gap_seconds))
    kinds = list(KINDS) * MIN_EACH + rng.choices(KINDS, k=total - len(KINDS) * MIN_EACH)
    rng.shuffle(kinds)
    times = sorted(rng.uniform(start_seconds, end_seconds) for _ in kinds)
    return [Fault(round(t, 3), k) for t, k in zip(times, kinds, strict=True)]


class ChaosTwilio(FakeTwilio):
    """The fake Twilio, able to hold one message's answer while the driver signals the sender."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight = threading.Event()
        self._armed = False

    def arm(self) -> None:
        """Hold the answer to the next created message for HOLD_SECONDS, and say when it arrives."""
        with self._lock:
            self._armed = True
            self.in_flight.clear()

    def disarm(self) -> None:
        with self._lock:
            self._armed = False

    def _answer(self, account_sid: str, form: dict[str, str]) -> tuple[int, dict[str, object], float]:
        status, body, hang = super()._answer(account_sid, form)
        with self._lock:
            held = self._armed and status == 201
            self._armed = self._armed and not held
        if held:
            self.in_flight.set()
            return status, body, max(hang, HOLD_SECONDS)
        return status, body, hang


class FaultDriver:
    """Applies faults to the stack and the services, restarting what it stopped."""

    def __init__(self, stack: StackState, services: dict[str, Service], twilio: ChaosTwilio,
                 rng: random.Random) -> None:
        self.stack = stack
        self.services = services
        self.twilio = twilio
        self.rng = rng
        self.done: list[dict[str, Any]] = []

    def run(self, faults: list[Fault], started: float, stop: threading.Event) -> None:
        """Apply each fault at its time (or as soon as the previous one is over)."""
        for fault in faults:
            if stop.wait(max(0.0, started + fault.at_seconds - time.monotonic())):
                return
            began = time.monotonic()
            detail = self.apply(fault.kind)
            self.done.append({"kind": fault.kind, "at_seconds": round(began - started, 1),
                              "took_seconds": round(time.monotonic() - began, 1), **detail})
            log.info("fault %s done: %s", fault.kind, detail)

    def apply(self, kind: str) -> dict[str, Any]:
        """Do one fault and the restart that follows it."""
        if kind == "mosquitto_kill":
            mosquitto.stop(self.stack.broker, sig=signal.SIGKILL, timeout_seconds=5)
            self._pause()
            mosquitto.start(self.stack.broker)
            return {}
        if kind == "postgres_stop":
            postgres.stop(self.stack.cluster, mode="immediate")
            self._pause()
            postgres.start(self.stack.cluster)
            return {}
        target, how = kind.split("_")
        sig = signal.SIGKILL if how == "kill" else signal.SIGTERM
        if target == "sender":
            return self._sender(sig)
        return self._signal(self.services[target], sig)

    def _sender(self, sig: int) -> dict[str, Any]:
        self.twilio.arm()
        in_flight = self.twilio.in_flight.wait(IN_FLIGHT_WAIT_SECONDS)
        self.twilio.disarm()
        return {"sms_in_flight": in_flight, **self._signal(self.services["alerts"], sig)}

    def _signal(self, service: Service, sig: int) -> dict[str, Any]:
        service.send(sig)
        exited = service.wait_exit(STOP_SECONDS if sig == signal.SIGTERM else 10)
        if not exited:  # a SIGTERM that did not end it: the supervisor kills it
            service.send(signal.SIGKILL)
            service.wait_exit(10)
        code = service.exit_codes[-1] if service.exit_codes else None
        self._pause()
        service.start()
        return {"exit_code": code, "stopped_by_term": exited}

    def _pause(self) -> None:
        time.sleep(self.rng.uniform(*RESTART_DELAY_SECONDS))  # the supervisor's restart delay

    def counts(self) -> dict[str, int]:
        """How many faults of each kind were applied."""
        counted = Counter(d["kind"] for d in self.done)
        return {kind: counted.get(kind, 0) for kind in KINDS}


def utc_now() -> str:
    """The time now, for the report."""
    return datetime.now(UTC).isoformat(timespec="seconds")
