"""Ports of the Lua scripts redis-py's asyncio ``Lock`` (``MemoryRedis.lock()``) registers:
release, extend, reacquire."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio.lock import Lock

from router.store.memory.lib import call_int

if TYPE_CHECKING:
    from router.store.memory.keyspace import Keyspace
    from router.store.memory.lua import Port


def _held(r: Keyspace, keys: list[str], argv: list[str]) -> bool:
    """The lock (``keys[0]``) still holds the caller's token (``argv[0]``)."""
    return r.call("GET", keys[0]) == argv[0]


def release(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    if not _held(r, keys, argv):
        return 0
    r.call("DEL", keys[0])
    return 1


def extend(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    if not _held(r, keys, argv):
        return 0
    expiration = call_int(r, "PTTL", keys[0])
    if expiration < 0:
        return 0
    newttl: str | float = argv[1]
    if argv[2] == "0":
        newttl = float(argv[1]) + expiration
    r.call("PEXPIRE", keys[0], newttl)
    return 1


def reacquire(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    if not _held(r, keys, argv):
        return 0
    r.call("PEXPIRE", keys[0], argv[1])
    return 1


PORTS: dict[str, Port] = {
    Lock.LUA_RELEASE_SCRIPT: release,
    Lock.LUA_EXTEND_SCRIPT: extend,
    Lock.LUA_REACQUIRE_SCRIPT: reacquire,
}
