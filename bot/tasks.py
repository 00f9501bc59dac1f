"""The one way the gateway runs background tasks: started with a context, cancelled and awaited at its end."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Coroutine, Iterable, List


async def cancel_all(tasks: Iterable["asyncio.Future[Any]"]) -> None:
    """Cancel ``tasks`` and wait until each has finished (their errors are not re-raised)."""
    pending: List["asyncio.Future[Any]"] = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)  # cancelled or already failed: nothing to report


@asynccontextmanager
async def background(*coroutines: Coroutine[Any, Any, None]) -> AsyncIterator[List["asyncio.Task[None]"]]:
    """Run ``coroutines`` as tasks for the duration of the block, then cancel and await them."""
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        yield tasks
    finally:
        await cancel_all(tasks)
