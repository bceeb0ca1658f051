"""Batch indices for the members of an ensemble on the CPU, drawn INDEX_CHUNK steps at a time.

Each member draws from its own generator in the order a Trainer draws them (b source indices, then b
target indices, step after step), so the numbers are the same as step by step: one call a member per
chunk instead of two a step. Rows follow the ensemble's rows: a member's row is where its chunk is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

INDEX_CHUNK = 64  # steps of batch indices drawn at once


class IndexChunks:
    def __init__(self, batch_size: int, n_points: int, steps: int):
        self.b, self.n_points, self.steps = batch_size, n_points, steps
        self.chunk = torch.zeros(0, INDEX_CHUNK, 2 * batch_size, dtype=torch.long)  # row -> its next steps' draws
        self.pos = torch.zeros(0, dtype=torch.long)  # row -> the step of its chunk it is at
        self._state: dict[int, torch.Tensor] = {}  # member -> its generator state at its chunk's start
        self._start: dict[int, int] = {}  # member -> the own step its chunk starts at
        self._refill_at: dict[int, int] = {}  # member -> the ensemble step its chunk runs out
        self._next_refill = 0  # the earliest of those

    def add_rows(self, n: int) -> None:
        self.chunk = torch.cat([self.chunk, torch.zeros(n, INDEX_CHUNK, 2 * self.b, dtype=torch.long)])
        self.pos = torch.cat([self.pos, torch.zeros(n, dtype=torch.long)])

    def keep(self, rows: torch.Tensor, ended: list[int]) -> None:
        """Only `rows` stay, in that order; members `ended` draw no more."""
        rows = rows.cpu()
        self.chunk, self.pos = self.chunk.index_select(0, rows), self.pos.index_select(0, rows)
        for i in ended:
            self._refill_at.pop(i, None)

    def refill(self, i: int, row: int, own: int, generator: torch.Generator, step: int) -> None:
        """Draw member i's next chunk (it is at its own step `own`, the ensemble at `step`)."""
        n = min(INDEX_CHUNK, self.steps - own)
        self._state[i], self._start[i] = generator.get_state(), own
        if n > 0:
            drawn = torch.randint(self.n_points, (n * 2 * self.b,), generator=generator)
            self.chunk[row, :n] = drawn.view(n, 2 * self.b)
        self.pos[row] = 0
        self._refill_at[i] = step + max(n, 1)

    def started(self, live: list[int]) -> None:
        """New members have their first chunks: the next refill is the earliest of the live members'."""
        self._next_refill = min(self._refill_at[i] for i in live)

    def draw(
        self, live: list[int], rows: torch.Tensor, step: int, refill: Callable[[int], None]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every row's (source, target) indices for ensemble step `step`, (K, b) each; refill(i) for the
        members whose chunk ran out (the ensemble knows their row, own step and generator)."""
        if self._next_refill <= step:
            for i in [i for i in live if self._refill_at[i] <= step]:
                refill(i)
            self.started(live)
        drawn = self.chunk[rows, self.pos]
        self.pos.add_(1)
        return drawn[:, : self.b], drawn[:, self.b :]

    def generator_state(self, i: int, own: int) -> torch.Tensor:
        """Member i's generator as a Trainer's would be at its own step `own`: its generator has drawn the
        whole chunk, so replay from the chunk's start up to `own`."""
        g = torch.Generator()
        g.set_state(self._state[i])
        used = (own - self._start[i]) * 2 * self.b
        if used:
            torch.randint(self.n_points, (used,), generator=g)
        return g.get_state()
