"""WhatsApp Cloud API through the real app: webhooks shaped and checked with pywa (the payloads
parse with pywa's own update types; signatures pass pywa's validator) enter the same pipeline as
web chat; replies reach a fake Graph API that validates them like the Cloud API, and the bodies
are compared with what pywa itself sends for the same message."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from pywa import WhatsApp
from pywa import types as wa_types
from pywa_async import WhatsApp as AsyncWhatsApp

from channels.accounts import WhatsAppAccount
from channels.errors import RateLimited
from channels.whatsapp import WhatsAppAdapter
from queues import names
from router.models import Message, MessageStatus
from router.runtime import Runtime
from tests.channels.helpers import inbound, last_message, send, signature_failures
from tests.clients import AgentClient
from tests.fakes.meta import FakeGraph, graph_error, signed

APP_SECRET = "wa-app-secret"
VERIFY_TOKEN = "wa-verify-token"
TOKEN = "EAAWA-system-user-token"
PHONE_ID = "106540352242922"
WABA = "102290129340398"
WA_ID = "16505551234"
BSUID = "US.13491208655302741918"
T0 = "1772366400"  # 2026-03-01T12:00:00Z
CONTACT = {"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID, "user_id": BSUID}
# pywa as an independent reader of the payloads these tests send (it makes no calls here).
PYWA = WhatsApp(phone_id=PHONE_ID, token=TOKEN, server=None)

CreateAccount = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Client = TestClient[Any, Any]


@dataclass
class Number:
    fake: FakeGraph
    account: str
    url: str


def account_body(url: str, **extra: Any) -> dict[str, Any]:
    body = {
        "type": "whatsapp",
        "name": f"Acme WhatsApp {uuid.uuid4().hex[:6]}",
        "stream": "whatsapp",
        "api_base_url": url,
        "phone_number_id": PHONE_ID,
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
    }
    return {**body, **extra}


@pytest.fixture
async def number(
    create_account: CreateAccount, start_fake: Callable[[Any], Awaitable[str]]
) -> Number:
    fake = FakeGraph(
        product="whatsapp", app_secret=APP_SECRET, phone_number_id=PHONE_ID, wa_token=TOKEN
    )
    url = await start_fake(fake.app)
    view = await create_account(account_body(url))
    return Number(fake, view["id"], url)


def text(wamid: str, body: str, **extra: Any) -> dict[str, Any]:
    return {"from": WA_ID, "id": wamid, "timestamp": T0, "type": "text", "text": {"body": body},
            **extra}  # fmt: skip


def msg(wamid: str, kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"from": WA_ID, "id": wamid, "timestamp": T0, "type": kind, kind: content, **extra}


def value(
    *messages: dict[str, Any],
    contacts: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    phone_number_id: str = PHONE_ID,
) -> dict[str, Any]:
    val: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if contacts is not None or messages:
        val["contacts"] = contacts if contacts is not None else [CONTACT]
    if messages:
        val["messages"] = list(messages)
    if statuses is not None:
        val["statuses"] = statuses
    return val


def webhook(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    changes = [{"field": field, "value": v} for v in values]
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": changes}]}


def status(wamid: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": state, "timestamp": T0, "recipient_id": WA_ID, **extra}


async def post(
    client: Client, number: Number, payload: Any, *, secret: str = APP_SECRET
) -> ClientResponse:
    raw, headers = signed(payload, secret)
    return await client.post(f"/webhooks/whatsapp/{number.account}", data=raw, headers=headers)


async def open_session(
    client: Client, number: Number, agent: AgentClient, payload: dict[str, Any] | None = None
) -> str:
    mark = len(agent.frames)
    payload = payload or webhook(value(text(f"wamid.open{uuid.uuid4().hex}", "hi")))
    resp = await post(client, number, payload)
    assert resp.status == 200, await resp.text()
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    return str(offer["session_id"])


def outbound_message(text: str) -> Message:
    return Message.model_validate({
        "id": uuid.uuid4().hex, "tenant": "acme", "channel": "whatsapp", "account": "wa1",
        "stream": "whatsapp", "direction": "outbound", "remote_party": {"id": WA_ID},
        "sender": {"kind": "agent", "id": "ann"}, "text": text,
    })  # fmt: skip


# -- handshake and signatures ---------------------------------------------------------------


async def test_handshake_and_signatures(client: Client, number: Number, runtime: Runtime) -> None:
    url = f"/webhooks/whatsapp/{number.account}"
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "987"}
    resp = await client.get(url, params=query)
    assert resp.status == 200
    assert await resp.text() == "987"
    before = signature_failures(runtime, "whatsapp")
    assert (await client.get(url, params={**query, "hub.verify_token": "nope"})).status == 403
    body = webhook(value(text("wamid.forged", "forged")))
    assert (await post(client, number, body, secret="wrong")).status == 401
    raw, headers = signed(body, APP_SECRET)
    assert (
        await client.post(url, data=raw, headers={"Content-Type": "application/json"})
    ).status == 401
    headers["X-Hub-Signature-256"] = "sha1=" + headers["X-Hub-Signature-256"][7:]
    assert (await client.post(url, data=raw, headers=headers)).status == 401
    assert signature_failures(runtime, "whatsapp") == before + 4
    await runtime.broker.join()
    assert await runtime.store.current_session_id("acme", "whatsapp", WA_ID) is None


async def test_malformed_bodies_are_400(client: Client, number: Number, runtime: Runtime) -> None:
    not_json = await post(client, number, b"\xff\xfe")
    assert not_json.status == 400
    assert (await not_json.json())["error"]["message"] == "webhook body is not valid JSON"
    no_entry = await post(client, number, {"object": "whatsapp_business_account"})
    assert no_entry.status == 400
    assert (await no_entry.json())["error"]["message"].startswith("not a WhatsApp webhook: ")
    no_id = webhook(value({"from": WA_ID, "timestamp": T0, "type": "text", "text": {"body": "x"}}))
    assert (await post(client, number, no_id)).status == 400
    bad_value = webhook({})
    bad_value["entry"][0]["changes"][0]["value"] = "not a value object"
    assert (await post(client, number, bad_value)).status == 400
    await runtime.broker.join()
    assert await runtime.store.current_session_id("acme", "whatsapp", WA_ID) is None


# -- inbound --------------------------------------------------------------------------------


async def test_text_message_is_keyed_by_wa_id(
    client: Client, number: Number, agent: AgentClient
) -> None:
    payload = webhook(value(text("wamid.HBgLMTY1", "Does it come in another color?")))
    parsed = wa_types.Message.from_update(PYWA, payload)  # what pywa reads from it
    assert parsed.from_user.wa_id == WA_ID
    assert parsed.from_user.bsuid == BSUID
    assert (await post(client, number, payload)).status == 200
    offer = await agent.expect("offer")
    assert offer["channel"] == "whatsapp"
    assert offer["customer"] == {"id": WA_ID, "name": "Sheena Nelson", "email": None}
    [first] = offer["history"]
    assert first["text"] == "Does it come in another color?"
    assert first["sender"] == {"kind": "customer", "id": WA_ID, "name": "Sheena Nelson"}
    assert first["created_at"].startswith("2026-03-01T12:00:00")


async def test_username_user_is_keyed_by_bsuid_and_answered_by_recipient(
    client: Client, number: Number, agent: AgentClient
) -> None:
    contact = {"profile": {"name": "Zed", "username": "@zed"}, "user_id": BSUID}
    message = {"from_user_id": BSUID, "id": "wamid.bsuid1", "timestamp": T0, "type": "text",
               "text": {"body": "no phone number here"}}  # fmt: skip
    payload = webhook(value(message, contacts=[contact]))
    parsed = wa_types.Message.from_update(PYWA, payload)
    assert parsed.from_user.wa_id is None
    assert parsed.from_user.bsuid == BSUID
    session = await open_session(client, number, agent, payload)
    await agent.reply(session, "hello Zed")
    [call] = await number.fake.wait_for(f"/{PHONE_ID}/messages")
    assert call.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": BSUID,
        "type": "text",
        "text": {"preview_url": False, "body": "hello Zed"},
    }


async def test_batches_duplicates_and_events_that_are_not_messages(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, number, agent, webhook(value(text("wamid.1", "first"))))
    batch = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": WABA, "changes": [
                {"field": "messages", "value": value(text("wamid.2", "second"),
                                                     text("wamid.3", "third"))},
                {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}},
            ]},
            {"id": WABA, "changes": [
                {"field": "messages", "value": value(
                    msg("wamid.r", "reaction", {"message_id": "wamid.2", "emoji": "👍"}),
                    text("wamid.4", "fourth"),
                )},
                # Another number of the same app.
                {"field": "messages",
                 "value": value(text("wamid.x", "elsewhere"), phone_number_id="999")},
            ]},
        ],
    }  # fmt: skip
    assert (await post(client, number, batch)).status == 200
    assert (await post(client, number, webhook(value(text("wamid.2", "second"))))).status == 200
    assert (await post(client, number, {"object": "page", "entry": []})).status == 200
    await post(client, number, webhook(value(text("wamid.5", "last"))))
    await agent.wait(lambda: len(agent.texts(session)) >= 5, "five messages")
    await runtime.broker.join()
    assert agent.texts(session) == ["first", "second", "third", "fourth", "last"]


async def test_media_are_downloaded_through_the_account(
    client: Client, number: Number, agent: AgentClient
) -> None:
    fake = number.fake
    fake.add_media("1001", b"\xff\xd8jpeg-bytes", "image/jpeg")
    fake.add_media("1002", b"mp4-bytes", "video/mp4")
    fake.add_media("1003", b"OggS-voice", "audio/ogg; codecs=opus")
    fake.add_media("1004", b"%PDF-1.7", "application/pdf")
    fake.add_media("1005", b"RIFF-webp", "image/webp")
    payload = webhook(value(
        msg("wamid.img", "image", {"id": "1001", "mime_type": "image/jpeg", "sha256": "a",
                                   "caption": "my receipt"}),
        msg("wamid.vid", "video", {"id": "1002", "mime_type": "video/mp4", "sha256": "b"}),
        msg("wamid.aud", "audio", {"id": "1003", "mime_type": "audio/ogg; codecs=opus",
                                   "sha256": "c", "voice": True}),
        msg("wamid.doc", "document", {"id": "1004", "mime_type": "application/pdf",
                                      "sha256": "d", "filename": "invoice.pdf"}),
        msg("wamid.stk", "sticker", {"id": "1005", "mime_type": "image/webp", "sha256": "e",
                                     "animated": False}),
        msg("wamid.loc", "location", {"latitude": 48.8584, "longitude": 2.2945,
                                      "name": "Eiffel Tower", "address": "Paris"}),
    ))  # fmt: skip
    for one in payload["entry"][0]["changes"][0]["value"]["messages"]:
        assert wa_types.Message.from_update(PYWA, webhook(value(one))).id == one["id"]  # pywa too
    assert (await post(client, number, payload)).status == 200
    offer = await agent.expect("offer")
    await agent.accept(offer)
    session = offer["session_id"]
    await agent.wait(lambda: len(inbound(agent, session)) >= 6, "six messages")
    got = inbound(agent, session)
    assert [m["text"] for m in got] == [
        "my receipt", None, None, None, "[sticker]",
        "Location: 48.8584,2.2945 (Eiffel Tower - Paris)",
    ]  # fmt: skip
    atts = [m["attachments"][0] for m in got]
    assert [(a["content_type"], a["name"]) for a in atts] == [
        ("image/jpeg", None), ("video/mp4", None), ("audio/ogg", None),
        ("application/pdf", "invoice.pdf"), ("image/webp", None), ("text/html", "Eiffel Tower"),
    ]  # fmt: skip
    assert atts[5]["url"] == "https://www.google.com/maps/search/?api=1&query=48.8584,2.2945"
    expected = [b"\xff\xd8jpeg-bytes", b"mp4-bytes", b"OggS-voice", b"%PDF-1.7", b"RIFF-webp"]
    for att, content in zip(atts[:5], expected, strict=True):
        assert att["url"].startswith(f"/media/{number.account}/")
        resp = await client.get(att["url"])
        assert resp.status == 200
        assert await resp.read() == content
        assert resp.content_type == att["content_type"]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    assert len(fake.calls("/v19.0/1001")) == 1
    assert len(fake.calls("/download/1001")) == 1
    forged = atts[0]["url"].split("?")[0] + "?sig=0000"
    assert (await client.get(forged)).status == 403


async def test_button_list_and_template_replies_become_text(
    client: Client, number: Number, agent: AgentClient
) -> None:
    context = {"from": "15550783881", "id": "wamid.ours"}
    button = msg("wamid.b", "interactive",
                 {"type": "button_reply", "button_reply": {"id": "Yes", "title": "Yes"}},
                 context=context)  # fmt: skip
    row = msg("wamid.l", "interactive",
              {"type": "list_reply", "list_reply": {"id": "Blue", "title": "Blue"}},
              context=context)  # fmt: skip
    template = msg("wamid.t", "button", {"text": "Stop promotions", "payload": "STOP"},
                   context=context)  # fmt: skip
    assert wa_types.CallbackButton.from_update(PYWA, webhook(value(button))).title == "Yes"
    assert wa_types.CallbackSelection.from_update(PYWA, webhook(value(row))).title == "Blue"
    assert wa_types.CallbackButton.from_update(PYWA, webhook(value(template))).data == "STOP"
    session = await open_session(client, number, agent, webhook(value(button, row, template)))
    await agent.wait(lambda: len(agent.texts(session)) >= 3, "three messages")
    assert agent.texts(session) == ["Yes", "Blue", "Stop promotions"]


# -- status events --------------------------------------------------------------------------


async def test_statuses_update_the_reply_and_failed_carries_the_title(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, number, agent)
    await agent.reply(session, "on it")
    await last_message(runtime, session, MessageStatus.SENT)
    [answer] = number.fake.sent
    [wamid] = number.fake.answered
    for state in ("sent", "delivered", "read"):
        update = webhook(value(contacts=[CONTACT], statuses=[status(wamid, state)]))
        assert wa_types.MessageStatus.from_update(PYWA, update).id == wamid
        assert (await post(client, number, update)).status == 200
    await last_message(runtime, session, MessageStatus.READ)
    assert answer["text"]["body"] == "on it"

    await agent.reply(session, "one more thing")
    await last_message(runtime, session, MessageStatus.SENT)
    second = number.fake.answered[1]
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {
            "details": "Message failed to send because more than 24 hours have "
            "passed since the customer last replied to this number."
        },
    }
    failed = webhook(value(statuses=[status(second, "failed", errors=[error])]))  # no contacts
    assert (await post(client, number, failed)).status == 200
    message = await last_message(runtime, session, MessageStatus.FAILED)
    assert message.error is not None
    assert message.error.startswith("Re-engagement message: Message failed to send")
    assert message.error.endswith("(code 131047)")


# -- outbound -------------------------------------------------------------------------------


async def pywa_body(number: Number, method: str, **kwargs: Any) -> dict[str, Any]:
    """The body pywa itself sends for the same message (to the same fake)."""
    number.fake.require_proof = False  # pywa sends no appsecret_proof
    try:
        async with httpx.AsyncClient() as http:
            wa = AsyncWhatsApp(phone_id=PHONE_ID, token=TOKEN, server=None, session=http)
            wa.api._session.base_url = f"{number.url}/v19.0"
            await getattr(wa, method)(to=kwargs.pop("to", WA_ID), **kwargs)
    finally:
        number.fake.require_proof = True
    return number.fake.sent.pop()


async def test_reply_goes_out_as_the_cloud_api_expects(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, number, agent)
    await agent.reply(session, "hi")
    [call] = await number.fake.wait_for(f"/{PHONE_ID}/messages")
    assert call.path == f"/v19.0/{PHONE_ID}/messages"
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "access_token" not in call.query
    assert call.query["appsecret_proof"]
    await last_message(runtime, session, MessageStatus.SENT)
    ours = number.fake.sent.pop()
    assert ours == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"preview_url": False, "body": "hi"},
    }
    assert ours == await pywa_body(number, "send_message", text="hi", preview_url=False)


async def test_long_text_is_split_at_4096(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, number, agent)
    text = " ".join(["word"] * 1800)  # 8999 characters
    await send(agent, session, text=text)
    await number.fake.wait_for(f"/{PHONE_ID}/messages", 3)
    chunks = [b["text"]["body"] for b in number.fake.sent]
    assert all(len(c) <= 4096 for c in chunks)
    assert " ".join(chunks) == text
    await last_message(runtime, session, MessageStatus.SENT)


async def test_choices_become_buttons_a_list_or_a_numbered_list(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, number, agent)
    sizes = ["Small", "Medium", "Large", "Extra large"]
    many = [f"Option {i}" for i in range(1, 12)]  # 11 > 10 rows
    await send(agent, session, text="Which colour?", choices=["Red", "Green", "Blue"])
    await send(agent, session, text="Which size?", choices=sizes)
    await send(agent, session, text="So many", choices=many)
    await send(agent, session, choices=["Yes", "No"])  # interactive messages need a body
    await number.fake.wait_for(f"/{PHONE_ID}/messages", 4)
    await runtime.broker.join()
    buttons, listed, numbered, bare = number.fake.sent
    number.fake.sent.clear()
    assert buttons == await pywa_body(
        number, "send_message", text="Which colour?",
        buttons=[wa_types.Button(c, c) for c in ("Red", "Green", "Blue")],
    )  # fmt: skip
    section = wa_types.Section("Options", [wa_types.SectionRow(s, s) for s in sizes])
    assert listed == await pywa_body(
        number, "send_message", text="Which size?",
        buttons=wa_types.SectionList("Choose", [section]),
    )  # fmt: skip
    flat = "So many\n" + "\n".join(f"{i}. Option {i}" for i in range(1, 12))
    assert numbered["text"] == {"preview_url": False, "body": flat}
    assert bare["text"] == {"preview_url": False, "body": "1. Yes\n2. No"}


async def test_attachments_are_sent_as_native_media_by_link(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, number, agent)
    await send(
        agent, session, text="Here you go",
        attachments=[
            {"url": "https://example.com/a.jpg", "content_type": "image/jpeg"},
            {"url": "https://example.com/invoice.pdf", "content_type": "application/pdf",
             "name": "invoice.pdf"},
            {"url": "https://example.com/note.mp3", "content_type": "audio/mpeg"},
        ],
    )  # fmt: skip
    await number.fake.wait_for(f"/{PHONE_ID}/messages", 4)
    await last_message(runtime, session, MessageStatus.SENT)
    text, image, document, audio = number.fake.sent
    number.fake.sent.clear()
    assert text["text"]["body"] == "Here you go"
    assert image == await pywa_body(number, "send_image", image="https://example.com/a.jpg")
    assert document == await pywa_body(
        number, "send_document", document="https://example.com/invoice.pdf",
        filename="invoice.pdf",
    )  # fmt: skip
    assert audio == await pywa_body(number, "send_audio", audio="https://example.com/note.mp3")


async def test_429_is_retried_and_sent_once(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, number, agent)
    number.fake.fail_next(429, retry_after=0)
    await agent.reply(session, "after the flood")
    await number.fake.wait_for(f"/{PHONE_ID}/messages", 2)
    await last_message(runtime, session, MessageStatus.SENT)
    assert [b["text"]["body"] for b in number.fake.sent] == ["after the flood"]


async def test_outage_fails_after_retries_with_the_reason_and_dead_letters(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("router.outbound.backoff", lambda attempt: 0.0)
    session = await open_session(client, number, agent)
    number.fake.fail_next(500, times=5)
    await agent.reply(session, "are you there?")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error == "Something went wrong (code 131000)"
    assert len(number.fake.calls(f"/{PHONE_ID}/messages")) == 5
    part = names.partition_of(f"acme|whatsapp|{WA_ID}", runtime.settings.partitions)
    [dead] = await runtime.broker.dead_letters(names.outbound(part))
    assert "Something went wrong" in str(dead.model_dump())


async def test_bad_token_and_closed_window_fail_at_once(
    client: Client, number: Number, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, number, agent)
    number.fake.fail_next(401)
    await agent.reply(session, "hello?")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error == "Invalid OAuth access token - Cannot parse access token (code 190)"
    number.fake.outside_window.add(WA_ID)
    await agent.reply(session, "still there?")
    await number.fake.wait_for(f"/{PHONE_ID}/messages", 2)
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.text == "still there?"
    assert failed.error is not None
    assert failed.error.startswith("(#131047) Re-engagement message: Message failed to send")
    assert len(number.fake.calls(f"/{PHONE_ID}/messages")) == 2


@pytest.mark.parametrize(("code", "wait"), [(130429, 1.0), (131056, 6.0), (80007, 30.0)])
async def test_rate_limit_codes_are_rate_limits_even_with_http_400(
    number: Number, code: int, wait: float
) -> None:
    account = WhatsAppAccount.model_validate(
        {**account_body(number.url), "id": "wa1", "tenant": "acme"}
    )
    number.fake.fail_next(400, body=graph_error(code, f"(#{code}) Rate limit hit"))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RateLimited) as caught:
            await WhatsAppAdapter(account, session).send(outbound_message("hi"))
    assert str(caught.value) == f"(#{code}) Rate limit hit (code {code})"
    assert caught.value.retry_after == wait


# -- Test Connection / Set Webhook ----------------------------------------------------------


async def test_test_connection_answers_like_graph(
    client: Client, number: Number, admin: dict[str, str], create_account: CreateAccount
) -> None:
    async def check(account_id: str) -> dict[str, Any]:
        resp = await client.post(
            f"/api/v1/integration-accounts/{account_id}/test-connection", headers=admin
        )
        assert resp.status == 200
        result: dict[str, Any] = await resp.json()
        return result

    valid = await check(number.account)
    assert valid == {"result": "valid", "detail": "connected to Acme 15550783881",
                     "account_name": "Acme"}  # fmt: skip
    [call] = number.fake.calls(f"/v19.0/{PHONE_ID}")
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"

    wrong = await create_account(account_body(number.url, access_token="EAAwrong"))
    invalid = await check(wrong["id"])
    assert invalid["result"] == "invalid_credentials"
    assert invalid["detail"] == "Invalid OAuth access token - Cannot parse access token (code 190)"

    unknown = await create_account(account_body(number.url, phone_number_id="555"))
    missing = await check(unknown["id"])
    assert missing["result"] == "invalid_credentials"
    assert "Object with ID '555' does not exist" in missing["detail"]

    number.fake.fail_next(403)
    forbidden = await check(number.account)
    assert forbidden == {"result": "forbidden", "detail": "(#200) Permissions error (code 200)",
                         "account_name": None}  # fmt: skip

    closed = await create_account(account_body("http://127.0.0.1:9"))
    assert (await check(closed["id"]))["result"] == "unreachable"


async def test_set_webhook_overrides_the_callback_and_meta_verifies_it(
    client: Client, number: Number, admin: dict[str, str], create_account: CreateAccount
) -> None:
    url = str(client.make_url(f"/webhooks/whatsapp/{number.account}"))
    resp = await client.post(
        f"/api/v1/integration-accounts/{number.account}/set-webhook",
        json={"url": url},
        headers=admin,
    )
    assert resp.status == 200
    answer = await resp.json()
    assert answer["url"] == url
    assert answer["result"] == "valid"
    assert number.fake.callback == {"url": url, "verify_token": VERIFY_TOKEN}

    # Pointing a number at another account's URL fails Meta's verification.
    other = await create_account(account_body(number.url, verify_token="a-different-token"))
    resp = await client.post(
        f"/api/v1/integration-accounts/{other['id']}/set-webhook",
        json={"url": url},
        headers=admin,
    )
    refused = await resp.json()
    assert refused["result"] == "invalid_credentials"
    assert "Callback verification failed" in refused["detail"]
    assert number.fake.callback["verify_token"] == VERIFY_TOKEN
