"""Fixtures of the consent, blocking and SMS/MMS API tests: an in-process Switchboard with a
Vonage account on a fake Vonage host, CPaaS (ChannelKind.SMS) streams, an agent, a tenant
admin and two API users (one with the Use SMS/MMS API privilege).

Imported by the test modules (not a conftest: ``tests/sms/conftest.py`` belongs to the CPaaS
tests). Fixture names are prefixed ``cs_`` so they never shadow those.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nexmo
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from channels.cpaas import (
    CpaasNumber,
    CpaasPlatform,
    HeaderVerification,
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
from tests.clients import AgentClient, Frame
from tests.fakes.inteliquent import FakeInteliquent, header_headers, inbound_body
from tests.fakes.vonage import FakeVonage

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery"
SMS_API_SECRET = "sms-api-secret-0123456789"
CRM_SECRET = "crm-secret-0123456789abc"
KEY, API_SECRET, SIG_SECRET = "abcd1234", "ABCDEFGH01234abc", "sIg-SeCrEt-0123456789abcdef"
CUSTOMER, OUR_NUMBER = "447700900001", "447700900000"
CPAAS_NUMBER = "2015550123"


def consent_config() -> dict[str, Any]:
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
                    {
                        "id": "sue",
                        "username": "sue",
                        "password": PASSWORD,
                        "role": "supervisor",
                        "queues": ["support"],
                    },
                ],
                "api_users": [
                    {
                        "client_id": "sms-bot",
                        "client_secret": SMS_API_SECRET,
                        "privileges": ["use_sms_api"],
                    },
                    {"client_id": "crm", "client_secret": CRM_SECRET},
                ],
                "sms_help_text": "ACME support: reply with your question. Reply STOP to stop.",
                "media_streams": [
                    {
                        "id": "vonage",
                        "media": "vonage",
                        "queue": "support",
                        "can_block_numbers": True,
                    },
                    {"id": "vonage-locked", "media": "vonage", "queue": "support"},
                    {
                        "id": "vonage-greeting",
                        "media": "vonage",
                        "queue": "support",
                        "initial_reply": "Thanks for texting ACME, an agent will be with you.",
                    },
                    {"id": "sms", "media": "sms", "queue": "support"},
                    {
                        "id": "sms-locked",
                        "media": "sms",
                        "queue": "support",
                        "can_block_numbers": False,
                    },
                ],
            },
            {"id": "globex", "queues": [{"id": "support"}]},
        ]
    }


@dataclass
class Vonage:
    fake: FakeVonage
    url: str
    account: str

    def texts(self) -> list[str]:
        return [p["text"] for p in self.fake.sms]


@pytest.fixture(name="cs_client")
async def cs_client_fixture(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    settings = Settings(tick_seconds=0.02, partitions=2)
    store = RedisStore(MemoryRedis())
    app = create_app(settings, Config.parse(consent_config()), store=store,
                     broker=InMemoryBroker())  # fmt: skip
    return await aiohttp_client(app)


@pytest.fixture(name="cs_runtime")
def cs_runtime_fixture(cs_client: Client) -> Runtime:
    return cs_client.app[RUNTIME]


async def password_token(client: Client, username: str) -> str:
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD,
              "scope": "acme"},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


async def client_token(client: Client, client_id: str, secret: str) -> str:
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id,
              "client_secret": secret, "scope": "acme"},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(name="cs_admin")
async def cs_admin_fixture(cs_client: Client) -> dict[str, str]:
    return bearer(await password_token(cs_client, "root"))


@pytest.fixture(name="cs_sms_api")
async def cs_sms_api_fixture(cs_client: Client) -> dict[str, str]:
    """Authorization of the API user holding the Use SMS/MMS API privilege."""
    return bearer(await client_token(cs_client, "sms-bot", SMS_API_SECRET))


@pytest.fixture(name="cs_agent")
async def cs_agent_fixture(cs_client: Client) -> AsyncIterator[AgentClient]:
    """ann, connected and Ready."""
    token = await password_token(cs_client, "ann")
    ws = await cs_client.ws_connect("/agent/ws", headers=bearer(token))
    ann = AgentClient(ws)
    await ann.expect("hello")
    await ann.expect("state")
    await ann.set_state("ready")
    yield ann
    await ann.close()


async def vonage_account(client: Client, admin: dict[str, str], url: str,
                         stream: str = "vonage") -> str:  # fmt: skip
    body = {"type": "vonage", "name": f"Nexmo {uuid.uuid4().hex[:6]}", "stream": stream,
            "api_base_url": url, "api_key": KEY, "api_secret": API_SECRET,
            "signature_secret": SIG_SECRET, "signature_method": "md5hash",
            "from_number": "+" + OUR_NUMBER}  # fmt: skip
    resp = await client.post("/api/v1/integration-accounts", json=body, headers=admin)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


@pytest.fixture(name="cs_vonage")
async def cs_vonage_fixture(
    cs_client: Client, cs_admin: dict[str, str],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> Vonage:  # fmt: skip
    """A Vonage account (md5hash-signed webhooks) on a fake Vonage host, feeding "vonage"."""
    fake = FakeVonage(KEY, API_SECRET)
    server = await aiohttp_server(fake.app)
    url = str(server.make_url("")).rstrip("/")
    return Vonage(fake, url, await vonage_account(cs_client, cs_admin, url))


def signed_inbound(text: str, message_id: str | None = None,
                   msisdn: str = CUSTOMER) -> dict[str, str]:  # fmt: skip
    """A legacy inbound SMS webhook, signed (md5hash) with the nexmo SDK like Vonage does."""
    params = {"msisdn": msisdn, "to": OUR_NUMBER, "messageId": message_id or uuid.uuid4().hex,
              "text": text, "type": "text", "keyword": (text.split() or [""])[0].upper(),
              "api-key": KEY, "message-timestamp": "2026-03-01 12:00:00",
              "timestamp": str(int(time.time())), "nonce": uuid.uuid4().hex}  # fmt: skip
    sig = nexmo.Client(key=KEY, signature_secret=SIG_SECRET).signature(dict(params))
    return {**params, "sig": sig}


async def text_in(client: Client, account: str, text: str, **extra: str) -> ClientResponse:
    """The customer texts our Vonage number (webhook answered; not yet filed)."""
    resp = await client.post(f"/webhooks/vonage/{account}", data=signed_inbound(text, **extra))
    assert resp.status == 200, await resp.text()
    return resp


async def open_conversation(client: Client, vonage: Vonage, agent: AgentClient,
                            text: str = "Hello", msisdn: str = CUSTOMER) -> str:  # fmt: skip
    """The customer writes, ann accepts: the session id."""
    mark = len(agent.frames)
    await text_in(client, vonage.account, text, msisdn=msisdn)
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    return str(offer["session_id"])


async def agent_send(agent: AgentClient, session_id: str, text: str) -> Frame:
    """Send; the answer is the echoed message frame or the error frame."""
    client_id = uuid.uuid4().hex
    mark = len(agent.frames)
    await agent.send({"type": "send", "session_id": session_id, "text": text,
                      "client_id": client_id})  # fmt: skip

    def answer(frame: Frame) -> bool:
        if frame.get("type") == "error":
            return frame.get("ref") == "send"
        message = frame.get("message") or {}
        return frame.get("type") == "message" and message.get("client_id") == client_id

    await agent.wait(lambda: any(answer(f) for f in agent.frames[mark:]), "the send's answer")
    return next(f for f in agent.frames[mark:] if answer(f))


async def put_cpaas_number(
    runtime: Runtime, *, number: str = CPAAS_NUMBER, stream: str = "sms",
    can_block: bool | None = None, platform_blocks: bool = False,
    messaging_base_url: str = "http://127.0.0.1:9",
) -> CpaasNumber:  # fmt: skip
    """A provisioned CPaaS number on a platform, straight into the store."""
    platform = CpaasPlatform(
        id="iq", tenant="acme", name="Inteliquent", account_key="key", token_secret="secret",
        outbound_api_key=IQ_OUTBOUND_KEY, user_can_block_numbers=platform_blocks,
        inbound_verification=HeaderVerification(header_name="X-Auth", header_value="hook-secret"),
        messaging_base_url=messaging_base_url,
    )  # fmt: skip
    await runtime.store.cpaas.put_platform(platform)
    cpaas = CpaasNumber(
        number=number, tenant="acme", platform="iq", target=StreamTarget(stream=stream),
        can_block=can_block, provisioning=ProvisioningState.ACTIVE,
    )  # fmt: skip
    await runtime.store.cpaas.put_number(cpaas)
    return cpaas


# -- CPaaS (ChannelKind.SMS) on the fake Inteliquent ------------------------------------------

IQ_OUTBOUND_KEY = "outbound-key-0123456789"
SMS_CUSTOMER = "+13125550199"


@dataclass
class Iq:
    """The fake Inteliquent and the number ``CPAAS_NUMBER`` on it (stream "sms")."""

    fake: FakeInteliquent
    client: Client

    def texts(self) -> list[str]:
        return [str(p.get("text", "")) for p in self.fake.published]

    async def sms_in(
        self, text: str, *, sender: str = SMS_CUSTOMER, reference_id: str | None = None
    ) -> ClientResponse:
        """The customer texts our CPaaS number (webhook answered; not yet filed)."""
        body = inbound_body(sender.lstrip("+"), ["1" + CPAAS_NUMBER], text,
                            reference_id=reference_id)  # fmt: skip
        resp = await self.client.post("/webhooks/inteliquent/iq", data=body,
                                      headers=header_headers("X-Auth", "hook-secret"))  # fmt: skip
        assert resp.status == 200, await resp.text()
        return resp


@pytest.fixture(name="cs_iq")
async def cs_iq_fixture(
    cs_client: Client, cs_runtime: Runtime,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> Iq:  # fmt: skip
    fake = FakeInteliquent(
        outbound_key=IQ_OUTBOUND_KEY, api_key="key", api_secret="secret", tns=[CPAAS_NUMBER]
    )
    server = await aiohttp_server(fake.app)
    base = str(server.make_url("")).rstrip("/")
    await put_cpaas_number(cs_runtime, messaging_base_url=base + "/msgbroker/rest",
                           platform_blocks=True)  # fmt: skip
    return Iq(fake, cs_client)
