"""Fixtures of the CPaaS numbers, personal inbox and opt-in tests (names prefixed ``nb_`` so
they never collide with ``tests/sms/conftest.py``): an in-process Switchboard whose CPaaS
platforms point at a fake Inteliquent, and a real in-process SMTP server (aiosmtpd).

Test modules import what they use from here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from channels.cpaas import AlertRecipient, CpaasNumber, CpaasPlatform, HeaderVerification
from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.models import ChannelKind, Direction, Message, Party, Sender, SenderKind
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.clients import AgentClient
from tests.fakes.inteliquent import FakeInteliquent

PASSWORD = "correct horse battery"
TENANT = "acme"


def _agent(aid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": aid, "name": name, "username": aid, "password": PASSWORD,
            "queues": ["support"], **extra}  # fmt: skip


def numbers_config(numbers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "tenants": [
            {
                "id": TENANT,
                "queues": [{"id": "support", "offer_timeout_seconds": 30}],
                "agents": [
                    _agent("ann", "Ann Archer", capacity=2),
                    _agent("bob", "Bob Baker"),
                    {
                        "id": "root",
                        "username": "root",
                        "password": PASSWORD,
                        "role": "tenant_admin",
                    },
                ],
                "media_streams": [
                    {"id": "sms-main", "name": "Main line", "media": "sms", "queue": "support"},
                    {"id": "web", "name": "Web", "media": "webchat", "queue": "support"},
                ],
                "numbers": numbers or [],
            },
            {
                "id": "globex",
                "queues": [{"id": "support"}],
                "agents": [
                    {"id": "gus", "username": "gus", "password": PASSWORD, "role": "tenant_admin"},
                ],
            },
        ]
    }


# -- the provider ---------------------------------------------------------------------------

OUTBOUND_KEY = "ZJUJZLWYI9Nb1la7WKLkgsqdczzMTb"
API_KEY, API_SECRET = "WtGNy8Wc2Vh2Vh71KnHEHY", "B6PDluhgYsIUZc4NNYDEQY"
ON_ACCOUNT = ("2015550123", "2015550124", "2015550125", "3125550100")


class GatedInteliquent(FakeInteliquent):
    """The fake Inteliquent, whose webhook registrations can be held back or refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate: asyncio.Event | None = None
        self.refusal: str | None = None

    def hold_registrations(self) -> asyncio.Event:
        """Registrations wait until the returned event is set."""
        self.gate = asyncio.Event()
        return self.gate

    async def _configure(self, request: web.Request) -> web.Response:
        if self.gate is not None:
            await self.gate.wait()
        if self.refusal is not None:
            return self.refused("INVALID_REQUEST", self.refusal)
        return await super()._configure(request)

    def webhooks(self) -> dict[str, str]:
        """10-digit number -> registered webhook URL."""
        return {a.tn[1:]: a.webhook_url for a in self.authorizations.values() if a.tn}


@pytest.fixture
async def nb_fake(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[GatedInteliquent, str]:
    """The fake Inteliquent with ``ON_ACCOUNT`` on the account, and its base URL."""
    fake = GatedInteliquent(
        outbound_key=OUTBOUND_KEY, api_key=API_KEY, api_secret=API_SECRET, tns=list(ON_ACCOUNT)
    )
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("")).rstrip("/")


# -- SMTP -----------------------------------------------------------------------------------


