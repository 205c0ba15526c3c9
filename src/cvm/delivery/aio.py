"""An asyncio event loop in a thread of its own, for transports that keep many requests in flight.

Requests run as coroutines on the loop, so a deadline cancels one for real (its connection
is closed), and a hundred requests in flight cost a hundred coroutines, not threads. The
worker's thread hands coroutines over with :meth:`LoopThread.submit` and gets futures back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """A running event loop on a daemon thread; :meth:`close` stops it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coro`` on the loop; its result arrives in the returned future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self, last: Awaitable[None] | None = None, *, wait: float = 10.0) -> None:
        """Cancel what still runs, await ``last`` (e.g. closing a client), stop the loop and its thread."""
        if self.loop.is_closed():
            return

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if last is not None:
                await last

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=wait)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=wait)
            if not self._thread.is_alive():
                self.loop.close()
