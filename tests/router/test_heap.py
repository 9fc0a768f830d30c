"""``switchboard serve`` keeps what start-up built out of the collector's full passes."""

from __future__ import annotations

import gc

from pytest_aiohttp import AiohttpClient

from router.cli import serve_app
from router.config import demo_config
from router.keys import RUNTIME
from router.settings import Settings


def tracked(obj: object) -> bool:
    """In one of the collector's generations (frozen objects are in none of them)."""
    return any(o is obj for o in gc.get_objects())


async def test_serve_freezes_the_objects_start_up_built(aiohttp_client: AiohttpClient) -> None:
    app = serve_app(Settings(tick_seconds=0.05, partitions=2), demo_config(), True)
    try:
        before = gc.get_freeze_count()
        await aiohttp_client(app)
        runtime = app[RUNTIME]
        assert gc.get_freeze_count() > before
        # Built before or during start-up (the runtime's background tasks are started by
        # its start): frozen. Built afterwards: the collector still sees it.
        assert not tracked(runtime)
        assert runtime._tasks
        assert not any(tracked(task) for task in runtime._tasks)
        later: list[object] = [runtime]
        assert tracked(later)
    finally:
        gc.unfreeze()
