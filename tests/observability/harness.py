"""An in-process Switchboard with a Telegram account on a fake Bot API, for the
observability and limits suites: signed webhooks in, agent replies out."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import telegram
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.channels.conftest import channels_config, get_token
from tests.clients import AgentClient
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Client = TestClient[Any, Any]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]


async def make_client(
    aiohttp_client: AiohttpClient, settings: Settings, store: RedisStore | None = None
) -> Client:
    store = store or RedisStore(MemoryRedis())
    config = channels_config()
    for tenant in config["tenants"]:  # and a web chat
        tenant["media_streams"].append({"id": "chat", "media": "webchat", "queue": "support"})
    app = create_app(settings, Config.parse(config), store=store, broker=InMemoryBroker())
    return await aiohttp_client(app)


@dataclass
class Bot:
    fake: FakeTelegram
    account: str
    secret: str


async def telegram_bot(
    client: Client, start_fake: Callable[[web.Application], Awaitable[str]],
    tenant: str = "acme", admin_user: str = "root",
) -> Bot:  # fmt: skip
    """A Telegram account of ``tenant`` on a fake Bot API, its webhook set."""
    fake = FakeTelegram(TOKEN)
    url = await start_fake(fake.app)
    headers = {"Authorization": f"Bearer {await get_token(client, admin_user, tenant)}"}
    body = {"type": "telegram", "name": f"bot {uuid.uuid4().hex[:6]}", "stream": "telegram",
            "api_base_url": url, "token": TOKEN, "bot_username": "acme_support_bot"}  # fmt: skip
    resp = await client.post("/api/v1/integration-accounts", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    account = (await resp.json())["id"]
    resp = await client.post(
        f"/api/v1/integration-accounts/{account}/set-webhook",
        json={"url": f"https://example.test/webhooks/telegram/{account}"},
        headers=headers,
    )
    assert resp.status == 200, await resp.text()
    assert fake.webhook is not None
    return Bot(fake, account, fake.webhook["secret_token"])


def update(update_id: int, text: str, chat: int = 1111111) -> telegram.Update:
    user = telegram.User(chat, "Test", False, last_name="Customer")
    private = telegram.Chat(chat, "private", first_name="Test")
    message = telegram.Message(update_id, NOW, private, from_user=user, text=text)
    return telegram.Update(update_id, message=message)


async def post(
    client: Client,
    bot: Bot,
    payload: telegram.Update | bytes,
    headers: dict[str, str] | None = None,
) -> ClientResponse:
    data = payload.to_json() if isinstance(payload, telegram.Update) else payload
    all_headers = {"Content-Type": "application/json", HEADER: bot.secret, **(headers or {})}
    return await client.post(f"/webhooks/telegram/{bot.account}", data=data, headers=all_headers)


async def open_and_accept(client: Client, bot: Bot, agent: AgentClient, text: str) -> str:
    """A customer's webhook opens a conversation that ``agent`` accepts; its session id."""
    mark = len(agent.frames)
    resp = await post(client, bot, update(1, text))
    assert resp.status == 200, await resp.text()
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    return str(offer["session_id"])


def rejected(runtime: Runtime, route: str, limit: str) -> float:
    """How many requests of ``route`` the ``limit`` refused (``rejected_requests``)."""
    return float(runtime.metrics.rejected_requests.labels(route, limit)._value.get())


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a /metrics text (None when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        metric, _, rest = key.partition("{")
        got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric == name and got == want:
            return float(value)
    return None
