"""Steps of background work: trying one until it succeeds (``retry_until_done``) and stopping a
task for good (``cancel_quietly``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
# After a failed try: wait this long before the next, doubling up to the cap.
RETRY_FIRST, RETRY_CAP = 0.05, 2.0


async def retry_until_done(
    step: Callable[[], Awaitable[None]],
    errors: tuple[type[Exception], ...],
    what: str,
) -> None:
    """Run ``step`` until it raises none of ``errors``; each failure is logged as a warning
    (``what`` cannot be done yet) and followed by a growing pause."""
    delay = RETRY_FIRST
    while True:
        try:
            await step()
            return
        except errors:
            log.warning("%s: trying again in %.2fs", what, delay, exc_info=True)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_CAP)


async def cancel_quietly(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it to end.

    The cancellation is repeated until the task is done: on Python 3.11 ``asyncio.wait_for``
    can swallow a cancellation that arrives just as the awaited call finishes (and a client
    library may swallow one while subscribing), and a loop would then go on forever.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait((task,), timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError):
        await task
