"""Adaptive batching: requests that wait together are predicted in one call.

A request goes to the queue; one batch at a time per prediction thread takes up to
``ALGOPORT_MAX_BATCH_SIZE`` queued requests and hands them to the dispatcher as one unit
of work (inline or on a thread, as a single request would go). With
``ALGOPORT_MAX_BATCH_DELAY_MS`` at 0 a batch never waits: it holds the requests that
arrived while the previous batch was predicted, so a lone request is predicted at once
and a busy worker makes fewer, larger calls. A delay makes a batch wait up to that long
for more requests, trading latency for larger calls.

Within a batch every request is decoded on its own, so a body that does not parse fails
alone. Requests are then predicted together when ``predict`` could not tell them apart:
each decoded into a 2-D ``numpy.ndarray`` of the same dtype and width, and their
:class:`~algoport.media.Invocation` objects are equal (content type with its parameters,
``Accept``, custom attributes, target model, inference id). Their rows are concatenated
in arrival order, predicted in one call, split back, and each request's share is encoded
for its own ``Accept``; what ``predict`` sets in ``response_custom_attributes`` goes to
each of them. Should the joint call fail (one request's values refused, say), each
request of the group is predicted alone, so only the one at fault gets an error.

Only an algorithm whose ``capabilities`` hook declares ``independent_rows`` is batched:
its promise that a record's prediction never depends on the others makes the replies the
same as unbatched ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from algoport.media import Format, Invocation, decoded_size_limit
from algoport.serving.dispatch import Dispatcher
from algoport.settings import Settings

if TYPE_CHECKING:
    from algoport.serving.app import ModelHost

Outcome = bytes | Exception


@dataclass
class Request:
    """One request waiting in the queue for its reply."""

    body: bytes
    decoder: Format
    encoder: Format
    invocation: Invocation
    reply: asyncio.Future[bytes]


@dataclass
class Group:
    """Decoded requests ``predict`` could not tell apart, by index in their batch.

    ``dtype`` and ``width`` are None for data other than a 2-D array, which joins no group.
    """

    invocation: Invocation
    dtype: np.dtype[Any] | None
    width: int | None
    members: list[int]


class Batcher:
    def __init__(self, host: ModelHost, dispatcher: Dispatcher, settings: Settings) -> None:
        self.host = host
        self.dispatcher = dispatcher
        self.max_size = settings.max_batch_size
        self.max_delay = settings.max_batch_delay_ms / 1000
        self.max_decoded_bytes = settings.max_decoded_bytes
        self.queue: deque[Request] = deque()
        self.full = asyncio.Event()
        self.draining = 0  # batches being gathered or predicted, at most one per thread
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self.max_size > 1 and self.host.independent_rows

    async def invoke(
        self, body: bytes, decoder: Format, encoder: Format, invocation: Invocation
    ) -> bytes:
        """The reply to one request, predicted with whichever requests wait beside it."""
        reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.queue.append(Request(body, decoder, encoder, invocation, reply))
        if len(self.queue) >= self.max_size:
            self.full.set()
        if self.draining < self.dispatcher.threads:
            self.draining += 1
            task = asyncio.create_task(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await reply

    async def _drain(self) -> None:
        try:
            while self.queue:
                if self.max_delay and len(self.queue) < self.max_size:
                    self.full.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.full.wait(), self.max_delay)
                count = min(self.max_size, len(self.queue))
                batch = [self.queue.popleft() for _ in range(count)]
                if batch:  # else another batch took them while this one waited
                    await self._predict(batch)
        finally:
            # In the same step as the last look at the queue: a request queued after it
            # finds fewer batches draining and starts one.
            self.draining -= 1

    async def _predict(self, batch: list[Request]) -> None:
        size = sum(len(request.body) for request in batch)
        try:
            outcomes = await self.dispatcher.run(lambda: self._answer(batch), size, len(batch))
        except Exception as exc:  # the timeout: every request of the batch gets it
            outcomes = [exc] * len(batch)
        except asyncio.CancelledError:
            for request in batch:
                request.reply.cancel()
            raise
        for request, outcome in zip(batch, outcomes, strict=True):
            if request.reply.done():  # the client went away
                continue
            if isinstance(outcome, Exception):
                request.reply.set_exception(outcome)
            else:
                request.reply.set_result(outcome)

    def _answer(self, batch: Sequence[Request]) -> list[Outcome]:
        """Every request's reply bytes, or the exception that is its answer."""
        with decoded_size_limit(self.max_decoded_bytes):
            if len(batch) == 1:
                request = batch[0]
                return [
                    _outcome(
                        self.host.invoke,
                        request.body,
                        request.decoder,
                        request.encoder,
                        request.invocation,
                    )
                ]
            outcomes: list[Outcome | None] = [None] * len(batch)
            decoded: list[Any] = [None] * len(batch)
            for index, request in enumerate(batch):
                try:
                    decoded[index] = self.host.decode(
                        request.body, request.decoder, request.invocation
                    )
                except Exception as exc:
                    outcomes[index] = exc
        for group in _groups(batch, decoded, outcomes):
            if len(group.members) == 1:
                index = group.members[0]
                outcomes[index] = self._alone(batch[index], decoded[index])
            else:
                for index, outcome in self._together(batch, decoded, group):
                    outcomes[index] = outcome
        assert None not in outcomes
        return cast(list[Outcome], outcomes)

    def _alone(self, request: Request, data: Any) -> Outcome:
        return _outcome(self._predict_and_encode, data, request)

    def _predict_and_encode(self, data: Any, request: Request) -> bytes:
        columns = self.host.predict(data, request.invocation)
        return self.host.encode(columns, request.encoder, request.invocation)

    def _together(
        self, batch: Sequence[Request], decoded: Sequence[Any], group: Group
    ) -> list[tuple[int, Outcome]]:
        parts = [decoded[index] for index in group.members]
        shared = dataclasses.replace(group.invocation)  # predict may set its response attributes
        try:
            columns = self.host.predict(np.concatenate(parts), shared)
        except Exception:
            return [(index, self._alone(batch[index], decoded[index])) for index in group.members]
        outcomes: list[tuple[int, Outcome]] = []
        start = 0
        for index, part in zip(group.members, parts, strict=True):
            stop = start + len(part)
            request = batch[index]
            request.invocation.response_custom_attributes = shared.response_custom_attributes
            share = {name: column[start:stop] for name, column in columns.items()}
            outcomes.append(
                (index, _outcome(self.host.encode, share, request.encoder, request.invocation))
            )
            start = stop
        return outcomes


def _outcome(work: Callable[..., bytes], *args: Any) -> Outcome:
    try:
        return work(*args)
    except Exception as exc:
        return exc


def _groups(
    batch: Sequence[Request], decoded: Sequence[Any], outcomes: Sequence[Outcome | None]
) -> list[Group]:
    """The decoded requests in groups that may share a predict call, in arrival order."""
    groups: list[Group] = []
    for index, (request, data) in enumerate(zip(batch, decoded, strict=True)):
        if outcomes[index] is not None:  # did not decode
            continue
        if not (isinstance(data, np.ndarray) and data.ndim == 2):
            groups.append(Group(request.invocation, None, None, [index]))
            continue
        for group in groups:
            if (
                group.dtype == data.dtype
                and group.width == data.shape[1]
                and group.invocation == request.invocation
            ):
                group.members.append(index)
                break
        else:
            groups.append(Group(request.invocation, data.dtype, data.shape[1], [index]))
    return groups
