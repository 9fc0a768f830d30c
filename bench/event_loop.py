"""The event loop the benchmark's processes run on: uvloop's when it is installed."""

from __future__ import annotations

import asyncio


def use_uvloop() -> None:
    """Make uvloop's the event loop of this process from here on, when uvloop is installed."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
