"""Where a request's decode-predict-encode runs: a worker thread, or inline when it is tiny.

Handing work to a thread and back costs about 60 µs, more than a small prediction of a
linear model takes. So a request runs inline on the event loop only when this model's
recent small requests took under ``inline_budget`` seconds (2 ms by default) and the
body is small; everything else, and everything until there is a measurement, runs on a
thread where ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` applies. The budget was 0.5 ms: a
100-row CSV request of a linear model takes ~0.3-0.45 ms, so its requests flipped
between the loop and threads, and 16 clients got 5-15 % fewer replies a second.

An inline run that takes ten times the budget is a strike; every fast inline run forgives
a fiftieth of one, and three strikes send the model to threads for good. So a model with
regular latency spikes blocks the loop a few times at most, while a fast model whose run
was stretched now and then by the scheduler or a garbage collection (wall time counts)
stays inline, rather than queueing concurrent requests behind the GIL on threads.
``ALGOPORT_INLINE_PREDICT_MS=0`` turns inline runs off.

A request past the timeout gets its 504, but its thread can't be stopped. When every
prediction thread is still busy with such a request a whole timeout later, the worker can
serve nothing again: ``on_stuck`` is told, and the worker exits rather than keep answering
/ping 200 and every request 504; the supervisor replaces it (with one worker, ``serve`` ends
and the platform replaces the container). A stopping worker never waits for its prediction
threads beyond the drain (see ``server.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger("algoport.serve")

T = TypeVar("T")

PREDICT_THREAD_PREFIX = "predict"
INLINE_MAX_BYTES = 64 * 1024
SMOOTHING = 0.1
DEMOTE_FACTOR = 10
STRIKES_TO_DEMOTE = 3.0
FORGIVEN_PER_FAST_RUN = 1 / 50


class Dispatcher:
    def __init__(
        self,
        threads: int,
        timeout: float,
        inline_budget: float,
        on_stuck: Callable[[str], None] | None = None,
    ) -> None:
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix=PREDICT_THREAD_PREFIX)
        self.threads = threads
        self.timeout = timeout
        self.on_stuck = on_stuck
        self.overdue: list[Future[Any]] = []  # expired work whose thread still runs it
        self.inline_budget = inline_budget
        self.estimate: float | None = None
        self.samples = 0
        self.demoted = inline_budget <= 0
        self.strikes = 0.0

    def _inline_allowed(self, size: int) -> bool:
        return (
            not self.demoted
            and size <= INLINE_MAX_BYTES
            and self.estimate is not None
            and self.estimate < self.inline_budget
        )

    def _record(self, seconds: float, size: int) -> None:
        if size > INLINE_MAX_BYTES:
            return
        self.samples += 1
        if self.samples == 1:
            return  # the first call pays for warm-up and says little
        if self.estimate is None:
            self.estimate = seconds
        else:
            self.estimate += SMOOTHING * (seconds - self.estimate)

    async def run(self, work: Callable[[], T], size: int, requests: int = 1) -> T:
        """Run ``work`` for ``requests`` requests of ``size`` bytes in all; TimeoutError past
        the timeout. A batch is judged by its time and size per request: inline, it holds
        the loop no longer than its requests one after the other would."""
        size //= requests
        if self._inline_allowed(size):
            started = time.perf_counter()
            result = work()
            seconds = (time.perf_counter() - started) / requests
            self._judge(seconds)
            self._record(seconds, size)
            return result
        return await self._on_thread(work, size, requests)

    def _judge(self, seconds: float) -> None:
        if seconds <= DEMOTE_FACTOR * self.inline_budget:
            self.strikes = max(0.0, self.strikes - FORGIVEN_PER_FAST_RUN)
            return
        self.strikes += 1
        if self.strikes >= STRIKES_TO_DEMOTE:
            self.demoted = True
            log.info(
                "predictions now always run on threads (inline runs keep taking over %.1f ms; "
                "the last took %.1f ms)",
                DEMOTE_FACTOR * self.inline_budget * 1e3,
                seconds * 1e3,
            )

    async def _on_thread(self, work: Callable[[], T], size: int, requests: int) -> T:
        def timed() -> tuple[T, float]:
            started = time.perf_counter()
            return work(), time.perf_counter() - started

        loop = asyncio.get_running_loop()
        work_future = self.executor.submit(timed)
        future = asyncio.wrap_future(work_future)
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            future.cancel()
            if work_future.running():
                self.overdue.append(work_future)
                loop.call_later(self.timeout, self._check_stuck)

        deadline = loop.call_later(self.timeout, expire)
        try:
            result, seconds = await future
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError from None
            raise
        finally:
            deadline.cancel()
        self._record(seconds / requests, size)
        return result

    def _check_stuck(self) -> None:
        self.overdue = [work for work in self.overdue if not work.done()]
        if len(self.overdue) >= self.threads and self.on_stuck is not None:
            self.on_stuck(
                f"all {self.threads} prediction thread(s) are still running requests that "
                f"passed the {self.timeout:g} s timeout a timeout ago; predict looks hung. "
                "Stopping this worker so that it is replaced."
            )

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
