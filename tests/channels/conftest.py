"""An in-process Switchboard with one media stream per messenger type, a tenant admin to
manage integration accounts, and an agent to answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.clients import AgentClient

PASSWORD = "correct horse battery"
KINDS = ("facebook", "whatsapp", "line", "telegram", "viber", "vonage")


def channels_config() -> dict[str, Any]:
    return {
        "tenants": [
            {
                "id": "acme",
                "queues": [{"id": "support", "offer_timeout_seconds": 30}],
                "agents": [
                    {
                        "id": "ann",
                        "username": "ann",
                        "password": PASSWORD,
                        "capacity": 5,
                        "queues": ["support"],
                    },
                    {
                        "id": "root",
                        "username": "root",
                        "password": PASSWORD,
                        "role": "tenant_admin",
                    },
                ],
                "media_streams": [
                    {"id": kind, "name": kind.title(), "media": kind, "queue": "support"}
                    for kind in KINDS
                ],
            },
            {
                "id": "globex",
                "queues": [{"id": "support"}],
                "agents": [
                    {"id": "gus", "username": "gus", "password": PASSWORD, "role": "tenant_admin"},
                ],
                "media_streams": [
                    {"id": kind, "media": kind, "queue": "support"} for kind in KINDS
                ],
            },
        ]
    }


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
) -> TestClient[Any, Any]:
    settings = Settings(tick_seconds=0.02, partitions=2)
    store = RedisStore(MemoryRedis())
    app = create_app(
        settings, Config.parse(channels_config()), store=store, broker=InMemoryBroker()
    )
    return await aiohttp_client(app)


@pytest.fixture
def runtime(client: TestClient[Any, Any]) -> Runtime:
    return client.app[RUNTIME]


async def get_token(client: TestClient[Any, Any], username: str, tenant: str = "acme") -> str:
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD,
              "scope": tenant},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


@pytest.fixture
async def admin(client: TestClient[Any, Any]) -> dict[str, str]:
    """Authorization header of the tenant admin of acme."""
    return {"Authorization": f"Bearer {await get_token(client, 'root')}"}


@pytest.fixture
async def create_account(
    client: TestClient[Any, Any], admin: dict[str, str]
) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """Create an integration account through the API; returns its public view."""

    async def create(body: dict[str, Any]) -> dict[str, Any]:
        resp = await client.post("/api/v1/integration-accounts", json=body, headers=admin)
        assert resp.status == 201, await resp.text()
        view: dict[str, Any] = await resp.json()
        return view

    return create


@pytest.fixture
async def agent(client: TestClient[Any, Any]) -> AsyncIterator[AgentClient]:
    """ann, connected and Ready."""
    token = await get_token(client, "ann")
    ws = await client.ws_connect("/agent/ws", headers={"Authorization": f"Bearer {token}"})
    ann = AgentClient(ws)
    await ann.expect("hello")
    await ann.expect("state")
    await ann.set_state("ready")
    yield ann
    await ann.close()


@pytest.fixture
async def start_fake(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> Callable[[web.Application], Awaitable[str]]:
    """Start a fake provider app; returns its base URL (for ``api_base_url``)."""

    async def start(app: web.Application) -> str:
        server = await aiohttp_server(app)
        return str(server.make_url("")).rstrip("/")

    return start
