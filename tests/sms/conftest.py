"""Fixtures of the CPaaS (Inteliquent) tests: an in-process Switchboard with SMS media streams,
a fake Inteliquent (Message Broker + Services API), a real in-process SMTP server (aiosmtpd)
for alert emails, an agent and a tenant admin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from channels.cpaas import (
    AlertRecipient,
    CpaasNumber,
    CpaasPlatform,
    HeaderVerification,
    MessagingType,
    NumberTarget,
    ProvisioningState,
    StreamTarget,
)
from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.clients import AgentClient
from tests.fakes.inteliquent import FakeInteliquent, header_headers

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery"
OUTBOUND_KEY = "ZJUJZLWYI9Nb1la7WKLkgsqdczzMTb"
API_KEY, API_SECRET = "WtGNy8Wc2Vh2Vh71KnHEHY", "B6PDluhgYsIUZc4NNYDEQY"
HEADER, HEADER_VALUE = "X-Switchboard-Token", "h3ad3r-v4lu3-0123456789"
OUR, OUR2 = "2015550123", "2015550124"
CUSTOMER = "+13125550199"
PUBLIC_URL = "https://sb.example.com"
PLATFORM = "iq"


def sms_config() -> dict[str, Any]:
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
                    {"id": "sms", "name": "SMS", "media": "sms", "queue": "support"},
                    {"id": "sms2", "name": "SMS 2", "media": "sms", "queue": "support"},
                ],
            },
            {
                "id": "globex",
                "queues": [{"id": "support"}],
                "agents": [
                    {"id": "gus", "username": "gus", "password": PASSWORD, "role": "tenant_admin"}
                ],
            },
        ]
    }


@dataclass
class Mailbox:
    """What the in-process SMTP server received."""

    messages: list[Envelope] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        async with self.changed:
            self.messages.append(envelope)
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int) -> list[Envelope]:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.messages) >= count), 10)
        return self.messages


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    """A real aiosmtpd SMTP server on 127.0.0.1 (a free port) in the test's event loop."""
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(box, hostname="sb-test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield box, port
    server.close()
    await server.wait_closed()


@pytest.fixture
async def fake(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[FakeInteliquent, str]:
    """The fake Inteliquent with our two numbers on the account, and its base URL."""
    provider = FakeInteliquent(
        outbound_key=OUTBOUND_KEY, api_key=API_KEY, api_secret=API_SECRET, tns=[OUR, OUR2]
    )
    server = await aiohttp_server(provider.app)
    return provider, str(server.make_url("")).rstrip("/")


def sms_app(store: RedisStore, smtp_port: int) -> web.Application:
    """The Switchboard of these tests on ``store``, sending alerts to ``smtp_port``."""
    settings = Settings(
        tick_seconds=0.02,
        partitions=2,
        public_url=PUBLIC_URL,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        alert_from="alerts@sb.example.com",
    )
    return create_app(settings, Config.parse(sms_config()), store=store, broker=InMemoryBroker())


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    mailbox: tuple[Mailbox, int],
) -> Client:
    return await aiohttp_client(sms_app(RedisStore(MemoryRedis()), mailbox[1]))


@pytest.fixture
def runtime(client: Client) -> Runtime:
    return client.app[RUNTIME]


async def token(client: Client, username: str, tenant: str = "acme") -> str:
    resp = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": PASSWORD,
            "scope": tenant,
        },
    )
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


@pytest.fixture
async def admin(client: Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token(client, 'root')}"}


@pytest.fixture
async def agent(client: Client) -> AsyncIterator[AgentClient]:
    """ann, connected and Ready."""
    ws = await client.ws_connect(
        "/agent/ws", headers={"Authorization": f"Bearer {await token(client, 'ann')}"}
    )
    ann = AgentClient(ws)
    await ann.expect("hello")
    await ann.expect("state")
    await ann.set_state("ready")
    yield ann
    await ann.close()


def platform_model(base: str, **extra: Any) -> CpaasPlatform:
    data: dict[str, Any] = {
        "id": PLATFORM,
        "tenant": "acme",
        "name": "Inteliquent",
        "account_key": API_KEY,
        "token_secret": API_SECRET,
        "outbound_api_key": OUTBOUND_KEY,
        "inbound_verification": HeaderVerification(
            header_name=HEADER, header_value=SecretStr(HEADER_VALUE)
        ),
        "mms_available": True,
        "messaging_base_url": base + "/msgbroker/rest",
        "services_base_url": base + "/Services/2.0.0",
    }
    data.update(extra)
    return CpaasPlatform.model_validate(data)


def number_model(
    number: str = OUR, target: NumberTarget | None = None, **extra: Any
) -> CpaasNumber:
    data: dict[str, Any] = {
        "number": number,
        "tenant": "acme",
        "platform": PLATFORM,
        "messaging_type": MessagingType.MMS_SMS,
        "target": target or StreamTarget(stream="sms"),
        "provisioning": ProvisioningState.ACTIVE,
    }
    data.update(extra)
    return CpaasNumber.model_validate(data)


@dataclass
class Sms:
    """The CPaaS setup of a test: the platform and numbers in the store, the fake provider."""

    client: Client
    runtime: Runtime
    fake: FakeInteliquent
    base: str

    async def put_platform(self, **extra: Any) -> CpaasPlatform:
        platform = platform_model(self.base, **extra)
        await self.runtime.store.cpaas.put_platform(platform)
        return platform

    async def put_number(self, number: str = OUR, **extra: Any) -> CpaasNumber:
        model = number_model(number, **extra)
        await self.runtime.store.cpaas.put_number(model)
        return model

    async def post(
        self, body: bytes, headers: dict[str, str] | None = None, platform: str = PLATFORM
    ) -> ClientResponse:
        return await self.client.post(
            f"/webhooks/inteliquent/{platform}",
            data=body,
            headers=headers if headers is not None else header_headers(HEADER, HEADER_VALUE),
        )


@pytest.fixture
async def sms(client: Client, runtime: Runtime, fake: tuple[FakeInteliquent, str]) -> Sms:
    """A platform ``iq`` on the fake (MMS available) and our number OUR -> stream ``sms``."""
    setup = Sms(client, runtime, fake[0], fake[1])
    await runtime.store.cpaas.put_alert_recipient(
        AlertRecipient(id="ops", tenant="acme", name="Ops", email="ops@acme.example")
    )
    await setup.put_platform()
    await setup.put_number()
    return setup
