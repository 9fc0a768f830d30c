"""Store script calls of one event-loop pass share one round trip (``router.store.batching``),
each caller still getting its own answer or error; on fakeredis and on the real Redis."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from router.store import RedisStore
from router.store.base import script_source
from router.store.batching import ScriptBatcher
from router.store.memory import MemoryRedis

ECHO = "return {KEYS[1], ARGV[1]}"
COUNT = "return redis.call('INCR', KEYS[1])"
PICKY = "if ARGV[1] == 'bad' then return redis.error_reply('not this one') end return ARGV[1]"


class Counted:
    """A client's pipelines, counted (each is one round trip)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.pipelines = 0
        make = client.pipeline

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            self.pipelines += 1
            return make(*args, **kwargs)

        client.pipeline = pipeline  # type: ignore[method-assign]


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[aioredis.Redis]:
    if request.param == "fakeredis":
        made: aioredis.Redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    else:
        made = RedisStore.from_url(request.getfixturevalue("redis_url")).client
        await made.flushdb()
    await made.script_flush()
    yield made
    await made.aclose()


async def test_calls_of_one_pass_share_one_round_trip(client: aioredis.Redis) -> None:
    counted = Counted(client)
    echo = ScriptBatcher(client).register(ECHO)
    answers = await asyncio.gather(*(echo(keys=[f"k{i}"], args=[i]) for i in range(20)))
    assert answers == [[f"k{i}", str(i)] for i in range(20)]
    assert counted.pipelines == 1
    # One after the other, each call is a pass of its own: no pipeline for a lone call.
    assert await echo(keys=["alone"], args=["x"]) == ["alone", "x"]
    assert counted.pipelines == 1


async def test_a_script_error_fails_only_its_own_call(client: aioredis.Redis) -> None:
    picky = ScriptBatcher(client).register(PICKY)
    await picky(args=["load it"])
    answers = await asyncio.gather(
        picky(args=["a"]), picky(args=["bad"]), picky(args=["c"]), return_exceptions=True
    )
    assert (answers[0], answers[2]) == ("a", "c")
    assert isinstance(answers[1], ResponseError)
    assert "not this one" in str(answers[1])


async def test_scripts_redis_does_not_know_are_loaded_and_run_once(
    client: aioredis.Redis,
) -> None:
    batcher = ScriptBatcher(client)
    count = batcher.register(COUNT)
    # Never loaded: every call of the batch is refused (NOSCRIPT), then made on its own.
    first = await asyncio.gather(*(count(keys=["n"]) for _ in range(8)))
    assert sorted(first) == list(range(1, 9))
    await client.script_flush()  # as after a restart of Redis
    again = await asyncio.gather(*(count(keys=["n"]) for _ in range(8)))
    assert sorted(again) == list(range(9, 17))
    assert int(await client.get("n")) == 16  # each ran exactly once


async def test_a_caller_cancelled_before_the_batch_goes_out_runs_nothing(
    client: aioredis.Redis,
) -> None:
    count = ScriptBatcher(client).register(COUNT)
    kept = asyncio.create_task(count(keys=["n"]))
    dropped = asyncio.create_task(count(keys=["n"]))
    await asyncio.sleep(0)  # both calls are waiting for the batch, which has not gone out
    dropped.cancel()
    assert await kept == 1
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert int(await client.get("n")) == 1


async def test_a_lost_connection_fails_every_call_of_the_batch() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = aioredis.Redis(port=port, decode_responses=True, retry_on_error=[])
    echo = ScriptBatcher(client).register(ECHO)
    answers = await asyncio.gather(
        *(echo(keys=["k"], args=[i]) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(a, RedisConnectionError) for a in answers)
    assert len({id(a) for a in answers}) == 3  # each caller its own exception
    await client.aclose()


async def test_the_in_process_store_is_not_batched() -> None:
    memory = MemoryRedis()
    batcher = ScriptBatcher(memory)
    assert not batcher.enabled
    counted = Counted(memory)
    limit = batcher.register(script_source("rate_limit"))  # runs as Python in process
    keys, args = ["rl:t", "rl:p:1"], [10, 10, 60_000]
    answers = await asyncio.gather(*(limit(keys=keys, args=args) for _ in range(3)))
    assert [int(verdict) for verdict, _ in answers] == [0, 0, 0]
    assert await memory.get("rl:t") == "3"
    assert counted.pipelines == 0
