"""/metrics after real flows: every path counts with bounded labels."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from queues import names
from router.metrics import Metrics, queue_kind, status_class
from router.runtime import Runtime
from tests.channels.helpers import send
from tests.clients import AgentClient, eventually
from tests.observability.harness import open_and_accept, post, sample, telegram_bot, update

Client = TestClient[Any, Any]
StartFake = Callable[[web.Application], Awaitable[str]]


async def scrape(client: Client) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    return await resp.text()


async def test_a_conversation_is_counted_end_to_end(
    client: Client, agent: AgentClient, start_fake: StartFake
) -> None:
    bot = await telegram_bot(client, start_fake)
    before = await scrape(client)
    assert sample(before, "switchboard_queue_length", tenant="acme", queue="support") == 0.0
    session_id = await open_and_accept(client, bot, agent, "hello there")
    await send(agent, session_id, text="how can I help")
    await bot.fake.wait_for("/sendMessage")

    text = await scrape(client)
    assert sample(text, "switchboard_messages_in_total", channel="telegram",
                  outcome="accepted") == 1.0  # fmt: skip
    assert sample(text, "switchboard_offers_total", tenant="acme", queue="support",
                  outcome="accepted") == 1.0  # fmt: skip
    assert sample(text, "switchboard_queue_wait_seconds_count", tenant="acme",
                  queue="support") == 1.0  # fmt: skip
    assert sample(text, "switchboard_webhook_seconds_count", channel="telegram",
                  status="2xx") == 1.0  # fmt: skip

    async def sent() -> bool:
        now = await scrape(client)
        return sample(now, "switchboard_messages_out_total", channel="telegram",
                      outcome="sent") == 1.0  # fmt: skip

    await eventually(sent, "the reply counted as sent")
    text = await scrape(client)
    calls = sample(text, "switchboard_provider_request_seconds_count", channel="telegram",
                   status="2xx")  # fmt: skip
    assert calls is not None
    assert calls >= 1
    assert sample(text, "switchboard_queue_length", tenant="acme", queue="support") == 0.0
    # Bounded labels: never a session id, a party or a provider id.
    assert session_id not in text
    assert "1111111" not in text


async def test_provider_errors_and_dead_letters_are_counted(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime
) -> None:
    bot = await telegram_bot(client, start_fake)
    session_id = await open_and_accept(client, bot, agent, "hi")
    bot.fake.fail_next(400)
    await send(agent, session_id, text="this one fails")

    async def failed() -> bool:
        text = await scrape(client)
        return sample(text, "switchboard_dead_letters_total", queue="out",
                      reason="rejected") == 1.0  # fmt: skip

    await eventually(failed, "the dead letter counted")
    text = await scrape(client)
    assert sample(text, "switchboard_provider_errors_total", channel="telegram",
                  status="4xx") == 1.0  # fmt: skip
    assert sample(text, "switchboard_messages_out_total", channel="telegram",
                  outcome="failed") == 1.0  # fmt: skip


async def test_a_bad_signature_is_counted_and_timed(client: Client, start_fake: StartFake) -> None:
    bot = await telegram_bot(client, start_fake)
    wrong = {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret-wrong-secret"}
    resp = await post(client, bot, update(1, "hi"), headers=wrong)
    assert resp.status == 401
    text = await scrape(client)
    assert sample(text, "switchboard_webhook_signature_failures_total", channel="telegram") == 1.0
    assert sample(text, "switchboard_webhook_seconds_count", channel="telegram",
                  status="4xx") == 1.0  # fmt: skip
    assert sample(text, "switchboard_messages_in_total", channel="telegram",
                  outcome="accepted") is None  # fmt: skip


async def test_rejected_and_missed_offers_by_queue(
    client: Client, agent: AgentClient, start_fake: StartFake
) -> None:
    bot = await telegram_bot(client, start_fake)
    mark = len(agent.frames)
    assert (await post(client, bot, update(1, "hello"))).status == 200
    offer = await agent.expect("offer", after=mark)
    mark = len(agent.frames)
    await agent.send({"type": "reject", "session_id": offer["session_id"],
                      "offer_id": offer["offer_id"]})  # fmt: skip
    # Too late: the offer is gone, the accept is a miss.
    await agent.send({"type": "accept", "session_id": offer["session_id"],
                      "offer_id": offer["offer_id"]})  # fmt: skip
    await agent.expect("error", after=mark)
    text = await scrape(client)
    assert sample(text, "switchboard_offers_total", tenant="acme", queue="support",
                  outcome="rejected") == 1.0  # fmt: skip
    assert sample(text, "switchboard_offers_total", tenant="acme", queue="support",
                  outcome="missed") == 1.0  # fmt: skip


def test_label_helpers_are_bounded() -> None:
    assert [status_class(s) for s in (200, 201, 404, 429, 503, None)] == [
        "2xx", "2xx", "4xx", "429", "5xx", "error"]  # fmt: skip
    assert queue_kind(names.outbound(3)) == queue_kind(names.outbound(5))
    assert not re.search(r"\d", queue_kind(names.inbound(7)))


def test_each_process_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.messages_in.labels("telegram", "accepted").inc()
    assert two.messages_in.labels("telegram", "accepted")._value.get() == 0
