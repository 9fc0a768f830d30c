"""Inbound rate limits per tenant and per remote party, held in Redis across processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from router.limits import InboundLimiter, InboundRateLimited
from router.runtime import Runtime
from router.settings import Settings
from router.store.batching import ScriptBatcher
from router.store.memory import MemoryRedis
from tests.clients import AgentClient, CustomerClient, eventually
from tests.observability.harness import post, rejected, telegram_bot, update

Client = TestClient[Any, Any]
StartFake = Callable[[web.Application], Awaitable[str]]


async def refused(limiter: InboundLimiter, tenant: str, party: str) -> InboundRateLimited:
    with pytest.raises(InboundRateLimited) as caught:
        await limiter.check(tenant, party)
    return caught.value


async def test_a_party_over_its_limit_is_refused_others_are_not(
    redis_client: aioredis.Redis,
) -> None:
    limiter = InboundLimiter(redis_client, tenant_limit=10, party_limit=3, window=60)
    for _ in range(3):
        await limiter.check("acme", "+15550001")
    exc = await refused(limiter, "acme", "+15550001")
    assert exc.scope == "party"
    assert 0 < exc.retry_after <= 60
    assert exc.retry_after_header.isdigit()
    # Another party of the same tenant, and the same party id at another tenant, go on.
    await limiter.check("acme", "+15550002")
    await limiter.check("globex", "+15550001")


async def test_a_tenant_over_its_limit_is_refused_other_tenants_are_not(
    redis_client: aioredis.Redis,
) -> None:
    limiter = InboundLimiter(redis_client, tenant_limit=5, party_limit=0, window=60)
    for i in range(5):
        await limiter.check("acme", f"party-{i}")
    exc = await refused(limiter, "acme", "someone-new")
    assert exc.scope == "tenant"
    await limiter.check("globex", "party-0")
    # Refused messages are not counted: the window is not extended by a flood.
    assert int(await redis_client.get("sb:acme:rl:t") or 0) == 5


async def test_limits_hold_across_processes_and_end_with_the_window(
    redis_client: aioredis.Redis,
) -> None:
    one = InboundLimiter(redis_client, tenant_limit=0, party_limit=2, window=60)
    two = InboundLimiter(redis_client, tenant_limit=0, party_limit=2, window=60)
    await one.check("acme", "p")
    await two.check("acme", "p")
    assert (await refused(one, "acme", "p")).scope == "party"
    await redis_client.pexpire("sb:acme:rl:p:p", 1)  # the window ends

    async def open_again() -> bool:
        try:
            await two.check("acme", "p")
        except InboundRateLimited:
            return False
        return True

    await eventually(open_again, "a new window")


def test_zero_means_no_limit() -> None:
    batcher = ScriptBatcher(MemoryRedis())
    off = Settings(tenant_messages_per_window=0, party_messages_per_window=0)
    assert InboundLimiter.from_settings(batcher, off) is None
    assert InboundLimiter.from_settings(batcher, Settings()) is not None


# -- through the entry points -----------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings(tick_seconds=0.02, partitions=2, party_messages_per_window=2,
                    tenant_messages_per_window=4)  # fmt: skip


async def test_one_flooding_party_is_dropped_with_200_and_counted(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime
) -> None:
    bot = await telegram_bot(client, start_fake)
    mark = len(agent.frames)
    for i in (1, 2, 3):
        resp = await post(client, bot, update(i, f"message {i}"))
        assert resp.status == 200  # the provider must not retry the batch for one party
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    await agent.wait(lambda: len(agent.texts(offer["session_id"])) >= 2, "two messages")
    assert agent.texts(offer["session_id"]) == ["message 1", "message 2"]
    assert rejected(runtime, "webhook", "party_rate") == 1
    assert runtime.metrics.messages_in.labels("telegram", "rate_limited")._value.get() == 1
    # Another party of the same tenant is not affected.
    assert (await post(client, bot, update(4, "other", chat=2222))).status == 200
    assert runtime.metrics.messages_in.labels("telegram", "accepted")._value.get() == 3


async def test_a_flooding_tenant_gets_429_with_retry_after_other_tenants_do_not(
    client: Client, start_fake: StartFake, runtime: Runtime
) -> None:
    acme = await telegram_bot(client, start_fake)
    globex = await telegram_bot(client, start_fake, tenant="globex", admin_user="gus")
    for i in range(4):
        resp = await post(client, acme, update(i + 1, "hi", chat=1000 + i))
        assert resp.status == 200
    resp = await post(client, acme, update(9, "hi", chat=1009))
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["error"]["code"] == "rate_limited"
    assert rejected(runtime, "webhook", "tenant_rate") == 1
    assert (await post(client, globex, update(1, "hi"))).status == 200


async def test_web_chat_over_the_party_limit_gets_an_error_not_an_ack(
    client: Client, runtime: Runtime
) -> None:
    ws = await client.ws_connect("/chat/acme/chat/ws")
    customer = CustomerClient(ws)
    try:
        await customer.expect("welcome")
        await customer.say("one")
        await customer.say("two")
        error = await customer.expect_error({"type": "message", "id": "m3", "text": "three"})
        assert error["code"] == "rate_limited"
        assert error["id"] == "m3"
        assert error["retry_after"] > 0
        assert not [f for f in customer.of("ack") if f["id"] == "m3"]
        assert rejected(runtime, "webchat_ws", "party_rate") == 1
    finally:
        await customer.close()
