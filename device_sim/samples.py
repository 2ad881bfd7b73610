"""A device's stream of samples: the signal, the incidents, and the sequence number (stateful, small)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from device_sim.incidents import Outcome, disturb, next_sample_offset
from device_sim.plans import DevicePlan
from device_sim.scenario import Incident
from device_sim.signal import base_values

# send: publish now; hold: keep for a resend request but do not publish (a lost message);
# lose: counted in seq but gone for good; offline: the device is down (no seq); stored: down, but it
# keeps measuring and sends what it stored once it is back (store and forward).
Action = Literal["send", "hold", "lose", "offline", "stored"]
DECIMALS = 4


@dataclass(frozen=True, slots=True)
class Sample:
    """One message's worth of readings, values in the protocol unit, at epoch second `time_s`."""

    device: str
    seq: int
    time_s: float
    codes: tuple[str, ...]
    values: tuple[float, ...]
    flags: tuple[str, ...]

    @property
    def time(self) -> datetime:
        """The sample time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time_s, UTC)


def to_sample(plan: DevicePlan, outcome: Outcome, seq: int, t_s: float) -> Sample:
    """The sample for an outcome: canonical values converted to protocol units and rounded."""
    protocol = np.round(outcome.values / plan.protocol_factor, DECIMALS)
    return Sample(plan.mn, seq, t_s, plan.codes, tuple(protocol.tolist()), outcome.flags)


class DeviceStream:
    """Successive samples of one device from the scenario start; `seq` counts messages made."""

    def __init__(self, plan: DevicePlan, incidents: tuple[Incident, ...], start_s: float, *, phase_s: float = 0.0,
                 first_seq: int = 1) -> None:
        self.plan = plan
        self.incidents = incidents
        self.start_s = start_s
        self.seq = first_seq - 1
        self.next_s = start_s + phase_s

    def emit(self, t_s: float) -> tuple[Action, Sample | None]:
        """What the device does at `t_s`, and the sample when it made one."""
        outcome = disturb(self.plan, self.incidents, self.start_s, t_s, base_values(self.plan.channels, t_s))
        if outcome.offline and not outcome.keep_for_resend:
            return "offline", None
        self.seq += 1
        sample = to_sample(self.plan, outcome, self.seq, t_s)
        if outcome.send:
            return "send", sample
        if outcome.offline:
            return "stored", sample
        return ("hold" if outcome.keep_for_resend else "lose"), sample

    def advance(self) -> tuple[Action, Sample | None]:
        """Emit the sample due at `next_s` and schedule the next one."""
        t_s = self.next_s
        result = self.emit(t_s)
        self.next_s = self.start_s + next_sample_offset(self.plan, self.incidents, t_s - self.start_s)
        return result
