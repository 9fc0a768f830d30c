"""LINE end to end: webhooks built with line-bot-sdk's models and signed like LINE (checked
against the SDK's own ``WebhookParser``), through the real app to the agent; replies through
the outbound worker to a fake LINE Platform that validates them with the SDK's request models.
"""

from __future__ import annotations

import itertools
import json
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import PushMessageRequest, ReplyMessageRequest
from linebot.v3.webhooks import (
    AudioMessageContent,
    CallbackRequest,
    ContentProvider,
    DeliveryContext,
    Event,
    EventMode,
    FileMessageContent,
    FollowDetail,
    FollowEvent,
    ImageMessageContent,
    JoinEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackContent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
    VideoMessageContent,
)
from redis.exceptions import RedisError

import router.outbound
from channels import line as line_channel
from queues import names
from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.models import Message, Sender, SenderKind
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.channels.conftest import channels_config
from tests.channels.helpers import signature_failures
from tests.clients import AgentClient, eventually
from tests.fakes.line import AUTH_FAILED, FakeLine, sign

TOKEN = "line-channel-access-token"
SECRET = "line-channel-secret"
USER = "U4af4980629" + "0" * 22
BOT = "U" + "b0" * 16
_ids = itertools.count(468789577898262530)


def _common(user: str = USER, *, redelivery: bool = False) -> dict[str, Any]:
    return {
        "source": UserSource(type="user", user_id=user),
        "timestamp": 1692251666727,
        "mode": EventMode.ACTIVE,
        "webhook_event_id": uuid.uuid4().hex.upper()[:26],
        "delivery_context": DeliveryContext(is_redelivery=redelivery),
    }


def text_event(
    text: str, *, reply_token: str | None = None, msg_id: str | None = None, user: str = USER
) -> MessageEvent:
    content = TextMessageContent(
        type="text", id=msg_id or str(next(_ids)), text=text, quote_token="q" + uuid.uuid4().hex
    )
    return MessageEvent(type="message", reply_token=reply_token, message=content, **_common(user))


def message_event(content: Any) -> MessageEvent:
    return MessageEvent(type="message", reply_token=None, message=content, **_common())


def payload(*events: Event) -> str:
    return str(CallbackRequest(destination=BOT, events=list(events)).to_json())


@dataclass
class Line:
    client: TestClient[Any, Any]
    runtime: Runtime
    fake: FakeLine
    base: str
    account: str = "line1"

    async def post(
        self, body: str | bytes, *, signature: str | None = None, secret: str = SECRET
    ) -> int:
        raw = body.encode() if isinstance(body, str) else body
        headers = {"Content-Type": "application/json; charset=utf-8"}
        sig = sign(secret, raw) if signature is None else signature
        if sig:
            headers["X-Line-Signature"] = sig
        resp = await self.client.post(f"/webhooks/line/{self.account}", data=raw, headers=headers)
        return resp.status

    async def session(self, agent: AgentClient, text: str = "Hello", *, token: bool = True) -> str:
        """A customer writes (with a fresh reply token); ann accepts. The session id."""
        reply_token = self.fake.issue_reply_token() if token else None
        assert await self.post(payload(text_event(text, reply_token=reply_token))) == 200
        offer = await agent.expect("offer", lambda f: f["history"][0]["text"] == text)
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

    def dead_letters_queue(self) -> str:
        key = f"acme|line|{USER}"
        return names.outbound(names.partition_of(key, self.runtime.settings.partitions))


@pytest.fixture
async def line(
    client: TestClient[Any, Any],
    runtime: Runtime,
    create_account: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    start_fake: Callable[[web.Application], Awaitable[str]],
) -> Line:
    fake = FakeLine(TOKEN, SECRET, allow_http_webhooks=True)
    base = await start_fake(fake.app)
    await create_account(account_body(base))
    return Line(client, runtime, fake, base)


