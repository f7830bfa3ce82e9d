"""orgapi.base.side_by_side: reads made together answer as if made one after the other (issue 22)."""

from __future__ import annotations

import threading

import pytest

from orgapi.base.side_by_side import ReadsAhead, together


def test_results_come_in_order_and_the_reads_overlap():
    both_started = threading.Barrier(2, timeout=5)  # each read waits for the other: only side by side can they finish

    def read(value):
        both_started.wait()
        return value

    assert together(lambda: read("a"), lambda: read("b")) == ["a", "b"]


def test_the_first_failure_in_order_is_raised_after_every_read_finished():
    finished = []

    def fails(name):
        finished.append(name)
        raise KeyError(name)

    def slow_ok():
        threading.Event().wait(0.05)
        finished.append("ok")
        return "ok"

    with pytest.raises(KeyError, match="first"):
        together(lambda: fails("first"), slow_ok, lambda: fails("second"))
    assert sorted(finished) == ["first", "ok", "second"]


def test_no_reads_and_one_read():
    assert together() == []
    assert together(lambda: threading.current_thread().name) == [threading.current_thread().name]  # inline


def test_a_read_ahead_is_taken_once_then_read_fresh():
    calls = []

    def read():
        calls.append(1)
        return len(calls)

    ahead = ReadsAhead()
    ahead.start("invitation", read)
    assert ahead.take("invitation", read) == 1
    assert ahead.take("invitation", read) == 2  # a second look (after a lost answer) is a new read
    assert ahead.take("other", read) == 3


def test_settle_waits_for_reads_nobody_took():
    release, done = threading.Event(), []

    def read():
        release.wait(5)
        done.append(True)

    ahead = ReadsAhead()
    ahead.start("invitation", read)
    release.set()
    ahead.settle()
    assert done == [True]


def test_settle_undoes_what_was_started_and_never_taken():
    undone = []
    ahead = ReadsAhead()
    ahead.start("lease", lambda: "lease-1", undo=undone.append)
    ahead.start("places", lambda: "places-1", undo=undone.append)
    assert ahead.take("places", lambda: "fresh") == "places-1"  # taken: its owner undoes it, not settle
    ahead.settle()
    assert undone == ["lease-1"]


def test_settle_undoes_nothing_that_failed_to_start():
    undone = []

    def busy():
        raise RuntimeError("busy")

    ahead = ReadsAhead()
    ahead.start("lease", busy, undo=undone.append)
    ahead.settle()  # the failure is nobody's answer: the request ended before it needed the lease
    assert undone == []


def test_settle_waits_for_later_tasks():
    release, done = threading.Event(), []

    def release_lease():
        release.wait(5)
        done.append(True)

    ahead = ReadsAhead()
    ahead.later(release_lease)
    assert done == []
    release.set()
    ahead.settle()
    assert done == [True]


def test_undo_gives_back_what_was_started_once_it_is_done_and_a_later_take_starts_afresh():
    release, undone = threading.Event(), []

    def take():
        release.wait(5)
        return "places-1"

    ahead = ReadsAhead()
    ahead.start("places", take, undo=undone.append)
    ahead.undo("places")  # returns at once, while the take is still running
    assert undone == []
    release.set()
    assert ahead.take("places", lambda: "places-2") == "places-2"
    ahead.settle()
    assert undone == ["places-1"]
