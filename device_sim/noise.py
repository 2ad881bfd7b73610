"""Deterministic noise: a counter-based hash (splitmix64) of (channel key, sample time), vectorised.

A value depends only on the seed, the device, the pollutant and the sample time, never on the order
in which samples are made: a resend, a backfill and a second run give the same numbers.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_53 = float(2**53)


def channel_key(seed: int, device: str, code: str) -> int:
    """A 64-bit key for one (seed, device, pollutant) channel."""
    digest = hashlib.blake2b(f"{seed}|{device}|{code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(x: U64) -> U64:
    """splitmix64's finaliser (wrapping uint64 arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def uniforms(keys: U64, ticks: npt.NDArray[np.int64], salt: int = 0) -> F64:
    """Uniform numbers in (0, 1), one per (key, tick) pair (arrays broadcast)."""
    mixed = _mix(keys ^ _mix(ticks.astype(np.uint64) + np.uint64(salt)))
    return ((mixed >> np.uint64(11)).astype(np.float64) + 0.5) / _TWO_53


def normals(keys: U64, ticks: npt.NDArray[np.int64]) -> F64:
    """Standard normal numbers, one per (key, tick) pair (Box-Muller on two hashed uniforms)."""
    u1 = uniforms(keys, ticks, 1)
    u2 = uniforms(keys, ticks, 2)
    result: F64 = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return result


def fraction(key: int, salt: int) -> float:
    """One uniform number in (0, 1) for a key (per-channel constants: baselines, phases)."""
    return float(uniforms(np.array([key], dtype=np.uint64), np.array([salt], dtype=np.int64), 7)[0])
