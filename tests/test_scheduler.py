"""The scheduler alone: who trains with whom, with fake tickets (no threads, no torch)."""

from dann_demo.jobs.scheduler import BatchScheduler, Ticket


def _tickets(scheduler, *specs):
    for n, (name, group, joinable) in enumerate(specs):
        scheduler.enqueue(Ticket(name, group, joinable, submitted_at=float(n)))


def test_a_groups_queued_tickets_form_one_batch_up_to_max_batch_and_others_wait_their_turn():
    s = BatchScheduler(max_batch=3)
    _tickets(s, ("a1", "A", False), ("b1", "B", False), ("a2", "A", False), ("a3", "A", False), ("a4", "A", False))
    assert s.take().ids == ["a1", "a2", "a3"]
    assert s.position("a4") == 1 and s.position("b1") == 0
    assert s.take().ids == ["b1"] and s.take().ids == ["a4"] and s.take() is None and s.idle


def test_tickets_without_a_group_train_alone_in_order():
    s = BatchScheduler()
    _tickets(s, ("sweep", None, False), ("x", None, False))
    assert s.take().ids == ["sweep"] and s.take().ids == ["x"]


def test_while_a_joinable_batch_is_built_its_group_waits_and_then_joins_it():
    s = BatchScheduler(max_batch=4)
    _tickets(s, ("a1", "A", True))
    batch = s.take()
    _tickets(s, ("a2", "A", True), ("b1", "B", True), ("a3", "A", True))
    assert s.next_free().id == "b1"  # a free worker takes the other group, not a second batch of A
    assert s.joiners(batch) == []  # still being built
    s.built(batch)
    assert [t.id for t in s.joiners(batch)] == ["a2", "a3"] and batch.members == {"a1", "a2", "a3"}
    assert s.take().ids == ["b1"]


def test_a_full_batch_leaves_the_rest_to_a_free_worker_and_a_place_freed_is_taken():
    s = BatchScheduler(max_batch=2)
    _tickets(s, ("a1", "A", True), ("a2", "A", True))
    batch = s.take()
    s.built(batch)
    _tickets(s, ("a3", "A", True))
    assert s.batch_for(s.queue[0]) is None and s.next_free().id == "a3"  # full: a3 may start a batch
    s.left(batch, "a1")
    assert s.batch_for(s.queue[0]) is batch and s.next_free() is None
    assert [t.id for t in s.joiners(batch)] == ["a3"]


def test_the_smallest_open_batch_with_room_takes_a_joiner():
    s = BatchScheduler(max_batch=3)
    _tickets(s, ("a1", "A", True), ("a2", "A", True), ("a3", "A", True))
    big = s.take()
    s.built(big)
    _tickets(s, ("a4", "A", True))
    small = s.take()  # big is full: a4 starts a second batch
    s.built(small)
    _tickets(s, ("a5", "A", True))
    assert s.batch_for(s.queue[0]) is small
    assert s.joiners(big) == [] and [t.id for t in s.joiners(small)] == ["a5"]


def test_closing_a_batch_says_whether_tickets_were_left_for_it():
    s = BatchScheduler()
    _tickets(s, ("a1", "A", True))
    batch = s.take()
    _tickets(s, ("a2", "A", True))
    assert s.next_free() is None  # left for the batch being built
    assert s.close(batch) is True and s.next_free().id == "a2"
    lone = s.take()
    assert s.close(lone) is False


def test_a_ticket_whose_batch_takes_nobody_later_waits_the_window_for_company():
    s = BatchScheduler(window=0.5)
    s.enqueue(Ticket("fixed", "A", joinable=False, submitted_at=10.0))
    assert abs(s.wait(now=10.1) - 0.4) < 1e-9 and s.wait(now=11.0) == 0.0
    s = BatchScheduler(window=0.5)
    s.enqueue(Ticket("joinable", "A", joinable=True, submitted_at=10.0))
    assert s.wait(now=10.1) == 0.0


def test_with_joining_off_no_batch_stays_open():
    s = BatchScheduler(join_running=False)
    _tickets(s, ("a1", "A", True))
    batch = s.take()
    assert not batch.joinable and not s.open
    _tickets(s, ("a2", "A", True))
    assert s.next_free().id == "a2"


def test_a_withdrawn_ticket_leaves_the_queue():
    s = BatchScheduler()
    _tickets(s, ("a", None, False), ("b", None, False))
    assert s.withdraw("a") and not s.withdraw("a") and s.position("b") == 0 and s.take().ids == ["b"]
