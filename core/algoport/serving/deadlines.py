"""Deadlines for the many short awaits of a busy server, checked by one timer per loop.

``asyncio.timeout`` schedules a timer for every block and cancels it when the block ends
in time; the cancelled timers pile up in the event loop's heap until the loop rebuilds it.
Around each request's body read that cost about 10 µs of CPU a request, some 5 % of a
1-row request (``bench/inprocess.py``). Here a loop's deadlines sit in one dict, and one
timer, armed while any deadline is pending, looks at them every ``RESOLUTION`` seconds, so
a block may run up to that much past its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import Any, Final

RESOLUTION: Final = 0.05


class _Sweeper:
    """The pending deadlines of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.armed = False

    def add(self, task: asyncio.Task[Any], seconds: float) -> None:
        self.pending[task] = self.loop.time() + seconds
        if not self.armed:
            self.armed = True
            self.loop.call_later(RESOLUTION, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for task, deadline in list(self.pending.items()):
            if deadline <= now:
                del self.pending[task]
                self.expired.add(task)
                task.cancel()
        self.armed = bool(self.pending)
        if self.armed:
            self.loop.call_later(RESOLUTION, self._sweep)


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweeper] = (
    weakref.WeakKeyDictionary()
)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Within the block, the current task is cancelled once ``seconds`` (and at most
    ``RESOLUTION`` more) have passed; the block then raises TimeoutError, as
    ``asyncio.timeout`` would."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    sweeper = _sweepers.get(loop)
    if sweeper is None:
        sweeper = _sweepers[loop] = _Sweeper(loop)
    sweeper.add(task, seconds)
    try:
        yield
    except asyncio.CancelledError:
        if task not in sweeper.expired:
            raise
        sweeper.expired.discard(task)
        task.uncancel()
        raise TimeoutError from None
    finally:
        sweeper.pending.pop(task, None)
