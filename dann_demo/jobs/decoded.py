"""Decoded blobs kept per process, least recently used first out: a page redraw decodes only what is new
in Redis (records, snapshots and results never change once written; a restart starts a new generation)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

import pandas as pd

from dann_demo.method.results import Gallery, InputPlane, RunResult

# A Class page of 300 finished runs holds about 30 MB of moons results.
DECODED_BYTES = int(os.environ.get("DANN_DECODED_MB", "256")) * 2**20


def size_of(value: Any) -> int:
    """About the bytes a decoded value holds: its arrays (a result's weights, snapshots, pictures)."""
    import numpy as np

    if value is None:
        return 64
    if isinstance(value, tuple):
        return sum(size_of(v) for v in value)
    if isinstance(value, RunResult):
        arrays = [t.numpy() for t in value.state_dict.values()]
        arrays += [a for snap in value.snapshots.values() for a in vars(snap).values() if isinstance(a, np.ndarray)]
        for picture in (value.input_plane, value.gallery):
            if picture is not None:
                arrays += [a for a in vars(picture).values() if isinstance(a, np.ndarray)]
        return 4096 + sum(a.nbytes for a in arrays)
    if isinstance(value, (InputPlane, Gallery)):
        return sum(a.nbytes for a in vars(value).values() if isinstance(a, np.ndarray))
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(deep=True).sum())
    return 1024


class DecodedCache:
    """Decoded values by key, about `limit` bytes in all; thread-safe."""

    def __init__(self, limit: int = DECODED_BYTES):
        self.limit = limit
        self.entries: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self.bytes = 0
        self._lock = threading.Lock()

    def remember(self, key: tuple, value: Any, size: int = 1024) -> None:
        """Keep a decoded value, the least recently used going first past self.limit (`size`: the
        bytes it was decoded from, about what it takes in memory)."""
        with self._lock:
            if key in self.entries:
                self.bytes -= self.entries[key][1]
            self.entries[key] = (value, size)
            self.entries.move_to_end(key)
            self.bytes += size
            while self.bytes > self.limit and len(self.entries) > 1:
                self.bytes -= self.entries.popitem(last=False)[1][1]

    def recall(self, key: tuple) -> Any:
        with self._lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key][0]
        return None

    def once(self, key: tuple, read, size: int | None = None):
        with self._lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key][0]
        value = read()
        if size is None:
            size = size_of(value)
        self.remember(key, value, size)
        return value
