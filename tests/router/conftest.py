"""An in-process Switchboard (aiohttp test server) with fast timers, and its clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.clients import AgentClient, CustomerClient, eventually

PASSWORD = "correct horse battery"
API_SECRET = "s3cret-s3cret-s3cret"
ConnectAgent = Callable[..., Awaitable[AgentClient]]
ConnectCustomer = Callable[..., Awaitable[CustomerClient]]


def agent(aid: str, **extra: Any) -> dict[str, Any]:
    return {"id": aid, "username": aid, "password": PASSWORD, "queues": ["support"], **extra}


def tenant(tid: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": tid,
        "queues": [
            {"id": "support", "offer_timeout_seconds": 0.4},
            {"id": "billing", "offer_timeout_seconds": 5},
        ],
        "agents": [
            agent("ann"),
            agent("ben"),
            agent("cat", capacity=2, queues=["billing"]),
            agent("sue", role="supervisor", queues=["support", "billing"]),
        ],
        "api_users": [{"client_id": "crm", "client_secret": API_SECRET}],
        "media_streams": [
            {
                "id": "web",
                "name": "Web",
                "queue": "support",
                "reopen_window_seconds": 60,
                "inactivity_timeout_seconds": 600,
            }
        ],
    }
    data.update(extra)
    return data


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"tenants": [tenant("acme"), tenant("globex")]}


@pytest.fixture
def settings() -> Settings:
    """The app's settings; a test may replace them with ``pytest.mark.parametrize``."""
    return Settings(tick_seconds=0.02, partitions=4)


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    config_data: dict[str, Any],
    settings: Settings,
) -> TestClient[Any, Any]:
    store = RedisStore(MemoryRedis())
    app = create_app(settings, Config.parse(config_data), store=store, broker=InMemoryBroker())
    return await aiohttp_client(app)


@pytest.fixture
def runtime(client: TestClient[Any, Any]) -> Runtime:
    return client.app[RUNTIME]


async def token(client: TestClient[Any, Any], tenant_id: str, username: str) -> str:
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD,
              "scope": tenant_id},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return str(body["access_token"])


async def auth_headers(
    client: TestClient[Any, Any], tenant_id: str, username: str
) -> dict[str, str]:
    """The Authorization header of ``username``'s token at ``tenant_id``."""
    return {"Authorization": f"Bearer {await token(client, tenant_id, username)}"}


@pytest.fixture
async def connect_agent(
    client: TestClient[Any, Any],
) -> AsyncIterator[Callable[..., Awaitable[AgentClient]]]:
    opened: list[AgentClient] = []

    async def connect(username: str, tenant_id: str = "acme", ready: bool = True) -> AgentClient:
        tok = await token(client, tenant_id, username)
        ws = await client.ws_connect("/agent/ws", headers={"Authorization": f"Bearer {tok}"})
        agent_client = AgentClient(ws)
        opened.append(agent_client)
        await agent_client.expect("hello")
        await agent_client.expect("state")
        if ready:
            await agent_client.set_state("ready")
        return agent_client

    yield connect
    for c in opened:
        await c.close()


@pytest.fixture
async def connect_customer(
    client: TestClient[Any, Any],
) -> AsyncIterator[Callable[..., Awaitable[CustomerClient]]]:
    opened: list[CustomerClient] = []

    async def connect(
        tenant_id: str = "acme", stream: str = "web", visitor: str | None = None
    ) -> CustomerClient:
        url = f"/chat/{tenant_id}/{stream}/ws" + (f"?visitor={visitor}" if visitor else "")
        customer = CustomerClient(await client.ws_connect(url))
        opened.append(customer)
        await customer.expect("welcome")
        return customer

    yield connect
    for c in opened:
        await c.close()


async def api_token(
    client: TestClient[Any, Any], tenant_id: str, client_id: str = "crm", secret: str = API_SECRET
) -> str:
    """A bearer token of an API user (client-credentials grant)."""
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id,
              "client_secret": secret, "scope": tenant_id},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return str(body["access_token"])


async def session_of(
    runtime: Runtime, customer: CustomerClient, tenant_id: str = "acme", stream: str = "web"
) -> str:
    """The id of the customer's current session, once its first message is filed."""
    found: list[str] = []

    async def filed() -> bool:
        sid = await runtime.store.current_session_id(tenant_id, stream, customer.visitor_id)
        if sid:
            found.append(sid)
        return bool(sid)

    await eventually(filed, "the customer's session to be opened")
    return found[-1]


async def history_texts(runtime: Runtime, tenant_id: str, session_id: str) -> list[str | None]:
    return [m.text for m in await runtime.store.history(tenant_id, session_id)]