def account_body(base: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "line1",
        "type": "line",
        "name": "Acme LINE",
        "stream": "line",
        "api_base_url": base,
        "data_api_base_url": base,
        "channel_access_token": TOKEN,
        "channel_secret": SECRET,
        **extra,
    }


# -- inbound ------------------------------------------------------------------------------


async def test_text_reaches_agent_and_reply_uses_the_reply_token_once(
    line: Line, agent: AgentClient
) -> None:
    token = line.fake.issue_reply_token()
    body = payload(text_event("Where is my order?", reply_token=token))
    # The official SDK accepts our signature and the full event.
    events = WebhookParser(SECRET).parse(body, sign(SECRET, body))
    assert events[0].message.text == "Where is my order?"
    assert await line.post(body) == 200
    offer = await agent.expect("offer")
    assert offer["channel"] == "line"
    assert offer["customer"]["id"] == USER
    assert [m["text"] for m in offer["history"]] == ["Where is my order?"]
    assert offer["history"][0]["created_at"].startswith("2023-08-17T05:54:26.727")
    await agent.accept(offer)
    sid = offer["session_id"]

    await agent.reply(sid, "Let me check.")
    (reply,) = await line.fake.wait_for("/v2/bot/message/reply")
    ReplyMessageRequest.from_json(reply.body.decode())
    assert reply.json() == {
        "replyToken": token,
        "messages": [{"type": "text", "text": "Let me check."}],
    }
    assert reply.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-Line-Retry-Key" not in reply.headers
    await line.wait_status(sid, "sent")

    # The token is single use: the next reply is pushed, with a retry key.
    await agent.reply(sid, "It ships today.")
    (push,) = await line.fake.wait_for("/v2/bot/message/push")
    PushMessageRequest.from_json(push.body.decode())
    assert push.json() == {"to": USER, "messages": [{"type": "text", "text": "It ships today."}]}
    uuid.UUID(push.headers["X-Line-Retry-Key"])
    await line.wait_status(sid, "sent")
    assert [d[0] for d in line.fake.delivered] == ["reply", "push"]


