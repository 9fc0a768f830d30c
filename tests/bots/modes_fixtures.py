"""An in-process Switchboard with bot modes on its web-chat streams, and a scripted fake
engine put in through ``runtime.bots.engine_factory`` (independent of the engine fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bots.accounts import BotAccount
from bots.base import BotKind, BotReply, BotTurn
from channels.base import CheckResult, ConnectionCheck
from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.clients import AgentClient, CustomerClient

PASSWORD = "correct horse battery"
Client = TestClient[Any, Any]
Script = BotReply | BaseException | Callable[[BotTurn], BotReply] | None


class FakeEngine:
    """Answers from a script: a reply, an exception to raise, or ``HANG`` (never answers)."""

    kind: ClassVar[BotKind] = BotKind.WATSON

    def __init__(self) -> None:
        self.turns: list[BotTurn] = []
        self.script: list[Script] = []
        self.default: Script = BotReply(messages=("How can I help?",), intent="greet")
        self.check = ConnectionCheck(result=CheckResult.VALID, detail="fake ok")
        self.called = asyncio.Event()

    async def converse(self, turn: BotTurn) -> BotReply:
        self.turns.append(turn)
        self.called.set()
        step = self.script.pop(0) if self.script else self.default
        if step is None:  # hang: the desk's timeout must cut it
            await asyncio.Event().wait()
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step(turn)
        assert step is not None
        return step

    async def test_connection(self) -> ConnectionCheck:
        return self.check


HANG: Script = None


def watson(aid: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "watson",
        "id": aid,
        "name": f"Bot {aid}",
        "url": "https://watson.invalid",
        "skill_id": "skill-1",
        "api_key": "watson-secret-key",
        "max_api_calls_per_day": 1000,
        "max_suggestions": 2,
        "timeout_seconds": 0.3,
        **extra,
    }


def stream(sid: str, mode: str, **bot: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "name": sid,
        "queue": "support",
        "inactivity_timeout_seconds": 600,
        "bot": {"account": "wb", "mode": mode, **bot},
    }


def agent(aid: str, **extra: Any) -> dict[str, Any]:
    return {"id": aid, "username": aid, "password": PASSWORD, "queues": ["support"], **extra}


def tenant(tid: str) -> dict[str, Any]:
    return {
        "id": tid,
        "queues": [{"id": "support"}, {"id": "billing"}],
        "agents": [
            agent("ann"),
            agent("bill", queues=["billing"]),
            agent("root", role="tenant_admin", queues=[]),
        ],
        "bot_accounts": [watson("wb" if tid == "acme" else f"wb-{tid}")],
        "media_streams": [
            {"id": "web", "name": "Web", "queue": "support"},
            stream("self", "self_service", handoff_intents=["billing_question"]),
            stream("route", "routing", intent_queues={"billing": "billing"}),
            stream("assist", "agent_assist"),
            stream("both", "self_service_and_assist"),
        ]
        if tid == "acme"
        else [{"id": "web", "name": "Web", "queue": "support"}],
    }


@pytest.fixture(name="bm_engine")
def bm_engine_fixture() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(name="bm_client")
async def bm_client_fixture(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]], bm_engine: FakeEngine
) -> Client:
    settings = Settings(tick_seconds=0.02, partitions=2)
    store = RedisStore(MemoryRedis())
    config = Config.parse({"tenants": [tenant("acme"), tenant("globex")]})
    app = create_app(settings, config, store=store, broker=InMemoryBroker())
    built: list[BotAccount] = []

    def factory(account: BotAccount) -> FakeEngine:
        built.append(account)
        return bm_engine

    app[RUNTIME].bots.engine_factory = factory
    return await aiohttp_client(app)


@pytest.fixture(name="bm_runtime")
def bm_runtime_fixture(bm_client: Client) -> Runtime:
    runtime: Runtime = bm_client.app[RUNTIME]
    return runtime


async def password_token(client: Client, username: str, tenant_id: str = "acme") -> str:
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD,
              "scope": tenant_id},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


@pytest.fixture(name="bm_admin")
async def bm_admin_fixture(bm_client: Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {await password_token(bm_client, 'root')}"}


@pytest.fixture(name="bm_open")
async def bm_open_fixture(bm_client: Client) -> AsyncIterator[list[AgentClient | CustomerClient]]:
    opened: list[AgentClient | CustomerClient] = []
    yield opened
    for c in opened:
        await c.close()


async def connect_agent(
    client: Client, opened: list[AgentClient | CustomerClient], username: str = "ann"
) -> AgentClient:
    tok = await password_token(client, username)
    ws = await client.ws_connect("/agent/ws", headers={"Authorization": f"Bearer {tok}"})
    agent_client = AgentClient(ws)
    opened.append(agent_client)
    await agent_client.expect("hello")
    await agent_client.expect("state")
    await agent_client.set_state("ready")
    return agent_client


async def connect_customer(
    client: Client, opened: list[AgentClient | CustomerClient], stream_id: str
) -> CustomerClient:
    customer = CustomerClient(await client.ws_connect(f"/chat/acme/{stream_id}/ws"))
    opened.append(customer)
    await customer.expect("welcome")
    return customer
