"""Facebook Messenger through the real app: Page webhooks signed like Meta (checked with pywa's
validator) enter the same pipeline as web chat; replies reach a fake Graph API that checks the
token, ``appsecret_proof`` and Send API bodies like Meta."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from channels.accounts import FacebookAccount
from channels.errors import RateLimited
from channels.facebook import FacebookAdapter
from queues import names
from router.models import Message, MessageStatus
from router.runtime import Runtime
from tests.channels.helpers import inbound, last_message, send, signature_failures
from tests.clients import AgentClient
from tests.fakes.meta import FakeGraph, graph_error, signed

APP_SECRET = "fb-app-secret"
VERIFY_TOKEN = "verify-me-please"
PAGE = "107000000000001"
PSID = "6000000000000001"
T0 = 1_772_366_400_000  # 2026-03-01T12:00:00Z in milliseconds

CreateAccount = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Client = TestClient[Any, Any]


@dataclass
class Page:
    fake: FakeGraph
    account: str
    url: str


def account_body(url: str, **extra: Any) -> dict[str, Any]:
    body = {
        "type": "facebook",
        "name": f"Acme Page {uuid.uuid4().hex[:6]}",
        "stream": "facebook",
        "api_base_url": url,
        "page_username": "acmesupport",
        "page_id": PAGE,
        "page_access_token": "EAAPAGE-token",
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
    }
    return {**body, **extra}


@pytest.fixture
async def page(create_account: CreateAccount, start_fake: Callable[[Any], Awaitable[str]]) -> Page:
    fake = FakeGraph(product="messenger", app_secret=APP_SECRET, page_id=PAGE)
    url = await start_fake(fake.app)
    view = await create_account(account_body(url))
    return Page(fake, view["id"], url)


def text_event(mid: str, text: str, *, psid: str = PSID, ts: int = T0) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": ts,
        "message": {"mid": mid, "text": text},
    }


def event(kind: str, value: Any, *, psid: str = PSID, ts: int = T0) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts, kind: value}


def attachment_event(mid: str, *attachments: dict[str, Any], **message: Any) -> dict[str, Any]:
    return event("message", {"mid": mid, "attachments": list(attachments), **message})


def webhook(*events: dict[str, Any], page_id: str = PAGE) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [{"id": page_id, "time": T0 + 500, "messaging": list(events)}],
    }


async def post(
    client: Client, page: Page, payload: Any, *, secret: str = APP_SECRET
) -> ClientResponse:
    raw, headers = signed(payload, secret)
    return await client.post(f"/webhooks/facebook/{page.account}", data=raw, headers=headers)


async def open_session(client: Client, page: Page, agent: AgentClient, text: str = "hi") -> str:
    mark = len(agent.frames)
    resp = await post(client, page, webhook(text_event(f"m_open_{uuid.uuid4().hex}", text)))
    assert resp.status == 200, await resp.text()
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    return str(offer["session_id"])


def sends(page: Page) -> list[dict[str, Any]]:
    return [b["message"] for b in page.fake.sent]


# -- handshake and signatures ---------------------------------------------------------------


async def test_handshake_echoes_the_challenge_only_for_the_right_verify_token(
    client: Client, page: Page, runtime: Runtime
) -> None:
    url = f"/webhooks/facebook/{page.account}"
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    resp = await client.get(url, params=query)
    assert resp.status == 200
    assert await resp.text() == "1158201444"
    assert resp.content_type == "text/plain"
    before = signature_failures(runtime, "facebook")
    assert (await client.get(url, params={**query, "hub.verify_token": "wrong"})).status == 403
    assert (await client.get(url, params={**query, "hub.mode": "unsubscribe"})).status == 403
    assert (await client.get(url)).status == 403
    assert signature_failures(runtime, "facebook") == before + 3


async def test_generated_verify_token_is_used_by_the_handshake(
    client: Client, admin: dict[str, str], page: Page, create_account: CreateAccount
) -> None:
    resp = await client.post("/api/v1/integration-accounts/generate-token", headers=admin)
    assert resp.status == 200
    token = (await resp.json())["token"]
    view = await create_account(account_body(page.url, verify_token=token))
    assert view["secrets"] == {"page_access_token": True, "app_secret": True, "verify_token": True}
    assert token not in str(view)
    assert APP_SECRET not in str(view)
    query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"}
    resp = await client.get(f"/webhooks/facebook/{view['id']}", params=query)
    assert resp.status == 200
    assert await resp.text() == "42"


async def test_bad_or_missing_signature_is_401_counted_and_files_nothing(
    client: Client, page: Page, runtime: Runtime
) -> None:
    before = signature_failures(runtime, "facebook")
    body = webhook(text_event("m_forged", "forged"))
    assert (await post(client, page, body, secret="not-the-app-secret")).status == 401
    raw, headers = signed(body, APP_SECRET)
    del headers["X-Hub-Signature-256"]
    url = f"/webhooks/facebook/{page.account}"
    assert (await client.post(url, data=raw, headers=headers)).status == 401
    tampered = raw.replace(b"forged", b"FORGED")
    _, good = signed(body, APP_SECRET)
    assert (await client.post(url, data=tampered, headers=good)).status == 401
    assert signature_failures(runtime, "facebook") == before + 3
    await runtime.broker.join()
    assert await runtime.store.current_session_id("acme", "facebook", PSID) is None


async def test_malformed_bodies_are_400(client: Client, page: Page, runtime: Runtime) -> None:
    not_json = await post(client, page, "{not json")
    assert not_json.status == 400
    assert (await not_json.json())["error"]["message"] == "webhook body is not valid JSON"
    no_entry = await post(client, page, {"object": "page"})
    assert no_entry.status == 400
    assert (await no_entry.json())["error"]["message"].startswith("not a Messenger webhook: ")
    no_page_id = {"object": "page", "entry": [{"messaging": []}]}
    assert (await post(client, page, no_page_id)).status == 400
    no_mid = webhook(event("message", {"text": "no mid"}))
    assert (await post(client, page, no_mid)).status == 400
    await runtime.broker.join()
    assert await runtime.store.current_session_id("acme", "facebook", PSID) is None


# -- inbound --------------------------------------------------------------------------------


async def test_text_message_reaches_the_agent(
    client: Client, page: Page, agent: AgentClient
) -> None:
    resp = await post(client, page, webhook(text_event("m_AbCdEf123", "hello, Zoë")))
    assert resp.status == 200
    offer = await agent.expect("offer")
    assert offer["channel"] == "facebook"
    assert offer["customer"]["id"] == PSID
    [first] = offer["history"]
    assert first["text"] == "hello, Zoë"
    assert first["sender"]["kind"] == "customer"
    assert first["sender"]["id"] == PSID
    assert first["created_at"].startswith("2026-03-01T12:00:00")


async def test_batches_duplicates_echoes_and_unknown_events(
    client: Client, page: Page, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, page, agent, "first")
    batch = {
        "object": "page",
        "entry": [
            {"id": PAGE, "time": T0, "messaging": [text_event("m_2", "second")]},
            {"id": PAGE, "time": T0, "messaging": [
                text_event("m_3", "third"),
                event("message", {"mid": "m_echo", "text": "from the page", "is_echo": True},
                      psid=PAGE),
                event("reaction", {"reaction": "love", "emoji": "❤", "action": "react",
                                   "mid": "m_2"}),
                event("read", {"watermark": T0}),
                event("optin", {"ref": "x"}),
            ]},
            # Another Page subscribed to the same app: not this account's.
            {"id": "999", "time": T0, "messaging": [text_event("m_other", "other page")]},
        ],
    }  # fmt: skip
    assert (await post(client, page, batch)).status == 200
    assert (await post(client, page, webhook(text_event("m_2", "second")))).status == 200
    assert (await post(client, page, {"object": "instagram", "entry": []})).status == 200
    await post(client, page, webhook(text_event("m_4", "last")))
    await agent.wait(lambda: len(agent.texts(session)) >= 4, "four messages")
    await runtime.broker.join()
    assert agent.texts(session) == ["first", "second", "third", "last"]


async def test_every_attachment_type_postbacks_and_quick_replies(
    client: Client, page: Page, agent: AgentClient
) -> None:
    cdn = "https://scontent.xx.fbcdn.net/v/t1.15752-9"
    payload = webhook(
        attachment_event("m_img", {"type": "image", "payload": {"url": f"{cdn}/abc.jpg?x=1"}}),
        attachment_event("m_vid", {"type": "video", "payload": {"url": f"{cdn}/clip.mp4"}}),
        attachment_event("m_aud", {"type": "audio", "payload": {"url": f"{cdn}/audioclip"}}),
        attachment_event("m_file", {"type": "file", "payload": {"url": f"{cdn}/invoice.pdf"}}),
        attachment_event(
            "m_sticker",
            {"type": "image", "payload": {"url": f"{cdn}/like.png", "sticker_id": 369239263222822}},
            sticker_id=369239263222822,
        ),
        attachment_event(
            "m_loc",
            {"type": "location", "title": "Eiffel Tower",
             "payload": {"coordinates": {"lat": 48.8584, "long": 2.2945}}},
        ),
        event("postback", {"title": "Talk to sales", "payload": "SALES", "mid": "m_pb"}),
        event("message", {"mid": "m_qr", "text": "Red", "quick_reply": {"payload": "Red"}}),
    )  # fmt: skip
    assert (await post(client, page, payload)).status == 200
    offer = await agent.expect("offer")
    await agent.accept(offer)
    session = offer["session_id"]
    await agent.wait(lambda: len(inbound(agent, session)) >= 8, "eight messages")
    got = [(m["text"], [(a["url"], a["content_type"], a["name"]) for a in m["attachments"]])
           for m in inbound(agent, session)]  # fmt: skip
    assert got == [
        (None, [(f"{cdn}/abc.jpg?x=1", "image/jpeg", None)]),
        (None, [(f"{cdn}/clip.mp4", "video/mp4", None)]),
        (None, [(f"{cdn}/audioclip", "audio/mpeg", None)]),
        (None, [(f"{cdn}/invoice.pdf", "application/pdf", "invoice.pdf")]),
        ("[sticker]", [(f"{cdn}/like.png", "image/png", None)]),
        ("Location: 48.8584,2.2945",
         [("https://www.google.com/maps/search/?api=1&query=48.8584,2.2945", "text/html",
           "Eiffel Tower")]),
        ("Talk to sales", []),
        ("Red", []),
    ]  # fmt: skip


# -- status events --------------------------------------------------------------------------


async def test_delivery_event_marks_the_reply_delivered_and_read_is_not_mapped(
    client: Client, page: Page, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, page, agent)
    await agent.reply(session, "on it")
    await last_message(runtime, session, MessageStatus.SENT)
    mid = "m_1"  # the message_id the fake returned
    delivery = event("delivery", {"mids": [mid], "watermark": T0 + 1000})
    assert (await post(client, page, webhook(delivery))).status == 200
    await last_message(runtime, session, MessageStatus.DELIVERED)
    # A read event only has a watermark: no message id to map, so nothing changes.
    read = event("read", {"watermark": T0 + 9000})
    assert (await post(client, page, webhook(read))).status == 200
    await runtime.broker.join()
    loaded = await runtime.store.load_session("acme", session)
    assert loaded is not None
    assert loaded.history[-1].status is MessageStatus.DELIVERED


# -- outbound -------------------------------------------------------------------------------


async def test_reply_goes_out_as_the_send_api_expects(
    client: Client, page: Page, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, page, agent)
    await agent.reply(session, "hello, world!")
    [call] = await page.fake.wait_for("/me/messages")
    assert call.json() == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "hello, world!"},
    }
    assert call.headers["Authorization"] == "Bearer EAAPAGE-token"
    assert "access_token" not in call.query  # the token never goes in the URL
    assert call.query["appsecret_proof"]  # checked by the fake
    assert call.path == "/v19.0/me/messages"
    sent = await last_message(runtime, session, MessageStatus.SENT)
    assert sent.text == "hello, world!"


async def test_long_text_is_split_at_2000(
    client: Client, page: Page, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, page, agent)
    text = " ".join(["word"] * 900)  # 4499 characters
    await agent.reply(session, text)
    await page.fake.wait_for("/me/messages", 3)
    chunks = [m["text"] for m in sends(page)]
    assert all(len(c) <= 2000 for c in chunks)
    assert " ".join(chunks) == text
    await last_message(runtime, session, MessageStatus.SENT)
    # Every part's id maps back to the message.
    await post(client, page, webhook(event("delivery", {"mids": ["m_3"]})))
    await last_message(runtime, session, MessageStatus.DELIVERED)


async def test_choices_become_quick_replies_or_a_numbered_list(
    client: Client, page: Page, agent: AgentClient
) -> None:
    session = await open_session(client, page, agent)
    await send(agent, session, text="Which colour?", choices=["Red", "Green"])
    long_title = "A very long option title"  # 24 > 20 characters
    await send(agent, session, text="Pick one", choices=["Short", long_title])
    many = [f"Option {i}" for i in range(1, 15)]  # 14 > 13 quick replies
    await send(agent, session, text="So many", choices=many)
    await send(agent, session, choices=["Yes", "No"])  # quick replies need text
    await page.fake.wait_for("/me/messages", 4)
    assert sends(page) == [
        {
            "text": "Which colour?",
            "quick_replies": [
                {"content_type": "text", "title": "Red", "payload": "Red"},
                {"content_type": "text", "title": "Green", "payload": "Green"},
            ],
        },
        {"text": f"Pick one\n1. Short\n2. {long_title}"},
        {"text": "So many\n" + "\n".join(f"{i}. Option {i}" for i in range(1, 15))},
        {"text": "1. Yes\n2. No"},
    ]


async def test_attachments_are_sent_by_url_with_quick_replies_last(
    client: Client, page: Page, agent: AgentClient
) -> None:
    session = await open_session(client, page, agent)
    await send(
        agent, session, text="Here you go", choices=["Thanks"],
        attachments=[
            {"url": "https://example.com/a.jpg", "content_type": "image/jpeg"},
            {"url": "https://example.com/invoice.pdf", "content_type": "application/pdf",
             "name": "invoice.pdf"},
        ],
    )  # fmt: skip
    await page.fake.wait_for("/me/messages", 3)
    qr = [{"content_type": "text", "title": "Thanks", "payload": "Thanks"}]
    assert sends(page) == [
        {"text": "Here you go"},
        {"attachment": {"type": "image",
                        "payload": {"url": "https://example.com/a.jpg", "is_reusable": True}}},
        {"attachment": {"type": "file",
                        "payload": {"url": "https://example.com/invoice.pdf", "is_reusable": True}},
         "quick_replies": qr},
    ]  # fmt: skip


async def test_429_is_retried_and_sent_once(
    client: Client, page: Page, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, page, agent)
    page.fake.fail_next(429, retry_after=0)
    await agent.reply(session, "after the flood")
    await page.fake.wait_for("/me/messages", 2)
    await last_message(runtime, session, MessageStatus.SENT)
    assert sends(page) == [{"text": "after the flood"}]


async def test_outage_fails_after_retries_with_graphs_reason_and_dead_letters(
    client: Client, page: Page, agent: AgentClient, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("router.outbound.backoff", lambda attempt: 0.0)
    session = await open_session(client, page, agent)
    page.fake.fail_next(500, times=5)
    await agent.reply(session, "are you there?")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error is not None
    assert "An unexpected error has occurred" in failed.error
    assert len(page.fake.calls("/me/messages")) == 5
    queue = names.outbound(names.partition_of(f"acme|facebook|{PSID}", runtime.settings.partitions))
    [dead] = await runtime.broker.dead_letters(queue)
    assert "An unexpected error has occurred" in str(dead.model_dump())


async def test_bad_token_fails_at_once(
    client: Client, page: Page, agent: AgentClient, runtime: Runtime, admin: dict[str, str]
) -> None:
    session = await open_session(client, page, agent)
    resp = await client.patch(
        f"/api/v1/integration-accounts/{page.account}",
        json={"page_access_token": "EAAexpired"},
        headers=admin,
    )
    assert resp.status == 200
    await agent.reply(session, "hello?")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error == "Invalid OAuth access token - Cannot parse access token (code 190)"
    assert len(page.fake.calls("/me/messages")) == 1


async def test_outside_the_24h_window_fails_permanently_with_metas_words(
    client: Client, page: Page, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, page, agent)
    page.fake.outside_window.add(PSID)
    await agent.reply(session, "sorry for the wait")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error is not None
    assert "outside of allowed window" in failed.error
    assert "subcode 2018278" in failed.error
    assert len(page.fake.calls("/me/messages")) == 1


@pytest.mark.parametrize("code", [4, 17, 32, 613])
async def test_graph_rate_limit_codes_are_rate_limits_even_with_http_400(
    page: Page, code: int
) -> None:
    account = FacebookAccount.model_validate(
        {**account_body(page.url), "id": "fb1", "tenant": "acme"}
    )
    page.fake.fail_next(400, body=graph_error(code, f"(#{code}) Rate limited"))
    async with aiohttp.ClientSession() as session:
        adapter = FacebookAdapter(account, session)
        message = Message.model_validate({
            "id": "x", "tenant": "acme", "channel": "facebook", "account": "fb1",
            "stream": "facebook", "direction": "outbound", "remote_party": {"id": PSID},
            "sender": {"kind": "agent", "id": "ann"}, "text": "hi",
        })  # fmt: skip
        with pytest.raises(RateLimited) as caught:
            await adapter.send(message)
    assert f"(#{code}) Rate limited (code {code})" in str(caught.value)
    assert caught.value.retry_after > 0


# -- Test Connection / Set Webhook ----------------------------------------------------------


async def test_test_connection_answers_like_graph(
    client: Client, page: Page, admin: dict[str, str], create_account: CreateAccount
) -> None:
    async def check(account_id: str) -> dict[str, Any]:
        resp = await client.post(
            f"/api/v1/integration-accounts/{account_id}/test-connection", headers=admin
        )
        assert resp.status == 200
        result: dict[str, Any] = await resp.json()
        return result

    valid = await check(page.account)
    assert valid["result"] == "valid"
    assert valid["account_name"] == "Acme Support"
    [call] = page.fake.calls("/v19.0/me")
    assert call.query["fields"] == "id,name"

    wrong = await create_account(account_body(page.url, page_access_token="EAAwrong"))
    invalid = await check(wrong["id"])
    assert invalid["result"] == "invalid_credentials"
    assert invalid["detail"] == "Invalid OAuth access token - Cannot parse access token (code 190)"

    bad_secret = await create_account(account_body(page.url, app_secret="wrong-secret"))
    proof = await check(bad_secret["id"])
    assert proof["result"] == "invalid_credentials"
    assert "Invalid appsecret_proof" in proof["detail"]

    other_page = await create_account(account_body(page.url, page_id="108000000000002"))
    mismatch = await check(other_page["id"])
    assert mismatch["result"] == "invalid_credentials"
    assert "not to Page 108000000000002" in mismatch["detail"]

    page.fake.fail_next(403)
    forbidden = await check(page.account)
    assert forbidden["result"] == "forbidden"
    assert forbidden["detail"] == "(#200) Permissions error (code 200)"

    closed = await create_account(account_body("http://127.0.0.1:9"))
    unreachable = await check(closed["id"])
    assert unreachable["result"] == "unreachable"


async def test_set_webhook_is_not_offered_for_messenger(
    client: Client, page: Page, admin: dict[str, str]
) -> None:
    resp = await client.post(
        f"/api/v1/integration-accounts/{page.account}/set-webhook",
        json={"url": f"https://example.test/webhooks/facebook/{page.account}"},
        headers=admin,
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "unsupported"
