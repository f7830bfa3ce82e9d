"""Independent Logto calls of one request, made side by side: together they cost one round trip, not one each.

Only the request's own thread waits on this pool (tasks never wait on other tasks), so it cannot deadlock however
many requests share a process. A failed call's exception is re-raised in the request's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")

POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="side-by-side")
# What ReadsAhead starts may wait (a busy organization's lease backs off for seconds): its own pool, so waiting there
# never holds up the side-by-side reads of another request in the same process (the local stack runs many).
AHEAD_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="ahead")


def together(*reads: Callable[[], Any]) -> list[Any]:
    """Every read's result, in order. All of them finish before this returns (nothing outlives the request); when
    some fail, the first failure in argument order is raised, as if they had run one after the other."""
    if len(reads) == 1:
        return [reads[0]()]
    futures = [POOL.submit(read) for read in reads]
    wait(futures)
    return [future.result() for future in futures]


class ReadsAhead:
    """What a request starts before it needs it, so it travels beside other calls: a read (the invitation a route names,
    beside the permission check's reads) or a take that must be undone if unused (an e-mail's rate-limit places,
    beside the organization's lease). Each is taken at most once: a later `take` of the same key (after a lost answer)
    starts afresh. What is started and never taken is undone (`undo`, or `settle` when the request ends: places given
    back). `later` runs what may overlap the rest of the request (releasing a lease beside the audit write); `settle`
    waits for all of it, so nothing runs past the answer."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[Future[Any], Callable[[Any], None] | None]] = {}
        self._later: list[Future[Any]] = []

    def start(self, key: str, read: Callable[[], Any], undo: Callable[[Any], None] | None = None) -> None:
        self._pending[key] = (AHEAD_POOL.submit(read), undo)

    def take(self, key: str, read: Callable[[], T]) -> T:
        future, _ = self._pending.pop(key, (None, None))
        return future.result() if future is not None else read()

    def undo(self, key: str) -> None:
        """Undo what was started under `key` and not taken yet, as soon as it is done, without waiting for it here (a
        later `take` of the key starts afresh). Safe from a pool's thread: the undo queues behind what it undoes."""
        future, undo = self._pending.pop(key, (None, None))
        if future is not None:
            self._later.append(AHEAD_POOL.submit(_undone, future, undo) if undo is not None else future)

    def later(self, task: Callable[[], Any]) -> None:
        self._later.append(POOL.submit(task))

    def settle(self) -> None:
        """Undo what nobody took, and wait for it and for every `later` task."""
        for key in list(self._pending):
            self.undo(key)
        wait(self._later)
        self._later = []


def _undone(future: Future[Any], undo: Callable[[Any], None]) -> None:
    if future.exception() is None:
        undo(future.result())
