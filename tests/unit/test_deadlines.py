"""One timer per loop for many deadlines: what a block sees when its deadline passes."""

from __future__ import annotations

import asyncio

import pytest

from algoport.serving.deadlines import RESOLUTION, deadline


async def wait_in_block(seconds: float, waiting: float) -> str:
    with deadline(seconds):
        await asyncio.sleep(waiting)
    return "done"


def test_a_block_past_its_deadline_raises_timeout_error_and_others_finish() -> None:
    async def main() -> list[object]:
        return await asyncio.gather(
            wait_in_block(0.1, 10),
            wait_in_block(10, 0.2),
            wait_in_block(0.1, 0.01),
            return_exceptions=True,
        )

    late, slow_but_in_time, quick = asyncio.run(main())
    assert isinstance(late, TimeoutError)
    assert (slow_but_in_time, quick) == ("done", "done")


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def main() -> None:
        task = asyncio.create_task(wait_in_block(10, 10))
        await asyncio.sleep(RESOLUTION * 2)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
