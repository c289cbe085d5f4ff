from dataclasses import replace
from datetime import UTC, datetime, timedelta

from consumer.model import AsyncPending, PendingIntent
from consumer.status.book import PendingBook

P0 = ("pending", 0)
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def pending(request_id: str) -> AsyncPending:
    intent = PendingIntent("i-1", T0, T0, 1, ("customer_id:a",))
    return AsyncPending(request_id, "rs", "C", "b", T0, T0, T0 + timedelta(hours=23), (intent,))


def test_due_entries_come_out_in_due_order_and_not_before_their_time():
    book = PendingBook()
    book.add(pending("late"), P0, 1, due=30.0, deadline=1e9)
    book.add(pending("early"), P0, 2, due=10.0, deadline=1e9)
    assert book.take_due(now=5.0, limit=10) == []
    due = book.take_due(now=30.0, limit=10)
    assert [entry.pending.request_id for entry in due] == ["early", "late"]


def test_a_taken_entry_is_busy_until_rescheduled():
    book = PendingBook()
    entry = book.add(pending("r"), P0, 1, due=0.0, deadline=1e9)
    assert book.take_due(now=1.0, limit=10) == [entry]
    assert book.take_due(now=1.0, limit=10) == [], "busy: not handed out twice"
    book.schedule(entry, due=2.0)
    assert book.take_due(now=2.0, limit=10) == [entry]


def test_a_later_record_for_the_same_request_replaces_the_entry_and_its_schedule():
    book = PendingBook()
    first = book.add(pending("r"), P0, 1, due=0.0, deadline=1e9)
    second = book.add(replace(pending("r"), poll_attempts=3), P0, 7, due=50.0, deadline=1e9)
    assert len(book) == 1
    assert not book.current(first)
    assert book.take_due(now=10.0, limit=10) == [], "the replaced entry's schedule is gone"
    taken = book.take_due(now=50.0, limit=10)
    assert taken == [second]
    assert (taken[0].offset, taken[0].polls) == (7, 3)


def test_removing_an_entry_cancels_its_schedule_and_a_second_removal_reports_false():
    book = PendingBook()
    entry = book.add(pending("r"), P0, 1, due=0.0, deadline=1e9)
    assert book.remove(entry)
    assert not book.remove(entry)
    assert book.take_due(now=10.0, limit=10) == []


def test_take_due_hands_out_no_more_than_the_limit():
    book = PendingBook()
    for n in range(5):
        book.add(pending(f"r{n}"), P0, n, due=0.0, deadline=1e9)
    assert len(book.take_due(now=1.0, limit=2)) == 2
    assert len(book.take_due(now=1.0, limit=10)) == 3


def test_entries_are_found_by_partition():
    book = PendingBook()
    book.add(pending("a"), ("pending", 0), 1, due=0.0, deadline=1e9)
    book.add(pending("b"), ("pending", 1), 1, due=0.0, deadline=1e9)
    assert [e.pending.request_id for e in book.in_partitions([("pending", 1)])] == ["b"]
