"""The in-process store for embedded mode: Redis' data model and every store script as plain
Python, behind the ``redis.asyncio.Redis`` interface the stores already use."""

from router.store.memory.client import MemoryRedis

__all__ = ["MemoryRedis"]
