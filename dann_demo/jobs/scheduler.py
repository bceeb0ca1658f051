"""Who trains with whom: the class's queue and its open batches, as bookkeeping only (no threads, no
torch; the manager holds the lock and the runners train).

Works like an inference server's continuous batcher. Jobs wait in one queue, oldest first. A ticket
with a group (batching.group_key) can train with the other tickets of its group as one batch, at most
`max_batch` at a time; a ticket without one (a sweep, a run resumed from a copy, images on the CPU)
trains alone. A batch that takes members while it trains ("joinable") stays open: a queued ticket of
its group joins it at its next log step rather than starting a second batch beside it (two batches
of one process share its GIL: the class trained about three times slower, docs/benchmarks.md). So a
ticket waits in the queue while an open batch of its group is being built or has room, and any free
worker takes the oldest ticket that no open batch will take.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ticket:
    """A job waiting to train: its id, the group it may batch with (None: alone), whether a batch
    started for it would take members while it trains, and when it was submitted."""

    id: str
    group: str | None = None
    joinable: bool = False
    submitted_at: float = 0.0


@dataclass
class Batch:
    """Tickets a worker took to train together. While open (joinable, until closed) it may take more."""

    tickets: list[Ticket]
    group: str | None
    joinable: bool
    members: set[str] = field(default_factory=set)  # the ids training in it now
    building: bool = True  # taken, but its trainer not yet built
    number: int = 0

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.tickets]


class BatchScheduler:
    def __init__(self, max_batch: int = 32, join_running: bool = True, window: float = 0.0):
        self.max_batch = max(1, max_batch)
        self.join_running = join_running
        self.window = window  # how long a ticket whose batch takes nobody later waits for company
        self.queue: list[Ticket] = []
        self.open: list[Batch] = []  # joinable batches, being built or training
        self._numbers = itertools.count(1)

    # --- the queue ---
    def enqueue(self, ticket: Ticket) -> None:
        if not self.join_running and ticket.joinable:
            ticket = Ticket(ticket.id, ticket.group, False, ticket.submitted_at)
        self.queue.append(ticket)

    def withdraw(self, job_id: str) -> bool:
        """Take a queued ticket out (its job will not start here); whether it was queued."""
        for t in self.queue:
            if t.id == job_id:
                self.queue.remove(t)
                return True
        return False

    def position(self, job_id: str) -> int:
        """How many queued tickets are ahead of this one (0: next, or not queued)."""
        return next((n for n, t in enumerate(self.queue) if t.id == job_id), 0)

    @property
    def idle(self) -> bool:
        return not self.queue and not self.open

    # --- taking work ---
    def next_free(self) -> Ticket | None:
        """The oldest ticket no open batch will take: what a free worker starts next."""
        return next((t for t in self.queue if self.batch_for(t) is None and not self._built_for(t)), None)

    def wait(self, now: float) -> float:
        """Seconds a free worker should still wait before taking next_free(): a ticket that can batch
        but whose batch takes nobody later waits `window` after submission for company (Triton's
        max queue delay). A joinable batch needs no wait: the others join it within log_every steps."""
        first = self.next_free()
        if first is None or first.group is None or first.joinable:
            return 0.0
        return max(0.0, first.submitted_at + self.window - now)

    def take(self) -> Batch | None:
        """Take next_free() and, where it can batch, every queued ticket of its group (up to max_batch)."""
        first = self.next_free()
        if first is None:
            return None
        self.queue.remove(first)
        tickets = [first] if first.group is None else [first, *self._take_group(first.group, self.max_batch - 1)]
        batch = Batch(tickets, first.group, first.joinable, {t.id for t in tickets}, number=next(self._numbers))
        if batch.joinable:
            self.open.append(batch)
        return batch

    def built(self, batch: Batch) -> None:
        """Its trainer is built: from now it takes joiners where it has room."""
        batch.building = False

    def joiners(self, batch: Batch) -> list[Ticket]:
        """Queued tickets that join `batch` now: those of its group for which it is the batch to join."""
        if batch not in self.open or batch.building:
            return []
        waiting = next((t for t in self.queue if t.group == batch.group), None)
        if waiting is None or self.batch_for(waiting) is not batch:
            return []
        joined = self._take_group(batch.group, self.max_batch - len(batch.members))
        batch.tickets += joined
        batch.members |= {t.id for t in joined}
        return joined

    def left(self, batch: Batch, job_id: str) -> None:
        """A member ended (finished, stopped, failed): its place is free."""
        batch.members.discard(job_id)

    def close(self, batch: Batch) -> bool:
        """`batch` takes no more members. True when queued tickets of its group were left for it: they
        now need a worker's turn (False once it is closed: a second close frees nothing)."""
        if batch not in self.open:
            return False
        self.open.remove(batch)
        return any(t.group == batch.group for t in self.queue)

    # --- the rule ---
    def batch_for(self, ticket: Ticket) -> Batch | None:
        """The open batch that `ticket` will join at its next log step: the smallest of its group with
        room (one being built counts as full: its runs have just been taken)."""
        if not self.join_running or ticket.group is None:
            return None
        candidates = [b for b in self.open if b.group == ticket.group and not b.building]
        candidates = [b for b in candidates if len(b.members) < self.max_batch]
        return min(candidates, key=lambda b: len(b.members), default=None)

    def _built_for(self, ticket: Ticket) -> bool:
        """A batch of the ticket's group is being built: the ticket waits to join it, rather than a free
        worker starting a second batch of the group meanwhile."""
        return (
            self.join_running
            and ticket.group is not None
            and any(b.group == ticket.group and b.building for b in self.open)
        )

    def _take_group(self, group: str, room: int) -> list[Ticket]:
        taken = [t for t in self.queue if t.group == group][: max(0, room)]
        for t in taken:
            self.queue.remove(t)
        return taken
