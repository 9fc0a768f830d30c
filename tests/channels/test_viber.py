"""Viber end to end: callbacks built from viberbot's message classes and signed like Viber
(checked with viberbot's own ``Api.verify_signature`` / ``parse_request``), through the real app
to the agent; replies through the outbound worker to a fake Viber API that checks the header
auth, every field, and viberbot's message validation.
"""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from viberbot import Api
from viberbot.api.bot_configuration import BotConfiguration
from viberbot.api.messages import (
    ContactMessage,
    FileMessage,
    LocationMessage,
    PictureMessage,
    StickerMessage,
    TextMessage,
    URLMessage,
    VideoMessage,
)
from viberbot.api.messages.data_types.contact import Contact
from viberbot.api.messages.data_types.location import Location
from viberbot.api.viber_requests import ViberMessageRequest

import router.outbound
from channels import viber as viber_channel
from queues import names
from queues.memory import InMemoryBroker
from router.models import Message
from router.runtime import Runtime
from tests.channels.helpers import signature_failures
from tests.clients import AgentClient, eventually
from tests.fakes.viber import FakeViber, sign

TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
USER = "01234567890A="
TS = 1457764197627
SDK = Api(BotConfiguration(auth_token=TOKEN, name="acme_bot", avatar="https://example.com/a.jpg"))
_tokens = itertools.count(4912661846655238145)


def callback(event: str, **fields: Any) -> bytes:
    body = {"event": event, "timestamp": TS, "chat_hostname": "SN-376_", **fields}
    return json.dumps(body).encode()


def message(content: dict[str, Any], *, token: int | None = None, user: str = USER) -> bytes:
    sender = {
        "id": user,
        "name": "John McClane",
        "avatar": "http://avatar.example.com",
        "country": "UK",
        "language": "en",
        "api_version": 10,
    }
    return callback(
        "message",
        message_token=token or next(_tokens),
        sender=sender,
        message=content,
        silent=False,
    )


def text(value: str, *, token: int | None = None) -> bytes:
    return message(TextMessage(text=value, tracking_data="t").to_dict(), token=token)


@dataclass
class Viber:
    client: TestClient[Any, Any]
    runtime: Runtime
    fake: FakeViber
    base: str

    async def post(self, raw: bytes, *, signature: str | None = None, account: str = "vb1") -> int:
        sig = sign(TOKEN, raw) if signature is None else signature
        headers = {"Content-Type": "application/json"}
        if sig:
            headers["X-Viber-Content-Signature"] = sig
        resp = await self.client.post(f"/webhooks/viber/{account}", data=raw, headers=headers)
        return resp.status

    async def session(self, agent: AgentClient, value: str = "Hello") -> str:
        assert await self.post(text(value)) == 200
        offer = await agent.expect("offer", lambda f: f["history"][0]["text"] == value)
        await agent.accept(offer)
        return str(offer["session_id"])

    async def last(self, session_id: str) -> Message:
        session = await self.runtime.store.load_session("acme", session_id)
        assert session is not None
        return session.history[-1]

    async def wait_status(self, session_id: str, status: str) -> Message:
        async def done() -> bool:
            return (await self.last(session_id)).status == status

        await eventually(done, f"last message {status}")
        return await self.last(session_id)

    async def settle(self) -> None:
        """Wait until the in-memory broker is idle (nothing queued, running or retrying)."""
        assert isinstance(self.runtime.broker, InMemoryBroker)
        await self.runtime.broker.join()

    def outbound_queue(self) -> str:
        key = f"acme|viber|{USER}"
        return names.outbound(names.partition_of(key, self.runtime.settings.partitions))


def account_body(base: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "vb1",
        "type": "viber",
        "name": "Acme Viber",
        "stream": "viber",
        "api_base_url": base,
        "bot_username": "acme_bot",
        "token": TOKEN,
        **extra,
    }


@pytest.fixture
async def viber(
    client: TestClient[Any, Any],
    runtime: Runtime,
    create_account: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    start_fake: Callable[[web.Application], Awaitable[str]],
) -> Viber:
    fake = FakeViber(TOKEN, allow_http_webhooks=True)
    base = await start_fake(fake.app) + "/pa"
    await create_account(account_body(base))
    return Viber(client, runtime, fake, base)


# -- inbound ------------------------------------------------------------------------------


