"""The library's one LRU cache: a bounded, thread-safe map whose least recently used entry goes first.

Used for finished runs and sweeps (the result cache), feature-map chains and projections.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    def __init__(self, max_entries: int):
        if max_entries < 1:
            raise ValueError(f"max_entries={max_entries} must be at least 1")
        self.max_entries = max_entries
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """The entry of `key`, made by create() under the lock when missing (for cheap constructors:
        two threads asking at once get the same object)."""
        with self._lock:
            if key not in self._items:
                self._items[key] = create()
                while len(self._items) > self.max_entries:
                    self._items.popitem(last=False)
            self._items.move_to_end(key)
            return self._items[key]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
