"""Where `serve` runs a request's work: on the event loop while it stays fast, else on threads."""

from __future__ import annotations

import asyncio
import threading
import time

from algoport.serving.dispatch import Dispatcher

BUDGET = 0.002  # seconds: "fast" work takes microseconds, "slow" work sleeps 20x this
SLOW = 20 * BUDGET


async def where_each_runs(dispatcher: Dispatcher, slow_calls: set[int], calls: int) -> list[bool]:
    """For each call, whether it ran on the event loop's thread."""
    loop_thread = threading.current_thread()
    inline: list[bool] = []
    for call in range(calls):

        def work(call: int = call) -> bool:
            if call in slow_calls:
                time.sleep(SLOW)
            return threading.current_thread() is loop_thread

        inline.append(await dispatcher.run(work, size=100))
    return inline


def test_fast_work_moves_inline_after_a_measurement() -> None:
    dispatcher = Dispatcher(threads=2, timeout=10, inline_budget=BUDGET)

    inline = asyncio.run(where_each_runs(dispatcher, set(), 10))

    assert inline[:2] == [False, False]  # warm-up, then the first measurement
    assert all(inline[2:])


def test_one_stretched_run_does_not_send_a_fast_model_to_threads_for_good() -> None:
    dispatcher = Dispatcher(threads=2, timeout=10, inline_budget=BUDGET)

    inline = asyncio.run(where_each_runs(dispatcher, {5}, 80))

    assert inline[5]  # the stretched run itself was inline
    assert not dispatcher.demoted
    assert all(inline[-10:])


def test_work_that_keeps_stalling_the_loop_goes_to_threads_for_good() -> None:
    dispatcher = Dispatcher(threads=2, timeout=10, inline_budget=BUDGET)
    stalls = set(range(5, 400, 20))

    inline = asyncio.run(where_each_runs(dispatcher, stalls, 400))

    assert dispatcher.demoted
    stalled_inline = [call for call in stalls if inline[call]]
    assert 3 <= len(stalled_inline) <= 5  # three strikes, less what fast runs forgave
    assert not any(inline[max(stalled_inline) + 1 :])


def test_zero_budget_never_runs_inline() -> None:
    dispatcher = Dispatcher(threads=2, timeout=10, inline_budget=0)

    inline = asyncio.run(where_each_runs(dispatcher, set(), 10))

    assert not any(inline)
