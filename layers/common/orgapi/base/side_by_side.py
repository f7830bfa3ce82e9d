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


def together(*reads: Callable[[], Any]) -> list[Any]:
    """Every read's result, in order. All of them finish before this returns (nothing outlives the request); when
    some fail, the first failure in argument order is raised, as if they had run one after the other."""
    if len(reads) == 1:
        return [reads[0]()]
    futures = [POOL.submit(read) for read in reads]
    wait(futures)
    return [future.result() for future in futures]


class ReadsAhead:
    """Reads a request will make whatever its permission check decides, started before that check so they travel
    beside its reads. Each is taken at most once: a later read of the same thing (after a lost answer) is fresh."""

    def __init__(self) -> None:
        self._pending: dict[str, Future[Any]] = {}

    def start(self, key: str, read: Callable[[], Any]) -> None:
        self._pending[key] = POOL.submit(read)

    def take(self, key: str, read: Callable[[], T]) -> T:
        future = self._pending.pop(key, None)
        return future.result() if future is not None else read()

    def settle(self) -> None:
        """Wait for reads nobody took (the request failed before it needed them): nothing runs past the answer."""
        wait(list(self._pending.values()))
        self._pending.clear()
