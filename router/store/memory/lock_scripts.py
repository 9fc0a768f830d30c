"""Ports of the Lua scripts redis-py's ``Lock`` registers (release, extend, reacquire)."""

from __future__ import annotations

from redis.asyncio.lock import Lock as AsyncLock
from redis.lock import Lock

from router.store.memory.keyspace import Keyspace
from router.store.memory.lua import Port


def release(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    token = r.call("GET", keys[0])
    if token is None or token != argv[0]:
        return 0
    r.call("DEL", keys[0])
    return 1


def extend(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    token = r.call("GET", keys[0])
    if token is None or token != argv[0]:
        return 0
    expiration = r.call("PTTL", keys[0])
    assert isinstance(expiration, int)
    if expiration < 0:
        return 0
    newttl: str | float = argv[1]
    if argv[2] == "0":
        newttl = float(argv[1]) + expiration
    r.call("PEXPIRE", keys[0], newttl)
    return 1


def reacquire(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    token = r.call("GET", keys[0])
    if token is None or token != argv[0]:
        return 0
    r.call("PEXPIRE", keys[0], argv[1])
    return 1


PORTS: dict[str, Port] = {}
for _lock in (Lock, AsyncLock):
    PORTS[_lock.LUA_RELEASE_SCRIPT] = release
    PORTS[_lock.LUA_EXTEND_SCRIPT] = extend
    PORTS[_lock.LUA_REACQUIRE_SCRIPT] = reacquire
