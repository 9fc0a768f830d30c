"""Request body limits per route group: 413 with the error body, counted, nothing stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from router.runtime import Runtime
from router.settings import Settings
from tests.clients import AgentClient
from tests.observability.harness import post, rejected, telegram_bot, update

Client = TestClient[Any, Any]
StartFake = Callable[[web.Application], Awaitable[str]]
WEBHOOK_LIMIT = 4096


@pytest.fixture
def settings() -> Settings:
    return Settings(tick_seconds=0.02, partitions=2, webhook_max_body_bytes=WEBHOOK_LIMIT,
                    api_max_body_bytes=2048)  # fmt: skip


async def chunks(data: bytes) -> Any:
    """A body sent chunked: no Content-Length to refuse it by."""
    for i in range(0, len(data), 1024):
        yield data[i : i + 1024]


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversized_webhook_is_refused_counted_and_not_stored(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime, chunked: bool
) -> None:
    bot = await telegram_bot(client, start_fake)
    big = update(1, "x" * (WEBHOOK_LIMIT + 100)).to_json().encode()
    assert len(big) > WEBHOOK_LIMIT
    resp = await post(client, bot, chunks(big) if chunked else big)
    assert resp.status == 413
    body = await resp.json()
    assert body["error"]["code"] == "payload_too_large"
    assert str(WEBHOOK_LIMIT) in body["error"]["message"]
    assert rejected(runtime, "webhook", "body_size") == 1
    # Nothing was filed: the next (small) message opens the conversation alone.
    mark = len(agent.frames)
    assert (await post(client, bot, update(2, "small"))).status == 200
    offer = await agent.expect("offer", after=mark)
    assert [m["text"] for m in offer["history"]] == ["small"]
    counted = runtime.metrics.messages_in.labels("telegram", "accepted")._value.get()
    assert counted == 1


async def test_api_bodies_have_their_own_smaller_limit(
    client: Client, admin: dict[str, str], runtime: Runtime
) -> None:
    body = {"type": "telegram", "name": "n" * 3000, "stream": "telegram", "token": "t"}
    resp = await client.post("/api/v1/integration-accounts", json=body, headers=admin)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"
    assert rejected(runtime, "api", "body_size") == 1
    assert rejected(runtime, "webhook", "body_size") == 0
    # The same route under the limit gets to the handler, which creates the account.
    small = {"type": "telegram", "name": "n" * 10, "stream": "telegram", "token": "t"}
    resp = await client.post("/api/v1/integration-accounts", json=small, headers=admin)
    assert resp.status == 201, await resp.text()


def test_limits_are_settings() -> None:
    env = {
        "SWITCHBOARD_WEBHOOK_MAX_BODY_BYTES": "2097152",
        "SWITCHBOARD_API_MAX_BODY_BYTES": "8192",
    }
    settings = Settings.from_env(env)
    assert (settings.webhook_max_body_bytes, settings.api_max_body_bytes) == (2097152, 8192)
    assert Settings().webhook_max_body_bytes == 1024**2
    assert Settings().api_max_body_bytes == 256 * 1024
