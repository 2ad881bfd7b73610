"""The snapshot's JSON form of numpy arrays (compressed, base64)."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt


def encode_array(a: npt.NDArray[Any]) -> dict[str, Any]:
    """A numpy array as a JSON-serialisable dict (compressed bytes in base64)."""
    raw = zlib.compress(np.ascontiguousarray(a).tobytes(), 1)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": base64.b64encode(raw).decode("ascii")}


def decode_array(d: dict[str, Any]) -> npt.NDArray[Any]:
    """The array `encode_array` encoded."""
    raw = zlib.decompress(base64.b64decode(d["data"]))
    return np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()