async def test_text_reaches_agent_reply_and_status_callbacks(
    viber: Viber, agent: AgentClient
) -> None:
    raw = text("My TV is broken")
    assert SDK.verify_signature(raw, sign(TOKEN, raw))  # the SDK agrees with our signing
    assert isinstance(SDK.parse_request(raw), ViberMessageRequest)
    assert await viber.post(raw) == 200
    offer = await agent.expect("offer")
    assert offer["channel"] == "viber"
    assert offer["customer"] == {"id": USER, "name": "John McClane", "email": None}
    assert [m["text"] for m in offer["history"]] == ["My TV is broken"]
    assert offer["history"][0]["created_at"].startswith("2016-03-12T06:29:57.627")
    await agent.accept(offer)
    sid = offer["session_id"]

    await agent.reply(sid, "Sorry to hear that.")
    (call,) = await viber.fake.wait_for("/pa/send_message")
    assert call.headers["X-Viber-Auth-Token"] == TOKEN
    assert call.json() == {
        "receiver": USER,
        "min_api_version": 1,
        "sender": {"name": "acme_bot"},
        "type": "text",
        "text": "Sorry to hear that.",
    }
    await viber.wait_status(sid, "sent")

    # 64-bit message tokens are matched exactly (no float rounding anywhere).
    sent_token = 5741311803571721087
    delivered = callback("delivered", message_token=sent_token, user_id=USER)
    assert SDK.parse_request(delivered).message_token == sent_token
    assert await viber.post(delivered) == 200
    assert (await viber.last(sid)).status == "delivered"
    assert (
        await viber.post(callback("delivered", message_token=sent_token + 1, user_id=USER)) == 200
    )
    assert await viber.post(callback("seen", message_token=sent_token, user_id=USER)) == 200
    assert (await viber.last(sid)).status == "read"

    await agent.reply(sid, "Second")
    await viber.fake.wait_for("/pa/send_message", 2)
    await viber.wait_status(sid, "sent")
    failed = callback(
        "failed", message_token=sent_token + 1, user_id=USER, desc="failure description"
    )
    assert await viber.post(failed) == 200
    last = await viber.last(sid)
    assert (last.status, last.error) == ("failed", "failure description")


async def test_bad_or_missing_signature_is_refused_and_counted(
    viber: Viber, agent: AgentClient
) -> None:
    before = signature_failures(viber.runtime, "viber")
    raw = text("forged")
    wrong = sign("other-token", raw)
    assert not SDK.verify_signature(raw, wrong)
    assert await viber.post(raw, signature=wrong) == 401
    assert await viber.post(raw, signature="") == 401
    assert await viber.post(raw + b" ", signature=sign(TOKEN, raw)) == 401
    assert signature_failures(viber.runtime, "viber") == before + 3
    assert await viber.post(text("genuine")) == 200
    offer = await agent.expect("offer")
    assert [m["text"] for m in offer["history"]] == ["genuine"]


async def test_duplicates_unknown_and_non_message_events(viber: Viber, agent: AgentClient) -> None:
    assert await viber.post(callback("webhook", message_token=1)) == 200  # Set Webhook check
    started = callback(
        "conversation_started",
        message_token=2,
        type="open",
        subscribed=False,
        user={"id": USER, "name": "John McClane"},
    )
    assert await viber.post(started) == 200
    assert await viber.post(callback("client_status", message_token=3)) == 200
    assert await viber.post(b"{not json") == 400
    assert await viber.post(callback("delivered", message_token=4.5e18, user_id=USER)) == 400
    first = text("one", token=777)
    assert await viber.post(first) == 200
    offer = await agent.expect("offer")
    await agent.accept(offer)
    sid = offer["session_id"]
    assert await viber.post(first) == 200  # Viber retries until it gets 200: filed once
    assert await viber.post(text("two")) == 200
    await agent.wait(lambda: agent.texts(sid) == ["one", "two"], "two texts")
    await viber.settle()
    assert agent.texts(sid) == ["one", "two"]
    assert viber.fake.requests == []


