"""``MemoryRedis`` against a real Redis: the same command sequences through the redis-py API
on both must give the same Python results and errors; plus pipelines, WATCH, pub/sub,
expiry, SCAN and ``lock()``."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, NoScriptError, RedisError, ResponseError, WatchError

from router.store.memory import MemoryRedis
from router.store.memory.keyspace import Keyspace

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

Step = tuple[str, tuple[Any, ...], dict[str, Any]]


def c(method: str, *args: Any, **kwargs: Any) -> Step:
    return method, args, kwargs


def raw(*words: Any) -> Step:
    return c("execute_command", *words)


SEQUENCES: dict[str, list[Step]] = {
    "strings": [
        c("set", "k", "v"),
        c("get", "k"),
        c("set", "k", "w", nx=True),
        c("set", "k", "w", xx=True, get=True),
        c("set", "other", "w", xx=True),
        c("set", "fresh", 1, nx=True),
        c("set", "k", "x", get=True),
        c("get", "none"),
        c("set", "n", "10"),
        c("incr", "n"),
        c("incrby", "n", 5),
        c("decr", "n"),
        c("decrby", "n", 20),
        c("incr", "k"),
        c("set", "big", str(2**63 - 1)),
        c("incr", "big"),
        c("set", "f", 1.5),
        c("get", "f"),
        c("incr", "f"),
        c("mget", ["k", "n", "none", "f"]),
        c("exists", "k", "n", "none", "k"),
        c("delete", "k", "none"),
        c("get", "k"),
        c("setnx", "s", 1),
        c("setnx", "s", 2),
        c("getdel", "s"),
        c("getdel", "s"),
        c("strlen", "n"),
        c("mset", {"m1": "a", "m2": "b"}),
        c("mget", "m1", "m2"),
        c("type", "m1"),
        c("type", "none"),
        raw("GETSET", "m1", "c"),
        raw("GETSET", "gs", "d"),
        c("mget", "m1", "gs"),
        raw("SETEX", "se", "100", "v"),
        c("ttl", "se"),
        raw("PSETEX", "pse", "100000", "v"),
        c("ttl", "pse"),
        c("unlink", "se", "pse", "none"),
        c("exists", "se", "pse"),
        raw("SETEX", "se", "0", "v"),
        raw("PSETEX", "pse", "-1", "v"),
        raw("GET"),
        raw("GET", "a", "b"),
        raw("SET", "x", "1", "EX", "0"),
        raw("SET", "x", "1", "NX", "XX"),
        raw("SET", "x", "1", "BOGUS"),
        raw("INCRBY", "n", "1.5"),
        raw("INCRBY", "n", "007"),
        raw("NOSUCHCOMMAND", "a"),
    ],
    "hashes": [
        c("hset", "h", "f", "v"),
        c("hset", "h", mapping={"a": 1, "b": "2", "f": "w"}),
        c("hget", "h", "f"),
        c("hget", "h", "none"),
        c("hget", "none", "f"),
        c("hmget", "h", ["a", "none", "b"]),
        c("hmget", "none", "a", "b"),
        c("hgetall", "h"),
        c("hgetall", "none"),
        c("hsetnx", "h", "a", "9"),
        c("hsetnx", "h", "c", "9"),
        c("hexists", "h", "c"),
        c("hexists", "h", "zz"),
        c("hvals", "h"),
        c("hkeys", "h"),
        c("hlen", "h"),
        c("hincrby", "h", "a", 5),
        c("hincrby", "h", "new", -3),
        c("hincrby", "h", "f", 1),
        c("hdel", "h", "a", "none"),
        c("hdel", "h", "b", "c", "f", "new"),
        c("exists", "h"),
        c("hdel", "none", "x"),
        raw("HMSET", "h", "a", "1", "b", "2"),
        c("hgetall", "h"),
        raw("HSET", "h", "f"),
        raw("HINCRBY", "h", "x", "y"),
        raw("HGET", "h"),
    ],
    "sets": [
        c("sadd", "s", "a", "b", "c"),
        c("sadd", "s", "a", "d"),
        c("smembers", "s"),
        c("smembers", "none"),
        c("sismember", "s", "a"),
        c("sismember", "s", "z"),
        c("smismember", "s", ["a", "z"]),
        c("scard", "s"),
        c("srem", "s", "a", "z"),
        c("srem", "s", "b", "c", "d"),
        c("exists", "s"),
        c("srem", "none", "a"),
        raw("SADD", "s"),
    ],
    "lists": [
        c("rpush", "l", "a", "b", "c"),
        c("lpush", "l", "x", "y"),
        c("lrange", "l", 0, -1),
        c("lrange", "l", 1, 2),
        c("lrange", "l", -2, -1),
        c("lrange", "l", 5, 10),
        c("lrange", "l", -100, 100),
        c("lrange", "none", 0, -1),
        c("llen", "l"),
        c("llen", "none"),
        c("lindex", "l", 0),
        c("lindex", "l", -1),
        c("lindex", "l", 10),
        c("ltrim", "l", 0, 2),
        c("lrange", "l", 0, -1),
        c("ltrim", "l", -2, -1),
        c("lrange", "l", 0, -1),
        c("rpush", "l", "x", "q", "x"),
        c("lrem", "l", 1, "x"),
        c("lrange", "l", 0, -1),
        c("lpop", "l"),
        c("rpop", "l"),
        c("lpop", "l", 5),
        c("exists", "l"),
        c("ltrim", "none", 0, 1),
        c("rpush", "t", "a"),
        c("ltrim", "t", 5, 10),
        c("exists", "t"),
        raw("LRANGE", "l", "a", "1"),
    ],
    "zsets": [
        c("zadd", "z", {"a": 1, "b": 2.5, "c": -1, "d": 0.1}),
        c("zadd", "z", {"a": 3, "e": 4}),
        c("zadd", "z", {"a": 5, "f": 1}, ch=True),
        c("zadd", "z", {"a": 1, "g": 9}, nx=True),
        c("zadd", "z", {"a": 2, "h": 9}, xx=True),
        c("zadd", "z", {"a": 1}, gt=True, ch=True),
        c("zadd", "z", {"a": 1}, lt=True, ch=True),
        c("zadd", "z", {"a": 2}, incr=True),
        c("zadd", "z", {"zz": 2}, incr=True, xx=True),
        c("zincrby", "z", 0.5, "b"),
        c("zcard", "z"),
        c("zcard", "none"),
        c("zscore", "z", "d"),
        c("zscore", "z", "none"),
        c("zmscore", "z", ["a", "none", "c"]),
        c("zrange", "z", 0, -1),
        c("zrange", "z", 0, -1, withscores=True),
        c("zrange", "z", 1, 2, desc=True),
        c("zrange", "z", 0, 0, withscores=True),
        c("zrange", "z", 5, 1),
        c("zrange", "none", 0, -1),
        c("zrangebyscore", "z", "-inf", "+inf"),
        c("zrangebyscore", "z", 0, 2.5, withscores=True),
        c("zrangebyscore", "z", "(0.1", "(2.5"),
        c("zrangebyscore", "z", "-inf", 10, start=1, num=2),
        c("zrangebyscore", "z", "-inf", 10, start=0, num=-1),
        c("zrevrangebyscore", "z", "+inf", "-inf"),
        c("zrevrangebyscore", "z", 4, 0, withscores=True, start=1, num=2),
        c("zrevrange", "z", 0, 1),
        c("zrange", "z", 0, 3, byscore=True),
        c("zrange", "z", 4, 0, byscore=True, desc=True, offset=1, num=2),
        c("zcount", "z", "-inf", "(2.5"),
        c("zrank", "z", "b"),
        c("zrem", "z", "a", "none"),
        c("zremrangebyscore", "z", 0, 2),
        c("zrange", "z", 0, -1, withscores=True),
        c("zadd", "y", {"x": 1e20, "w": 1 / 3}),
        c("zrange", "y", 0, -1, withscores=True),
        c("zrem", "y", "x", "w"),
        c("exists", "y"),
        raw("ZADD", "z", "nan", "a"),
        raw("ZADD", "z", "x", "a"),
        raw("ZADD", "z", "1"),
        raw("ZADD", "z", "NX", "XX", "1", "a"),
        raw("ZADD", "z", "GT", "LT", "1", "a"),
        raw("ZADD", "z", "INCR", "1", "a", "2", "b"),
        raw("ZRANGEBYSCORE", "z", "a", "1"),
        raw("ZRANGE", "z", "0", "1", "LIMIT", "0", "1"),
    ],
    "streams": [
        c("xadd", "x", {"e": "1"}, id="1-1"),
        c("xadd", "x", {"e": "2", "f": "3"}, id="2-0"),
        c("xadd", "x", {"e": "3"}, id="2-0"),
        c("xadd", "x", {"e": "4"}, id="3-5", maxlen=2, approximate=False),
        c("xlen", "x"),
        c("xlen", "none"),
        c("xrevrange", "x", "+", "-"),
        c("xrevrange", "x", "+", "-", count=1),
        c("xrange", "x", "-", "+"),
        c("xrange", "x", "2", "3-5"),
        c("xrevrange", "x", "3-4", "0"),
        c("xrevrange", "none", "+", "-"),
        raw("XADD", "x", "0-0", "a", "b"),
        raw("XADD", "x", "*", "a"),
    ],
    "keys and expiry": [
        c("set", "k", "v"),
        c("ttl", "k"),
        c("pttl", "k"),
        c("ttl", "none"),
        c("pttl", "none"),
        c("expire", "none", 100),
        c("expire", "k", 100),
        c("expire", "k", 50, nx=True),
        c("expire", "k", 50, xx=True),
        c("expire", "k", 500, lt=True),
        c("expire", "k", 500, gt=True),
        c("persist", "k"),
        c("persist", "k"),
        c("ttl", "k"),
        c("pexpire", "k", 100000, gt=True),
        c("set", "k", "w", keepttl=True),
        c("persist", "k"),
        c("set", "e", "v", ex=100),
        c("set", "e", "w"),
        c("ttl", "e"),
        c("expire", "k", 0),
        c("exists", "k"),
        c("set", "p", "v"),
        c("pexpireat", "p", 1000),
        c("get", "p"),
        c("set", "r", "v"),
        c("expireat", "r", 1),
        c("exists", "r"),
        c("set", "a", "1"),
        c("rename", "a", "b"),
        c("get", "b"),
        c("exists", "a"),
        c("keys", "b*"),
        c("dbsize"),
        c("ping"),
        c("echo", "hi"),
        raw("EXPIRE", "b", "x"),
        raw("EXPIRE", "b", "10", "NX", "XX"),
        raw("RENAME", "none", "x"),
    ],
    "wrong types": [
        c("set", "str", "v"),
        c("hset", "hash", "f", "v"),
        c("sadd", "set", "m"),
        c("rpush", "list", "i"),
        c("zadd", "zset", {"m": 1}),
        c("xadd", "stream", {"f": "v"}, id="1-1"),
        c("get", "hash"),
        c("incr", "list"),
        c("hget", "str", "f"),
        c("hgetall", "set"),
        c("hincrby", "zset", "f", 1),
        c("sadd", "hash", "m"),
        c("smembers", "str"),
        c("sismember", "list", "m"),
        c("lpush", "set", "i"),
        c("lrange", "hash", 0, -1),
        c("zadd", "str", {"m": 1}),
        c("zrange", "list", 0, -1),
        c("zscore", "hash", "m"),
        c("xadd", "str", {"f": "v"}),
        c("xlen", "set"),
        c("mget", "str", "hash", "none"),
        c("set", "hash", "now a string"),
        c("type", "hash"),
        c("type", "zset"),
        c("type", "stream"),
        c("type", "list"),
        c("type", "set"),
        c("delete", "str", "hash", "set", "list", "zset", "stream"),
    ],
    "scripts": [
        c("set", "L", "tok"),
        c("eval", Lock.LUA_RELEASE_SCRIPT, 1, "L", "other"),
        c("get", "L"),
        c("script_load", Lock.LUA_RELEASE_SCRIPT),
        c("script_exists", "0" * 40),
        c("evalsha", "0" * 40, 0),
        raw("EVALSHA", "0" * 40, "-1"),
    ],
}


async def _run(client: aioredis.Redis, steps: list[Step]) -> list[Any]:
    out: list[Any] = []
    for method, args, kwargs in steps:
        try:
            out.append(await getattr(client, method)(*args, **kwargs))
        except RedisError as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


@pytest.fixture
async def real(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(params=["real", "memory"])
def either(request: pytest.FixtureRequest, real: aioredis.Redis) -> aioredis.Redis:
    """The real Redis, then a ``MemoryRedis``: a test using it must pass on both."""
    return real if request.param == "real" else MemoryRedis()


@pytest.mark.redis
@pytest.mark.parametrize("name", list(SEQUENCES))
async def test_same_results_as_a_real_redis(real: aioredis.Redis, name: str) -> None:
    memory = MemoryRedis()
    steps = SEQUENCES[name]
    expected = await _run(real, steps)
    got = await _run(memory, steps)
    for step, want, have in zip(steps, expected, got, strict=True):
        assert have == want, step


@pytest.mark.redis
async def test_watched_key_changed_fails_the_transaction(either: aioredis.Redis) -> None:
    client = either
    await client.set("k", "1")
    async with client.pipeline() as pipe:
        await pipe.watch("k", "untouched")
        assert await pipe.get("k") == "1"
        await client.set("k", "2")
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.set("k", "3")
        with pytest.raises(WatchError):
            await pipe.execute()
    assert await client.get("k") == "2"
    async with client.pipeline() as pipe:
        await pipe.watch("k")
        value = await pipe.get("k")
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.set("k", int(value or 0) + 10)
        pipe.get("k")
        assert await pipe.execute() == [True, "12"]


@pytest.mark.redis
async def test_pipeline_errors_as_on_a_real_redis(real: aioredis.Redis) -> None:
    async def run(client: aioredis.Redis) -> list[Any]:
        await client.set("s", "v")
        out: list[Any] = []
        for transaction in (True, False):
            pipe = client.pipeline(transaction=transaction)
            pipe.set("a", 1)
            pipe.hget("s", "f")
            pipe.incr("a")
            result = await pipe.execute(raise_on_error=False)
            out.append(
                [(type(r).__name__, str(r)) if isinstance(r, Exception) else r for r in result]
            )
            pipe.set("a", 1)
            pipe.hget("s", "f")
            pipe.incr("a")
            with pytest.raises(ResponseError) as raised:
                await pipe.execute()
            out.append(str(raised.value))
        pipe = client.pipeline()
        pipe.set("b", 1)
        pipe.execute_command("GET")
        with pytest.raises(ResponseError) as raised:
            await pipe.execute()
        out.append(str(raised.value))
        out.append(await client.exists("b"))
        return out

    assert await run(MemoryRedis()) == await run(real)


@pytest.mark.redis
async def test_scan_iter_matches_as_on_a_real_redis(real: aioredis.Redis) -> None:
    async def run(client: aioredis.Redis) -> list[list[str]]:
        for i in range(30):
            await client.set(f"t1:s:{i}", "x")
            await client.hset(f"t1:h:{i}", "f", "v")
        await client.set("t2:s:1", "x")
        await client.set("odd[1]", "x")
        found = []
        for pattern in ("t1:s:*", "t?:s:1", "t1:[hs]:1", "t1:[^s]:2*", r"odd\[1\]", "*"):
            found.append(sorted([k async for k in client.scan_iter(match=pattern, count=7)]))
        found.append(sorted([k async for k in client.scan_iter(match="t1:*", _type="hash")]))
        return found

    assert await run(MemoryRedis()) == await run(real)


@pytest.mark.redis
async def test_published_message_reaches_subscribers(either: aioredis.Redis) -> None:
    client = either
    pubsub = client.pubsub()
    await pubsub.subscribe("ch")
    confirmation = await pubsub.get_message(timeout=5)
    assert confirmation == {"type": "subscribe", "pattern": None, "channel": "ch", "data": 1}
    assert await client.publish("ch", "hello") == 1
    assert await client.publish("elsewhere", "x") == 0
    message = await pubsub.get_message(timeout=5)
    assert message == {"type": "message", "pattern": None, "channel": "ch", "data": "hello"}
    await pubsub.aclose()  # type: ignore[no-untyped-call]

    quiet = client.pubsub(ignore_subscribe_messages=True)
    await quiet.subscribe("ch")
    listening = quiet.listen()
    assert isinstance(listening, AsyncGenerator)
    await client.publish("ch", "1")
    await client.publish("ch", "2")
    assert [(await anext(listening))["data"], (await anext(listening))["data"]] == ["1", "2"]
    await listening.aclose()
    await quiet.aclose()  # type: ignore[no-untyped-call]
    await client.aclose()


async def test_expired_keys_vanish_and_are_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    client = MemoryRedis()
    keyspace = client.keyspace
    await client.set("short", "v", px=50)
    await client.set("long", "v", ex=100)
    left = await client.pttl("short")
    assert 0 < left <= 50
    for i in range(1000):
        await client.set(f"k{i}", "v", px=1000)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 60)
    assert await client.get("short") is None
    assert await client.pttl("short") == -2
    assert 39_000 < await client.pttl("long") <= 40_000
    for _ in range(300):
        await client.exists("long")
    assert set(keyspace.data) == {"long"}
    assert keyspace.expires.keys() == {"long"}


async def test_expiry_of_a_watched_key_fails_the_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = MemoryRedis()
    await client.set("k", "v", px=100)
    async with client.pipeline() as pipe:
        await pipe.watch("k")
        now = time.time()
        monkeypatch.setattr(time, "time", lambda: now + 1)
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.set("k", "w")
        with pytest.raises(WatchError):
            await pipe.execute()
    assert client.keyspace.watch_counts == {}


async def test_lock_acquires_extends_and_releases() -> None:
    client = MemoryRedis()
    lock = client.lock("L", timeout=5, blocking_timeout=0.01)
    other = client.lock("L", timeout=5, blocking_timeout=0.01)
    assert await lock.acquire()
    assert not await other.acquire()
    assert await lock.extend(10)
    assert 14_000 < await client.pttl("L") <= 15_000
    assert await lock.reacquire()
    assert 4_000 < await client.pttl("L") <= 5_000
    await lock.release()
    assert await client.get("L") is None
    with pytest.raises(LockError):
        await lock.release()
    assert await other.acquire()
    await client.aclose()


async def test_unported_script_is_refused_clearly() -> None:
    client = MemoryRedis()
    script = client.register_script("return 1")
    with pytest.raises(ResponseError, match="no in-process implementation"):
        await script()
    with pytest.raises(NoScriptError):
        await client.evalsha("0" * 40, 0)


def test_lua_calls_see_raw_replies() -> None:
    keyspace = Keyspace()
    assert keyspace.call("SET", "n", 5) == "OK"
    assert keyspace.call("INCRBY", "n", 2) == 7
    assert keyspace.call("GET", "none") is None
    assert keyspace.call("hset", "h", "a", 1, "b", 0.5) == 2
    assert keyspace.call("HGETALL", "h") == ["a", "1", "b", "0.5"]
    assert keyspace.call("ZADD", "z", 1.5, "m") == 1
    assert keyspace.call("ZRANGE", "z", 0, -1, "WITHSCORES") == ["m", "1.5"]
    assert keyspace.call("ZSCORE", "z", "m") == "1.5"
    with pytest.raises(ResponseError, match=r"^WRONGTYPE Operation against a key"):
        keyspace.call("GET", "h")
    with pytest.raises(ResponseError, match=r"^ERR wrong number of arguments for 'get'"):
        keyspace.call("GET")
