"""How many store round trips one agent answer costs, from the agent's frame to "sent"
recorded: pinned, so that added reads do not creep back into the reply path.

The store client records every round trip (one command, or one pipeline with its
commands). The answer's are the ones that name its session, its message or its account;
the runtime's own background work (timers, heartbeats, cache followers) names none of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio.client import Pipeline

from queues.memory import InMemoryBroker
from router.keys import RUNTIME
from router.models import MessageStatus
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from router.store.pool import WaitingConnectionPool
from tests.clients import AgentClient
from tests.observability.harness import Bot, make_client, post, telegram_bot, update

Client = TestClient[Any, Any]
StartFake = Callable[[web.Application], Awaitable[str]]
Trip = tuple[tuple[str, ...], ...]

# File it (with the customer's checks), claim and check the send, record it as sent; the
# first answer in a session also reads where the session's answers go.
FIRST_ANSWER = 4
LATER_ANSWER = 3


class Trips:
    """The round trips a client made, each as the commands it carried."""

    def __init__(self) -> None:
        self.made: list[Trip] = []

    def command(self, args: tuple[Any, ...]) -> None:
        self.made.append((tuple(str(a) for a in args),))

    def wrap(self, pipe: Pipeline) -> Pipeline:
        execute = pipe.execute

        async def counted(raise_on_error: bool = True) -> list[Any]:
            self.made.append(tuple(tuple(str(a) for a in args) for args, _ in pipe.command_stack))
            return await execute(raise_on_error)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe

    def naming(self, since: int, *names: str) -> list[Trip]:
        """The round trips from the ``since``-th on with a command word containing a name."""
        return [
            trip
            for trip in self.made[since:]
            if any(name in word for command in trip for word in command for name in names)
        ]


class RecordingMemoryRedis(MemoryRedis):
    def __init__(self, trips: Trips) -> None:
        super().__init__()
        self.trips = trips

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.trips.command(args)
        return await super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return self.trips.wrap(super().pipeline(transaction, shard_hint))


class RecordingRedis(aioredis.Redis):
    trips: Trips

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.trips.command(args)
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return self.trips.wrap(super().pipeline(transaction, shard_hint))


@pytest.fixture
def trips() -> Trips:
    return Trips()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def client(
    request: pytest.FixtureRequest,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    trips: Trips,
) -> Client:
    settings = Settings(tick_seconds=0.02, partitions=2)
    if request.param == "memory":
        return await make_client(aiohttp_client, settings, RedisStore(RecordingMemoryRedis(trips)))
    url: str = request.getfixturevalue("redis_url")
    pool = WaitingConnectionPool.from_url(url, decode_responses=True, timeout=10)
    redis = RecordingRedis.from_pool(pool)
    assert isinstance(redis, RecordingRedis)
    redis.trips = trips
    await redis.flushdb()
    return await make_client(aiohttp_client, settings, RedisStore(redis))


@pytest.fixture
def runtime(client: Client) -> Runtime:
    found: Runtime = client.app[RUNTIME]
    return found


async def answer(
    runtime: Runtime, agent: AgentClient, trips: Trips, bot: Bot, session_id: str, text: str
) -> list[Trip]:
    """The round trips of one answer, from the agent's frame until the worker is done."""
    mark = len(trips.made)
    frame = await agent.reply(session_id, text)
    broker = runtime.broker
    assert isinstance(broker, InMemoryBroker)
    await broker.join()  # the outbound worker recorded the send
    return trips.naming(mark, session_id, str(frame["message"]["id"]), bot.account)


async def conversation(client: Client, bot: Bot, agent: AgentClient, chat: int) -> str:
    """A customer on ``chat`` writes; ann accepts the offer. The session id."""
    mark = len(agent.frames)
    resp = await post(client, bot, update(chat, "hello", chat=chat))
    assert resp.status == 200, await resp.text()
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    return str(offer["session_id"])


def show(made: list[Trip]) -> Iterator[str]:
    for trip in made:
        yield " | ".join(" ".join(command[:3]) for command in trip)


async def test_an_agent_answer_costs_few_store_round_trips(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime, trips: Trips
) -> None:
    bot = await telegram_bot(client, start_fake)
    # A first conversation loads the scripts (a fresh Redis answers NOSCRIPT once).
    warm = await conversation(client, bot, agent, 1001)
    await answer(runtime, agent, trips, bot, warm, "warming up")
    session_id = await conversation(client, bot, agent, 1002)

    first = await answer(runtime, agent, trips, bot, session_id, "first answer")
    later = await answer(runtime, agent, trips, bot, session_id, "second answer")

    assert len(first) == FIRST_ANSWER, list(show(first))
    assert len(later) == LATER_ANSWER, list(show(later))
    statuses = await runtime.store.deliveries.statuses("acme", session_id)
    assert [s for s, _ in statuses.values()] == [MessageStatus.SENT, MessageStatus.SENT]
    assert [p["text"] for p in bot.fake.sent("sendMessage")][-2:] == [
        "first answer",
        "second answer",
    ]