async def test_every_message_type_is_normalized(viber: Viber, agent: AgentClient) -> None:
    contents = [
        PictureMessage(
            media="https://dl-media.viber.com/5/media/2/short/any/sig/image/0x0/p.jpg",
            text="my receipt",
        ).to_dict()
        | {"file_name": "p.jpg", "size": 12345},
        VideoMessage(media="https://dl-media.viber.com/v.mp4", size=4096, duration=3).to_dict(),
        FileMessage(
            media="https://dl-media.viber.com/f", size=2048, file_name="invoice.pdf"
        ).to_dict(),
        LocationMessage(location=Location(lat=51.5072, lon=-0.1276)).to_dict(),
        StickerMessage(sticker_id=46105).to_dict() | {"media": "https://viber.com/sticker.png"},
        ContactMessage(contact=Contact(name="Holly", phone_number="+15551234567")).to_dict(),
        URLMessage(media="https://example.com/order/42").to_dict(),
    ]
    for content in contents:
        raw = message(content)
        assert SDK.parse_request(raw).message.to_dict()["type"] == content["type"]
        assert await viber.post(raw) == 200
    offer = await agent.expect("offer")
    await agent.accept(offer)
    sid = offer["session_id"]

    async def filed() -> bool:
        session = await viber.runtime.store.load_session("acme", sid)
        return session is not None and len(session.history) == len(contents)

    await eventually(filed, "all filed")
    session = await viber.runtime.store.load_session("acme", sid)
    assert session is not None
    picture, video, file, location, sticker, contact, url = session.history
    assert picture.text == "my receipt"
    assert picture.attachments[0].model_dump() == {
        "url": contents[0]["media"],
        "content_type": "image/jpeg",
        "size": 12345,
        "name": "p.jpg",
    }
    assert (video.attachments[0].content_type, video.attachments[0].size) == ("video/mp4", 4096)
    assert (file.attachments[0].name, file.attachments[0].content_type) == (
        "invoice.pdf",
        "application/pdf",
    )
    assert location.text == "Location: 51.5072,-0.1276"
    assert location.attachments[0].url == "https://maps.google.com/?q=51.5072,-0.1276"
    assert sticker.text == "[sticker]"
    assert sticker.attachments[0].url == "https://viber.com/sticker.png"
    assert contact.text == "Contact: Holly +15551234567"
    assert url.text == "https://example.com/order/42"


async def test_unsubscribe_then_subscribe_or_write_again(viber: Viber, agent: AgentClient) -> None:
    sid = await viber.session(agent, "Bye")
    assert await viber.post(callback("unsubscribed", message_token=9, user_id=USER)) == 200
    error = await agent.expect_error({"type": "send", "session_id": sid, "text": "Hello?"})
    assert error["code"] == "unreachable"
    await viber.settle()
    assert viber.fake.requests == []

    user = {"id": USER, "name": "John McClane", "api_version": 10}
    assert await viber.post(callback("subscribed", message_token=10, user=user)) == 200
    await agent.reply(sid, "Welcome back")
    await viber.fake.wait_for("/pa/send_message")

    assert await viber.post(callback("unsubscribed", message_token=11, user_id=USER)) == 200
    assert await viber.post(text("I'm back")) == 200  # writing subscribes again
    await agent.expect("message", lambda f: f["message"]["text"] == "I'm back")
    await agent.reply(sid, "Great")
    await viber.fake.wait_for("/pa/send_message", 2)


# -- outbound -----------------------------------------------------------------------------


async def test_long_text_pictures_and_keyboard(viber: Viber, agent: AgentClient) -> None:
    sid = await viber.session(agent)
    long_text = "word " * 2000  # 10_000 characters: two messages
    await agent.send(
        {"type": "send", "session_id": sid, "text": long_text.strip(), "choices": ["Yes", "No"]}
    )
    first, second = await viber.fake.wait_for("/pa/send_message", 2)
    assert len(first.json()["text"]) <= 7000
    assert "keyboard" not in first.json()
    assert first.json()["min_api_version"] == 1
    assert second.json()["min_api_version"] == 3
    assert second.json()["keyboard"] == {
        "Type": "keyboard",
        "Buttons": [{"ActionType": "reply", "ActionBody": c, "Text": c} for c in ("Yes", "No")],
    }
    assert (first.json()["text"] + " " + second.json()["text"]).split() == long_text.split()

    image = {"url": "https://cdn.example.com/plan.png", "content_type": "image/png"}
    pdf = {"url": "https://cdn.example.com/terms.pdf", "content_type": "application/pdf"}
    await agent.send(
        {"type": "send", "session_id": sid, "text": "Your plan", "attachments": [image, pdf]}
    )
    picture = (await viber.fake.wait_for("/pa/send_message", 3))[2].json()
    assert picture == {
        "receiver": USER,
        "min_api_version": 1,
        "sender": {"name": "acme_bot"},
        "type": "picture",
        "media": image["url"],
        "text": "Your plan\nhttps://cdn.example.com/terms.pdf",
    }

    many = [f"Option {i}" for i in range(25)]
    await agent.send({"type": "send", "session_id": sid, "text": "Pick", "choices": many})
    numbered = (await viber.fake.wait_for("/pa/send_message", 4))[3].json()
    assert "keyboard" not in numbered
    assert numbered["text"].startswith("Pick\n1. Option 0\n2. Option 1")
    await viber.wait_status(sid, "sent")


