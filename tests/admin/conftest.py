"""An in-process Switchboard for the admin console pages (SMS and web chat streams, a tenant
admin, a supervisor and two agents in each of two tenants) and the fake providers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.admin.console import PASSWORD, Client, Console
from tests.fakes.inteliquent import FakeInteliquent
from tests.fakes.telegram import FakeTelegram

TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
OUTBOUND_KEY = "ZJUJZLWYI9Nb1la7WKLkgsqdczzMTb"
API_KEY, API_SECRET = "WtGNy8Wc2Vh2Vh71KnHEHY", "B6PDluhgYsIUZc4NNYDEQY"
OUR, OUR2, OUR3 = "2015550123", "2015550124", "9495418806"


def _agent(aid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": aid, "name": name, "username": aid, "password": PASSWORD,
            "queues": ["support"], **extra}  # fmt: skip


def _tenant(tid: str) -> dict[str, Any]:
    return {
        "id": tid,
        "queues": [{"id": "support", "offer_timeout_seconds": 30}],
        "agents": [
            _agent("ann", "Ann Archer"),
            _agent("bob", "Bob Baker"),
            _agent("sue", "Sue Super", role="supervisor"),
            _agent("root", f"Root of {tid}", role="tenant_admin", queues=[]),
        ],
        "media_streams": [
            {"id": "web", "name": "Web", "queue": "support"},
            {"id": "sms-main", "name": "Main line", "media": "sms", "queue": "support"},
        ],
    }


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> Client:
    """The app under test. It asks for ``aiohttp_server`` first so that every fake provider
    server outlives the app: the app closes its connections to them before they stop."""
    settings = Settings(tick_seconds=0.02, partitions=2)
    store = RedisStore(MemoryRedis())
    config = Config.parse({"tenants": [_tenant("acme"), _tenant("globex")]})
    app = create_app(settings, config, store=store, broker=InMemoryBroker())
    return await aiohttp_client(app)


@pytest.fixture
def runtime(client: Client) -> Runtime:
    found: Runtime = client.app[RUNTIME]
    return found


@pytest.fixture
async def admin(client: Client) -> Console:
    """root, tenant admin of acme, signed in."""
    return await Console(client).login()


@pytest.fixture
async def telegram(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> tuple[FakeTelegram, str]:
    fake = FakeTelegram(TELEGRAM_TOKEN)
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def inteliquent(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> tuple[FakeInteliquent, str]:
    """The fake Inteliquent with three of our numbers on the account, and its base URL."""
    fake = FakeInteliquent(
        outbound_key=OUTBOUND_KEY, api_key=API_KEY, api_secret=API_SECRET, tns=[OUR, OUR2, OUR3]
    )
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("")).rstrip("/")