async def test_expired_or_old_reply_token_falls_back_to_push(
    line: Line, agent: AgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await line.session(agent, "Hi")
    line.fake.expire(next(iter(line.fake.reply_tokens)))
    await agent.reply(sid, "Hello!")
    (push,) = await line.fake.wait_for("/v2/bot/message/push")
    assert line.fake.calls("/reply")  # tried, got 400 Invalid reply token
    assert push.json()["messages"] == [{"type": "text", "text": "Hello!"}]
    await line.wait_status(sid, "sent")

    # A token older than the TTL is not even tried.
    monkeypatch.setattr(line_channel, "REPLY_TOKEN_TTL", 0.0)
    fresh = line.fake.issue_reply_token()
    assert await line.post(payload(text_event("Again", reply_token=fresh))) == 200
    await agent.expect("message", lambda f: f["message"]["text"] == "Again")
    await agent.reply(sid, "Still here.")
    await line.fake.wait_for("/v2/bot/message/push", 2)
    assert len(line.fake.calls("/reply")) == 1


async def test_the_reply_token_serves_whichever_process_sends_the_answer(
    line: Line,
    agent: AgentClient,
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
) -> None:
    """The webhook reaches one process; the answer leaves through another one on the same
    store (its own broker, adapters and outbound worker) and still uses the token, once."""
    sid = await line.session(agent, "Hi")
    (token,) = line.fake.reply_tokens
    store = line.runtime.store.client
    assert isinstance(store, MemoryRedis)
    other_app = create_app(
        Settings(tick_seconds=0.02, partitions=2), Config.parse(channels_config()),
        store=RedisStore(MemoryRedis(keyspace=store.keyspace)), broker=InMemoryBroker(),
    )  # fmt: skip
    other: Runtime = (await aiohttp_client(other_app)).app[RUNTIME]
    bot = Sender(kind=SenderKind.SYSTEM, name="Acme")
    await other.conversations.send("acme", sid, sender=bot, text="From the other process")
    (reply,) = await line.fake.wait_for("/v2/bot/message/reply")
    assert reply.json() == {
        "replyToken": token,
        "messages": [{"type": "text", "text": "From the other process"}],
    }
    await line.wait_status(sid, "sent")
    # Taken from the store: this process has no token left for the chat either.
    await agent.reply(sid, "And from this one")
    (push,) = await line.fake.wait_for("/v2/bot/message/push")
    assert push.json()["messages"] == [{"type": "text", "text": "And from this one"}]


async def test_a_redelivered_event_or_a_store_failure_keeps_no_token(
    line: Line, agent: AgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redelivery's token may be used up already; a token the store cannot keep is lost
    but the message is not: both answers are pushed."""
    sid = await line.session(agent, "Hi", token=False)
    stale = line.fake.issue_reply_token()
    again = MessageEvent(
        type="message", reply_token=stale, message=TextMessageContent(
            type="text", id=str(next(_ids)), quote_token="q", text="Again"
        ), **_common(redelivery=True),
    )  # fmt: skip
    assert await line.post(payload(again)) == 200
    await agent.expect("message", lambda f: f["message"]["text"] == "Again")

    async def unreachable(*args: Any) -> bool:
        raise RedisError("store down")

    monkeypatch.setattr(line.runtime.store.deliveries, "keep_reply_token", unreachable)
    fresh = line.fake.issue_reply_token()
    assert await line.post(payload(text_event("Hello?", reply_token=fresh))) == 200
    await agent.expect("message", lambda f: f["message"]["text"] == "Hello?")
    await agent.reply(sid, "Pushed")
    (push,) = await line.fake.wait_for("/v2/bot/message/push")
    assert push.json()["messages"] == [{"type": "text", "text": "Pushed"}]
    assert line.fake.calls("/reply") == []


async def test_bad_or_missing_signature_is_refused_and_counted(
    line: Line, agent: AgentClient
) -> None:
    before = signature_failures(line.runtime, "line")
    body = payload(text_event("forged"))
    with pytest.raises(InvalidSignatureError):
        WebhookParser(SECRET).parse(body, sign("wrong-secret", body))
    assert await line.post(body, secret="wrong-secret") == 401
    assert await line.post(body, signature="") == 401
    assert await line.post(body, signature=sign(SECRET, body + " ")) == 401
    assert signature_failures(line.runtime, "line") == before + 3
    # Nothing was filed: the first conversation holds only the genuine message.
    assert await line.post(payload(text_event("genuine"))) == 200
    offer = await agent.expect("offer")
    assert [m["text"] for m in offer["history"]] == ["genuine"]


async def test_console_verify_and_malformed_bodies(line: Line) -> None:
    assert await line.post('{"destination":"' + BOT + '","events":[]}') == 200
    assert await line.post("{not json") == 400
    assert await line.post('{"events": "nope"}') == 400
    broken = '{"events":[{"type":"message","timestamp":1,"mode":"active"}]}'
    assert await line.post(broken) == 400


async def test_batches_duplicates_unknown_events_and_standby(
    line: Line, agent: AgentClient
) -> None:
    first = text_event("one", msg_id="1001")
    join = JoinEvent(type="join", reply_token="r", **_common())
    standby = text_event("standby", msg_id="1003").to_dict()
    standby["mode"] = "standby"
    body = payload(first, join, text_event("two", msg_id="1002"))
    assert await line.post(body) == 200
    offer = await agent.expect("offer")
    await agent.accept(offer)
    sid = offer["session_id"]
    # LINE redelivers (same message ids): filed once. Unknown types and standby: ignored.
    assert await line.post(body) == 200
    redelivered = text_event("one", msg_id="1001").to_dict()
    redelivered["deliveryContext"] = {"isRedelivery": True}
    unknown = {"type": "brandNewEvent", "timestamp": 1}
    raw = json.dumps({"destination": BOT, "events": [redelivered, standby, unknown]})
    assert await line.post(raw) == 200
    assert await line.post(payload(text_event("three", msg_id="1004"))) == 200
    await agent.wait(lambda: agent.texts(sid) == ["one", "two", "three"], "three texts")
    await line.settle()
    assert agent.texts(sid) == ["one", "two", "three"]


async def test_every_message_type_is_normalized(line: Line, agent: AgentClient) -> None:
    line.fake.content["2001"] = (b"\xff\xd8\xff\xe0jpeg-bytes\x00\x01", "image/jpeg")
    line.fake.content["2005"] = (b"%PDF-1.7 binary \xc3\x28", "application/pdf")
    events: list[Event] = [
        message_event(
            ImageMessageContent(
                type="image",
                id="2001",
                quote_token="q1",
                content_provider=ContentProvider(type="line"),
            )
        ),
        message_event(
            VideoMessageContent(
                type="video",
                id="2002",
                quote_token="q2",
                duration=1000,
                content_provider=ContentProvider(
                    type="external",
                    original_content_url="https://cdn.example.com/v.mp4",
                    preview_image_url="https://cdn.example.com/v.jpg",
                ),
            )
        ),
        message_event(
            AudioMessageContent(
                type="audio",
                id="2003",
                duration=5000,
                content_provider=ContentProvider(type="line"),
            )
        ),
        message_event(
            LocationMessageContent(
                type="location",
                id="2004",
                title="Tokyo Tower",
                address="4-2-8 Shibakoen",
                latitude=35.6586,
                longitude=139.7454,
            )
        ),
        message_event(
            FileMessageContent(type="file", id="2005", file_name="invoice.pdf", file_size=2048)
        ),
        message_event(
            StickerMessageContent(
                type="sticker",
                id="2006",
                package_id="446",
                sticker_id="1988",
                sticker_resource_type="STATIC",
                quote_token="q6",
            )
        ),
        PostbackEvent(
            type="postback",
            reply_token="rt",
            postback=PostbackContent(data="plan=gold"),
            **_common(),
        ),
    ]
    body = payload(*events)
    assert len(WebhookParser(SECRET).parse(body, sign(SECRET, body))) == 7
    assert await line.post(body) == 200
    offer = await agent.expect("offer")
    await agent.accept(offer)
    sid = offer["session_id"]

    async def filed() -> bool:
        session = await line.runtime.store.load_session("acme", sid)
        return session is not None and len(session.history) == 7

    await eventually(filed, "all seven filed")
    session = await line.runtime.store.load_session("acme", sid)
    assert session is not None
    image, video, audio, location, file, sticker, postback = session.history
    assert image.attachments[0].content_type == "image/jpeg"
    media = await line.client.get(image.attachments[0].url)  # signed Switchboard link
    assert media.status == 200
    assert await media.read() == b"\xff\xd8\xff\xe0jpeg-bytes\x00\x01"
    assert media.content_type == "image/jpeg"
    (fetch,) = line.fake.calls("/v2/bot/message/2001/content")
    assert fetch.headers["Authorization"] == f"Bearer {TOKEN}"
    assert video.attachments[0].url == "https://cdn.example.com/v.mp4"
    assert video.attachments[0].content_type == "video/mp4"
    assert audio.attachments[0].content_type == "audio/x-m4a"
    assert location.text == "Location: 35.6586,139.7454 (Tokyo Tower, 4-2-8 Shibakoen)"
    assert location.attachments[0].url == "https://maps.google.com/?q=35.6586,139.7454"
    assert (file.attachments[0].name, file.attachments[0].size) == ("invoice.pdf", 2048)
    assert file.attachments[0].content_type == "application/pdf"
    pdf = await line.client.get(file.attachments[0].url)
    assert await pdf.read() == b"%PDF-1.7 binary \xc3\x28"
    assert sticker.text == "[sticker]"
    assert postback.text == "plan=gold"


async def test_unfollow_makes_the_contact_unreachable_until_follow(
    line: Line, agent: AgentClient
) -> None:
    sid = await line.session(agent, "Bye", token=False)
    unfollow = UnfollowEvent(type="unfollow", **_common())
    assert await line.post(payload(unfollow)) == 200
    error = await agent.expect_error({"type": "send", "session_id": sid, "text": "Hello?"})
    assert error["code"] == "unreachable"
    assert "unfollowed" in error["message"]
    await line.settle()
    assert line.fake.requests == []

    token = line.fake.issue_reply_token()
    follow = FollowEvent(
        type="follow", reply_token=token, follow=FollowDetail(is_unblocked=True), **_common()
    )
    assert await line.post(payload(follow)) == 200
    await agent.reply(sid, "Welcome back")
    (reply,) = await line.fake.wait_for("/v2/bot/message/reply")
    assert reply.json()["replyToken"] == token


# -- outbound -----------------------------------------------------------------------------


async def test_long_text_images_and_quick_replies(line: Line, agent: AgentClient) -> None:
    sid = await line.session(agent, "Options?")
    long_text = "word " * 1000 + "😀" * 4000  # 9000 chars, 13000 UTF-16 code units
    images = [
        {"url": f"https://cdn.example.com/{i}.png", "content_type": "image/png"} for i in range(4)
    ]
    other = {"url": "https://cdn.example.com/manual.pdf", "content_type": "application/pdf"}
    await agent.send(
        {
            "type": "send",
            "session_id": sid,
            "text": long_text,
            "attachments": [*images, other],
            "choices": ["Yes", "No"],
        }
    )
    (reply,) = await line.fake.wait_for("/v2/bot/message/reply")
    (push,) = await line.fake.wait_for("/v2/bot/message/push")
    objects = reply.json()["messages"] + push.json()["messages"]
    assert len(reply.json()["messages"]) == 5
    texts = [m["text"] for m in objects if m["type"] == "text"]
    assert len(texts) == 3
    assert all(len(t.encode("utf-16-le")) // 2 <= 5000 for t in texts)
    assert texts[-1].endswith("https://cdn.example.com/manual.pdf")  # not native: a link
    assert [m["originalContentUrl"] for m in objects if m["type"] == "image"] == [
        i["url"] for i in images
    ]
    assert objects[-1]["quickReply"] == {
        "items": [
            {"type": "action", "action": {"type": "message", "label": c, "text": c}}
            for c in ("Yes", "No")
        ]
    }
    sent = await line.wait_status(sid, "sent")
    assert sent.status == "sent"

    many = [f"Option {i}" for i in range(14)]  # more than 13: numbered text
    await agent.send({"type": "send", "session_id": sid, "text": "Pick", "choices": many})
    (_, second) = await line.fake.wait_for("/v2/bot/message/push", 2)
    (message,) = second.json()["messages"]
    assert "quickReply" not in message
    assert message["text"].startswith("Pick\n1. Option 0\n2. Option 1")


async def test_rate_limit_then_delivered_once(line: Line, agent: AgentClient) -> None:
    sid = await line.session(agent, "Hi", token=False)
    line.fake.fail_next(429, retry_after=0)
    await agent.reply(sid, "Thanks for waiting")
    await line.fake.wait_for("/v2/bot/message/push", 2)
    await line.wait_status(sid, "sent")
    assert [d[2] for d in line.fake.delivered] == [[{"type": "text", "text": "Thanks for waiting"}]]
    keys = {r.headers["X-Line-Retry-Key"] for r in line.fake.calls("/push")}
    assert len(keys) == 1  # the retry is the same request


async def test_lost_response_is_retried_idempotently(
    line: Line, agent: AgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router.outbound, "backoff", lambda attempt: 0.0)
    sid = await line.session(agent, "Hi", token=False)
    line.fake.lose_next_response()
    await agent.reply(sid, "Only once")
    (first, retry) = await line.fake.wait_for("/v2/bot/message/push", 2)
    assert first.headers["X-Line-Retry-Key"] == retry.headers["X-Line-Retry-Key"]
    await line.wait_status(sid, "sent")
    assert len(line.fake.delivered) == 1  # LINE answered 409: already accepted


async def test_server_errors_exhaust_retries_then_dead_letter(
    line: Line, agent: AgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router.outbound, "backoff", lambda attempt: 0.0)
    sid = await line.session(agent, "Hi", token=False)
    line.fake.fail_next(500, times=5)
    await agent.reply(sid, "Are you there?")
    failed = await line.wait_status(sid, "failed")
    assert failed.error is not None
    assert "An unexpected error occurred on the LINE Platform" in failed.error
    assert len(line.fake.calls("/push")) == 5
    await line.settle()
    dead = await line.runtime.broker.dead_letters(line.dead_letters_queue())
    assert len(dead) == 1


async def test_unauthorized_fails_at_once(line: Line, agent: AgentClient) -> None:
    sid = await line.session(agent, "Hi", token=False)
    line.fake.token = "rotated"
    await agent.reply(sid, "Hello")
    failed = await line.wait_status(sid, "failed")
    assert failed.error == AUTH_FAILED
    assert len(line.fake.calls("/push")) == 1
    await line.settle()
    assert len(await line.runtime.broker.dead_letters(line.dead_letters_queue())) == 1


# -- account ------------------------------------------------------------------------------


async def test_connection_results(
    line: Line, admin: dict[str, str], create_account: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    async def check(account: str) -> dict[str, Any]:
        resp = await line.client.post(
            f"/api/v1/integration-accounts/{account}/test-connection", headers=admin
        )
        assert resp.status == 200
        return dict(await resp.json())

    valid = await check("line1")
    assert valid["result"] == "valid"
    assert valid["account_name"] == "Acme Support"
    assert "Acme Support" in valid["detail"]
    assert line.fake.calls("/v2/bot/info")[0].headers["Authorization"] == f"Bearer {TOKEN}"

    line.fake.fail_next(403)
    forbidden = await check("line1")
    assert forbidden == {
        "result": "forbidden",
        "account_name": None,
        "detail": "Access to this API is not available for your account",
    }

    await create_account(
        account_body(line.base, id="line2", name="Old token", channel_access_token="stale")
    )
    invalid = await check("line2")
    assert (invalid["result"], invalid["detail"]) == ("invalid_credentials", AUTH_FAILED)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    await create_account(account_body(closed, id="line3", name="Nowhere"))
    down = await check("line3")
    assert down["result"] == "unreachable"
    assert "unreachable" in down["detail"]


async def test_set_webhook_registers_and_verifies_the_endpoint(
    line: Line, admin: dict[str, str]
) -> None:
    url = str(line.client.make_url("/webhooks/line/line1"))
    resp = await line.client.post(
        "/api/v1/integration-accounts/line1/set-webhook", json={"url": url}, headers=admin
    )
    assert resp.status == 200
    result = await resp.json()
    assert result["result"] == "valid", result
    (put,) = line.fake.calls("/v2/bot/channel/webhook/endpoint")
    assert put.method == "PUT"
    assert put.json() == {"endpoint": url}
    assert line.fake.webhook_test_status == 200  # LINE's signed "events": [] got 200

    line.fake.allow_http_webhooks = False
    resp = await line.client.post(
        "/api/v1/integration-accounts/line1/set-webhook",
        json={"url": "http://insecure.example.test/hook"},
        headers=admin,
    )
    refused = await resp.json()
    assert refused["result"] != "valid"
    assert "Invalid webhook endpoint URL" in refused["detail"]