async def test_too_many_requests_then_delivered_once(
    viber: Viber, agent: AgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(viber_channel, "RATE_LIMIT_RETRY_SECONDS", 0.0)
    sid = await viber.session(agent)
    # Viber's own way: HTTP 200 with status 12; then a plain HTTP 429.
    viber.fake.fail_next(200, body={"status": 12, "status_message": "Too many requests"})
    viber.fake.fail_next(429, retry_after=0)
    await agent.reply(sid, "Thanks for waiting")
    await viber.fake.wait_for("/pa/send_message", 3)
    await viber.wait_status(sid, "sent")
    assert [b["text"] for b in viber.fake.sent] == ["Thanks for waiting"]


async def test_server_errors_exhaust_retries_then_dead_letter(
    viber: Viber, agent: AgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router.outbound, "backoff", lambda attempt: 0.0)
    sid = await viber.session(agent)
    viber.fake.fail_next(500, times=5)
    await agent.reply(sid, "Are you there?")
    failed = await viber.wait_status(sid, "failed")
    assert failed.error == "Internal server error"
    assert len(viber.fake.calls("/send_message")) == 5
    await viber.settle()
    assert len(await viber.runtime.broker.dead_letters(viber.outbound_queue())) == 1


async def test_auth_and_receiver_errors_fail_at_once(viber: Viber, agent: AgentClient) -> None:
    sid = await viber.session(agent)
    viber.fake.unsubscribed.add(USER)
    await agent.reply(sid, "Hello")
    failed = await viber.wait_status(sid, "failed")
    assert failed.error == "receiverNotSubscribed (status 6)"

    viber.fake.unsubscribed.clear()
    viber.fake.token = "rotated"
    await agent.reply(sid, "Hello again")
    await viber.fake.wait_for("/pa/send_message", 2)
    failed = await viber.wait_status(sid, "failed")
    assert failed.error == "invalidAuthToken (status 2)"
    await viber.settle()
    assert len(viber.fake.calls("/send_message")) == 2  # no retries
    assert len(await viber.runtime.broker.dead_letters(viber.outbound_queue())) == 2


# -- account ------------------------------------------------------------------------------


async def test_connection_results(
    viber: Viber, admin: dict[str, str], create_account: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    async def check(account: str) -> dict[str, Any]:
        resp = await viber.client.post(
            f"/api/v1/integration-accounts/{account}/test-connection", headers=admin
        )
        assert resp.status == 200
        return dict(await resp.json())

    valid = await check("vb1")
    assert (valid["result"], valid["account_name"]) == ("valid", "Acme Support")
    (info,) = viber.fake.calls("/pa/get_account_info")
    assert info.headers["X-Viber-Auth-Token"] == TOKEN
    assert info.json() == {}

    viber.fake.fail_next(403)
    assert (await check("vb1"))["result"] == "forbidden"

    await create_account(account_body(viber.base, id="vb2", name="Old", token="stale"))
    invalid = await check("vb2")
    assert (invalid["result"], invalid["detail"]) == (
        "invalid_credentials",
        "invalidAuthToken (status 2)",
    )

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/pa"
    await create_account(account_body(closed, id="vb3", name="Nowhere"))
    assert (await check("vb3"))["result"] == "unreachable"


async def test_set_webhook_is_checked_by_a_signed_callback(
    viber: Viber, admin: dict[str, str], create_account: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    url = str(viber.client.make_url("/webhooks/viber/vb1"))
    resp = await viber.client.post(
        "/api/v1/integration-accounts/vb1/set-webhook", json={"url": url}, headers=admin
    )
    result = await resp.json()
    assert result["result"] == "valid", result
    (call,) = viber.fake.calls("/pa/set_webhook")
    assert call.headers["X-Viber-Auth-Token"] == TOKEN
    assert call.json() == {
        "url": url,
        "send_name": True,
        "send_photo": True,
        "event_types": [
            "delivered",
            "seen",
            "failed",
            "subscribed",
            "unsubscribed",
            "conversation_started",
        ],
    }
    assert viber.fake.webhook_check_status == 200
    assert viber.fake.webhook == url

    # A wrong token: Viber's check callback would fail our signature check.
    before = signature_failures(viber.runtime, "viber")
    await create_account(account_body(viber.base, id="vb2", name="Other", token="other-token"))
    viber.fake.token = "other-token"
    resp = await viber.client.post(
        "/api/v1/integration-accounts/vb2/set-webhook", json={"url": url}, headers=admin
    )
    refused = await resp.json()
    assert refused["result"] == "unreachable"
    assert viber.fake.webhook_check_status == 401
    assert signature_failures(viber.runtime, "viber") == before + 1

    # The account's public host:port replaces the host of the URL registered.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{s.getsockname()[1]}"
    await create_account(account_body(viber.base, id="vb3", name="Public", webhook_host=host))
    viber.fake.token = TOKEN
    resp = await viber.client.post("/api/v1/integration-accounts/vb3/set-webhook", headers=admin)
    result = await resp.json()
    registered = viber.fake.calls("/pa/set_webhook")[-1].json()["url"]
    assert registered == f"https://{host}/webhooks/viber/vb3"
    assert result["result"] == "unreachable"
    assert "error" in result["detail"]
