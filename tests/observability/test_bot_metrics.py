"""Bot calls and daily-cap hits are counted by engine, account and outcome."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from bots.quota import QuotaLimitedEngine
from router.runtime import Runtime
from tests.bots.modes_fixtures import (  # noqa: F401 - the *_fixture are fixtures
    FakeEngine,
    bm_client_fixture,
    bm_engine_fixture,
    bm_open_fixture,
    bm_runtime_fixture,
    connect_agent,
    connect_customer,
)
from tests.clients import AgentClient, CustomerClient
from tests.observability.harness import sample

Client = TestClient[Any, Any]


async def test_bot_calls_and_cap_hits(
    bm_client: Client, bm_runtime: Runtime, bm_engine: FakeEngine,
    bm_open: list[AgentClient | CustomerClient],
) -> None:  # fmt: skip
    account = await bm_runtime.store.bots.get("wb")
    assert account is not None
    await bm_runtime.store.bots.put(
        account.model_copy(update={"max_api_calls_per_day": 1}), create=False
    )
    quota = bm_runtime.bots.quota
    bm_runtime.bots.engine_factory = lambda a: QuotaLimitedEngine(bm_engine, quota, a, "UTC")
    ann = await connect_agent(bm_client, bm_open)
    customer = await connect_customer(bm_client, bm_open, "self")
    await customer.say("hello")
    await customer.expect_text("How can I help?")
    await customer.say("and another thing")
    await ann.expect("offer")  # the capped turn handed the conversation to an agent
    text = await (await bm_client.get("/metrics")).text()
    assert sample(text, "switchboard_bot_calls_total", engine="watson", account="wb",
                  outcome="ok") == 1.0  # fmt: skip
    assert sample(text, "switchboard_bot_calls_total", engine="watson", account="wb",
                  outcome="cap") == 1.0  # fmt: skip
    assert sample(text, "switchboard_bot_cap_hits_total", engine="watson", account="wb") == 1.0
