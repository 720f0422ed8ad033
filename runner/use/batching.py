"""Dynamic batching for `ftrun serve`: requests that arrive together are scored in one forward pass.

Each request waits in a queue; one task takes the oldest and gathers the requests behind it until
their texts fill a largest batch or a longest wait has passed, then scores them all in one call (in a
worker thread, so the event loop keeps accepting requests meanwhile) and hands each request its rows.
While a batch is scored, the next one gathers: under load batches fill; alone, a request waits at most
the longest wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Rows = list[dict[str, Any]]


class QueueFull(Exception):
    """More requests wait than the service queues: the client should retry later (HTTP 503)."""


class Stopping(Exception):
    """The service is shutting down before the request was scored (HTTP 503)."""


@dataclass
class Pending:
    inputs: Sequence[Any]
    answer: asyncio.Future[Rows]


class Batcher:
    def __init__(
        self,
        score: Callable[[list[Any]], Rows],
        max_batch: int,
        max_wait_s: float,
        max_waiting: int = 1024,
    ) -> None:
        self.score = score  # inputs -> one row each, in order; called from a worker thread
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_waiting = max_waiting
        self.waiting: deque[Pending] = deque()
        self.arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(), name="ftrun-batcher")

    async def stop(self) -> None:
        """Stop gathering; every request still waiting is answered with `Stopping`."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        while self.waiting:
            fail(self.waiting.popleft(), Stopping("the service is shutting down"))

    async def submit(self, inputs: Sequence[Any]) -> Rows:
        """The rows for `inputs`, once the batch they joined is scored."""
        if self.task is None:
            raise Stopping("the service is not running")
        if len(self.waiting) >= self.max_waiting:
            raise QueueFull(f"{len(self.waiting)} requests are waiting; try again shortly")
        pending = Pending(inputs, asyncio.get_running_loop().create_future())
        self.waiting.append(pending)
        self.arrived.set()
        return await pending.answer

    async def next_batch(self) -> list[Pending]:
        """The oldest request and those behind it that fit in `max_batch` texts, waiting for more
        until `max_wait_s` after the oldest was taken. A request larger than a batch goes alone."""
        while not self.waiting:
            self.arrived.clear()
            await self.arrived.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        batch = [self.waiting.popleft()]
        size = len(batch[0].inputs)
        while size < self.max_batch:
            if self.waiting:
                if size + len(self.waiting[0].inputs) > self.max_batch:
                    break
                batch.append(self.waiting.popleft())
                size += len(batch[-1].inputs)
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            self.arrived.clear()
            try:
                # An event, not the queue itself, is waited on: a timed-out wait then loses no request.
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                break
        return batch

    async def run(self) -> None:
        while True:
            batch = [pending for pending in await self.next_batch() if not pending.answer.done()]
            if not batch:  # every client of it went away
                continue
            inputs = [one for pending in batch for one in pending.inputs]
            try:
                rows = await asyncio.to_thread(self.score, inputs)
            except asyncio.CancelledError:
                for pending in batch:
                    fail(pending, Stopping("the service is shutting down"))
                raise
            except Exception as error:  # a bug while scoring: every request of the batch is told
                for pending in batch:
                    fail(pending, error)
                continue
            start = 0
            for pending in batch:
                if not pending.answer.done():
                    pending.answer.set_result(rows[start : start + len(pending.inputs)])
                start += len(pending.inputs)


def fail(pending: Pending, error: BaseException) -> None:
    if not pending.answer.done():
        pending.answer.set_exception(error)
