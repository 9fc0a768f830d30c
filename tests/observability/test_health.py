"""/healthz (alive) and /readyz (ready only when the broker and the store answer, and not
while shutting down)."""

from __future__ import annotations

from typing import Any

import fakeredis
from aiohttp.test_utils import TestClient

from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from tests.observability.harness import AiohttpClient, make_client


async def test_ready_while_broker_and_store_answer(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"broker": True, "store": True, "draining": False}
    assert (await client.get("/healthz")).status == 200


async def test_not_ready_when_the_store_fails(aiohttp_client: AiohttpClient) -> None:
    server = fakeredis.FakeServer()
    store = RedisStore(fakeredis.FakeAsyncRedis(server=server, decode_responses=True))
    client = await make_client(aiohttp_client, Settings(tick_seconds=0.02), store)
    assert (await client.get("/readyz")).status == 200
    server.connected = False
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["store"] is False
    assert (await client.get("/healthz")).status == 200  # alive all the same
    metrics = await client.get("/metrics")  # answers with what it has
    assert metrics.status == 200
    server.connected = True
    assert (await client.get("/readyz")).status == 200


async def test_a_draining_process_is_not_ready_and_refuses_webhooks(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    assert (await client.get("/readyz")).status == 200
    await runtime.drain()
    resp = await client.post("/webhooks/telegram/any-account", data=b"{}")
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "unavailable"
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["draining"] is True
    assert (await client.get("/healthz")).status == 200
