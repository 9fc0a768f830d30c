"""This process's copy of integration accounts (``router.store.named_cache``): read once,
then answered from memory, and emptied when any process changes an account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import fakeredis
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from channels.accounts import TelegramAccount, dump_account
from router.store import RedisStore
from router.store.base import tenant_prefix

Clients = Callable[[], aioredis.Redis]


def telegram(name: str = "Telegram") -> TelegramAccount:
    return TelegramAccount(id="tg", tenant="acme", name=name, stream="sms", token=SecretStr("1:a"))


@pytest.fixture(params=["fakeredis", "redis"])
async def clients(request: pytest.FixtureRequest) -> AsyncIterator[Clients]:
    """Clients of one server: each stands for another process."""
    made: list[aioredis.Redis] = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        made.append(aioredis.from_url(url, decode_responses=True))
        await made[0].flushdb()

        def client() -> aioredis.Redis:
            made.append(aioredis.from_url(url, decode_responses=True))
            return made[-1]
    else:
        server = fakeredis.FakeServer()

        def client() -> aioredis.Redis:
            made.append(fakeredis.FakeAsyncRedis(server=server, decode_responses=True))
            return made[-1]

    yield client
    for c in made:
        await c.aclose()


async def sneak(client: aioredis.Redis, account: TelegramAccount) -> None:
    """Change the stored account without telling anyone."""
    await client.set(tenant_prefix(account.tenant) + "acct:" + account.id, dump_account(account))


async def test_unstarted_copy_reads_the_store_every_time(clients: Clients) -> None:
    store = RedisStore(clients())
    await store.accounts.put(telegram(), create=True)
    assert (await store.account_cache.get("tg")) == telegram()
    await sneak(store.client, telegram("Sneaked"))
    assert (await store.account_cache.get("tg")) == telegram("Sneaked")


async def test_a_started_copy_answers_from_memory(clients: Clients) -> None:
    store = RedisStore(clients())
    await store.accounts.put(telegram(), create=True)
    await store.account_cache.start(interval=60)
    try:
        assert (await store.account_cache.get("tg")) == telegram()
        await sneak(store.client, telegram("Sneaked"))
        assert (await store.account_cache.get("tg")) == telegram()  # not read again
        assert (await store.account_cache.get_in("other", "tg")) is None
    finally:
        await store.account_cache.close()


async def test_a_change_made_here_is_seen_at_once(clients: Clients) -> None:
    store = RedisStore(clients())
    await store.account_cache.start(interval=60)
    try:
        assert (await store.account_cache.get("tg")) is None  # unknown ids are remembered
        await store.accounts.put(telegram(), create=True)
        assert (await store.account_cache.get("tg")) == telegram()
        await store.accounts.put(telegram("Renamed"), create=False)
        assert (await store.account_cache.get("tg")) == telegram("Renamed")
        await store.accounts.delete("acme", "tg")
        assert (await store.account_cache.get("tg")) is None
    finally:
        await store.account_cache.close()


async def test_another_process_change_is_announced(clients: Clients) -> None:
    here, there = RedisStore(clients()), RedisStore(clients())
    await here.accounts.put(telegram(), create=True)
    await here.account_cache.start(interval=60)
    try:
        assert (await here.account_cache.get("tg")) == telegram()
        await here.account_cache.listening.wait()
        here.account_cache.emptied.clear()
        await there.accounts.put(telegram("Renamed"), create=False)
        await here.account_cache.emptied.wait()
        assert (await here.account_cache.get("tg")) == telegram("Renamed")
    finally:
        await here.account_cache.close()


async def test_a_lost_announcement_is_caught_by_the_poll(clients: Clients) -> None:
    store = RedisStore(clients())
    await store.accounts.put(telegram(), create=True)
    await store.account_cache.start(interval=0.01)
    try:
        assert (await store.account_cache.get("tg")) == telegram()
        store.account_cache.emptied.clear()
        await sneak(store.client, telegram("Sneaked"))
        await store.client.incr(store.accounts.version_key)  # changed, never announced
        await store.account_cache.emptied.wait()
        assert (await store.account_cache.get("tg")) == telegram("Sneaked")
    finally:
        await store.account_cache.close()
