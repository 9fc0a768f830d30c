"""The store: sessions, agents, credentials and timers (Redis, or its in-process double)."""

from router.store.redis import RedisStore

__all__ = ["RedisStore"]
