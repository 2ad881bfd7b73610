"""The readings ledger: what the simulator sent (device, seq, pollutant) against what PostgreSQL stored."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import psycopg

from device_sim.hj212_logger import Hj212Logger
from device_sim.mqtt_device import MqttDevice
from device_sim.plans import DevicePlan
from device_sim.runner import SimRunner, mqtt_endpoint
from device_sim.samples import Action, Sample
from envmon.stack.mosquitto import device_secret

# The readiness probe's reading carries seq 0 (the simulator counts from 1): it is not part of the ledger.
PROBE_SEQ = 0
ReadingKey = tuple[str, int, str]


class SentLedger:
    """Every reading the simulator made to be delivered (sent, or held for a resend), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.readings: set[ReadingKey] = set()
        self.messages = 0

    def add(self, sample: Sample) -> None:
        with self._lock:
            self.readings.update((sample.device, sample.seq, code) for code in sample.codes)
            self.messages += 1

    def snapshot(self) -> set[ReadingKey]:
        with self._lock:
            return set(self.readings)


class RecordingDevice(MqttDevice):
    """A simulated MQTT device that also writes what it delivers into the ledger."""

    def __init__(self, ledger: SentLedger, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ledger = ledger

    def deliver(self, action: Action, sample: Sample) -> None:
        if action in ("send", "hold", "stored"):
            self._ledger.add(sample)
        super().deliver(action, sample)


class RecordingRunner(SimRunner):
    """The simulator with recording MQTT devices (the chaos district has no HJ 212 loggers)."""

    ledger: SentLedger

    def _link(self, plan: DevicePlan) -> MqttDevice | Hj212Logger:
        if plan.transport != "mqtt":
            return super()._link(plan)
        host, port = mqtt_endpoint(self.settings)
        secret = device_secret(self.settings.require_secret(), plan.mn)
        return RecordingDevice(self.ledger, plan.mn, secret, host, port, self.stats)


_STORED = """
SELECT d.mn, r.seq, r.pollutant, count(*) FROM readings r JOIN devices d ON d.id = r.device_id
WHERE r.basis = 'instant' AND r.seq <> %s GROUP BY 1, 2, 3
"""


def stored_readings(conn: psycopg.Connection) -> Counter[ReadingKey]:
    """How many times each (device, seq, pollutant) is stored."""
    return Counter({(r[0], int(r[1]), r[2]): int(r[3]) for r in conn.execute(_STORED, [PROBE_SEQ]).fetchall()})


def compare(sent: set[ReadingKey], stored: Counter[ReadingKey]) -> dict[str, Any]:
    """Lost, duplicated and unexpected readings, with a few examples of each."""
    lost = sorted(sent - set(stored))
    duplicates = sorted(k for k, n in stored.items() if n > 1)
    unexpected = sorted(set(stored) - sent)
    return {
        "readings_sent": len(sent), "readings_stored": sum(stored.values()), "lost_readings": len(lost),
        "duplicate_readings": sum(stored[k] - 1 for k in duplicates), "unexpected_readings": len(unexpected),
        "lost_examples": [list(k) for k in lost[:10]], "lost_by_device": dict(Counter(k[0] for k in lost)),
        "lost_seq_ranges": _ranges(lost),
    }


def _ranges(keys: list[ReadingKey]) -> dict[str, list[list[int]]]:
    """Lost messages per device as [first, last] seq runs."""
    seqs: dict[str, set[int]] = {}
    for device, seq, _ in keys:
        seqs.setdefault(device, set()).add(seq)
    runs: dict[str, list[list[int]]] = {}
    for device, numbers in seqs.items():
        for seq in sorted(numbers):
            if runs.get(device) and runs[device][-1][1] == seq - 1:
                runs[device][-1][1] = seq
            else:
                runs.setdefault(device, []).append([seq, seq])
    return runs
