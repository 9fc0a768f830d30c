"""The cyclic garbage collector in a long-running server.

Everything built while the process starts (modules, pydantic's schemas, the configuration,
the runtime's objects) lives as long as the process. Left in the collector's oldest
generation, each full pass walks all of it again: about 100,000 objects, measured at 50 to
75 ms with the event loop stopped, every few seconds to minutes depending on the load, and
seen as a spike in the webhook-to-agent p99. Once started, the process collects what
start-up left behind and freezes the rest, so full passes only walk what was allocated
since.
"""

from __future__ import annotations

import gc

from aiohttp import web


async def freeze_startup_objects(app: web.Application) -> None:
    """``on_startup`` hook, appended after the runtime's start."""
    gc.collect()
    gc.freeze()