class Mailbox:
    """What the in-process SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.changed = asyncio.Condition()
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        async with self.changed:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
            self.changed.notify_all()
        return "250 OK"

    async def wait_for(self, count: int) -> list[tuple[list[str], EmailMessage]]:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.messages) >= count), 10)
        return self.messages

    def recipients(self) -> set[str]:
        return {rcpt for tos, _ in self.messages for rcpt in tos}


@pytest.fixture
async def nb_smtp() -> AsyncIterator[Mailbox]:
    mailbox = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(mailbox), "127.0.0.1", 0)
    mailbox.port = server.sockets[0].getsockname()[1]
    yield mailbox
    server.close()
    await server.wait_closed()


# -- the app --------------------------------------------------------------------------------


@pytest.fixture
def nb_store() -> RedisStore:
    return RedisStore(MemoryRedis())


@pytest.fixture
def nb_config() -> dict[str, Any]:
    return numbers_config()


def platform(base: str, pid: str = "iq", *, confirm: bool = False, **extra: Any) -> CpaasPlatform:
    return CpaasPlatform(
        id=pid,
        tenant=TENANT,
        name=f"Inteliquent {pid}",
        account_key=API_KEY,
        token_secret=SecretStr(API_SECRET),
        outbound_api_key=SecretStr(OUTBOUND_KEY),
        inbound_verification=HeaderVerification(
            header_name="X-Token", header_value=SecretStr("t0ken")
        ),
        user_confirmation_required=confirm,
        messaging_base_url=base + "/msgbroker/rest",
        services_base_url=base + "/Services/2.0.0",
        **extra,
    )


@pytest.fixture
def nb_platforms(nb_fake: tuple[GatedInteliquent, str]) -> list[CpaasPlatform]:
    """The CPaaS platforms acme has before start-up (tests override this)."""
    return [platform(nb_fake[1])]


@pytest.fixture
async def nb_client(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    nb_store: RedisStore,
    nb_config: dict[str, Any],
    nb_platforms: list[CpaasPlatform],
    nb_smtp: Mailbox,
) -> TestClient[Any, Any]:
    for p in nb_platforms:
        await nb_store.cpaas.put_platform(p)
    for rid, email, on in (("ops", "ops@acme.test", True), ("cto", "cto@acme.test", True),
                           ("off", "off@acme.test", False)):  # fmt: skip
        await nb_store.cpaas.put_alert_recipient(
            AlertRecipient(id=rid, tenant=TENANT, name=rid.upper(), email=email, send_alerts=on)
        )
    settings = Settings(
        tick_seconds=0.02, partitions=2, smtp_url=f"smtp://127.0.0.1:{nb_smtp.port}"
    )
    app = create_app(settings, Config.parse(nb_config), store=nb_store, broker=InMemoryBroker())
    return await aiohttp_client(app)


@pytest.fixture
def nb_runtime(nb_client: TestClient[Any, Any]) -> Runtime:
    return nb_client.app[RUNTIME]


async def bearer(client: TestClient[Any, Any], username: str, tenant: str = TENANT) -> str:
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD,
              "scope": tenant},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


@pytest.fixture
async def nb_admin(nb_client: TestClient[Any, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {await bearer(nb_client, 'root')}"}


@pytest.fixture
async def nb_connect(
    nb_client: TestClient[Any, Any],
) -> AsyncIterator[Callable[..., Awaitable[AgentClient]]]:
    """Connect an agent (hello and state read); Ready unless ``ready=False``."""
    opened: list[AgentClient] = []

    async def connect(username: str, ready: bool = True) -> AgentClient:
        token = await bearer(nb_client, username)
        ws = await nb_client.ws_connect("/agent/ws", headers={"Authorization": f"Bearer {token}"})
        agent = AgentClient(ws)
        opened.append(agent)
        await agent.expect("hello")
        await agent.expect("state")
        if ready:
            await agent.set_state("ready")
        return agent

    yield connect
    for agent in opened:
        await agent.close()


async def add_number(
    client: TestClient[Any, Any], headers: dict[str, str], number: str, **body: Any
) -> dict[str, Any]:
    """Create a number through the API (a user's of ann unless ``target`` says otherwise)."""
    body.setdefault("target", {"kind": "user", "agent": "ann"})
    resp = await client.post("/api/v1/numbers", json={"number": number, **body}, headers=headers)
    assert resp.status == 201, await resp.text()
    view: dict[str, Any] = await resp.json()
    return view


def sms(number: CpaasNumber, sender: str, text: str, ref: str | None = None) -> Message:
    """An inbound SMS to one of our numbers, as the CPaaS webhook normalizes it."""
    return Message(
        id=uuid.uuid4().hex,
        tenant=number.tenant,
        channel=ChannelKind.SMS,
        account=number.number,
        stream="",
        direction=Direction.INBOUND,
        remote_party=Party(id=sender),
        sender=Sender(kind=SenderKind.CUSTOMER, id=sender),
        text=text,
        provider_message_id=ref or uuid.uuid4().hex,
    )


async def stored(runtime: Runtime, number: str) -> CpaasNumber:
    found = await runtime.store.cpaas.number(TENANT, number)
    assert found is not None
    return found
