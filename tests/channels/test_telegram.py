"""Telegram through the real app: updates built with python-telegram-bot enter the same
pipeline as web chat; replies reach a fake Bot API that validates them like Telegram."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import telegram
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from queues import names
from router.models import MessageStatus
from router.runtime import Runtime
from tests.channels.helpers import last_message, send, signature_failures
from tests.clients import AgentClient
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHAT = 1111111
USER = telegram.User(CHAT, "Test", False, last_name="Customer", username="testuser")
PRIVATE = telegram.Chat(CHAT, "private", first_name="Test", username="testuser")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FOREVER = datetime.fromtimestamp(0, UTC)  # Telegram's until_date 0

CreateAccount = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Client = TestClient[Any, Any]


@dataclass
class Bot:
    fake: FakeTelegram
    account: str
    secret: str
    url: str


def account_body(url: str, **extra: Any) -> dict[str, Any]:
    body = {"type": "telegram", "name": f"Acme bot {uuid.uuid4().hex[:6]}", "stream": "telegram",
            "api_base_url": url, "token": TOKEN, "bot_username": "acme_support_bot"}  # fmt: skip
    return {**body, **extra}


@pytest.fixture
async def bot(
    client: Client,
    admin: dict[str, str],
    create_account: CreateAccount,
    start_fake: Callable[[Any], Awaitable[str]],
) -> Bot:
    """A Telegram account on a fake Bot API, its webhook set through Set Webhook."""
    fake = FakeTelegram(TOKEN)
    url = await start_fake(fake.app)
    view = await create_account(account_body(url))
    resp = await client.post(
        f"/api/v1/integration-accounts/{view['id']}/set-webhook",
        json={"url": f"https://example.test/webhooks/telegram/{view['id']}"},
        headers=admin,
    )
    assert resp.status == 200, await resp.text()
    assert fake.webhook is not None
    return Bot(fake, view["id"], fake.webhook["secret_token"], url)


def message(message_id: int, **content: Any) -> telegram.Message:
    return telegram.Message(message_id, NOW, PRIVATE, from_user=USER, **content)


async def post(
    client: Client, bot: Bot, payload: telegram.Update | str, *, secret: str | None = "",
    content_type: str = "application/json",
) -> ClientResponse:  # fmt: skip
    data = payload.to_json() if isinstance(payload, telegram.Update) else payload
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers[HEADER] = secret or bot.secret
    return await client.post(f"/webhooks/telegram/{bot.account}", data=data, headers=headers)


async def open_session(client: Client, bot: Bot, agent: AgentClient, text: str = "hello") -> str:
    """The customer writes; ann accepts; the session id."""
    mark = len(agent.frames)
    resp = await post(client, bot, telegram.Update(1, message=message(1, text=text)))
    assert resp.status == 200, await resp.text()
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    return str(offer["session_id"])


# -- Set Webhook and Test Connection --------------------------------------------------


async def test_set_webhook_registers_url_secret_and_updates(bot: Bot) -> None:
    assert bot.fake.webhook == {
        "url": f"https://example.test/webhooks/telegram/{bot.account}",
        "secret_token": bot.secret,
        "allowed_updates": ["message", "edited_message", "callback_query", "my_chat_member"],
    }
    assert 20 <= len(bot.secret) <= 256


async def test_set_webhook_reports_telegrams_refusal(
    client: Client, admin: dict[str, str], bot: Bot
) -> None:
    resp = await client.post(
        f"/api/v1/integration-accounts/{bot.account}/set-webhook",
        json={"url": "http://example.test/hook"}, headers=admin,
    )  # fmt: skip
    body = await resp.json()
    assert body["result"] == "forbidden"
    assert "HTTPS URL must be provided" in body["detail"]


async def check(client: Client, admin: dict[str, str], account: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/integration-accounts/{account}/test-connection",
                             headers=admin)  # fmt: skip
    assert resp.status == 200
    result: dict[str, Any] = await resp.json()
    return result


async def test_test_connection_answers_like_telegram(
    client: Client, admin: dict[str, str], bot: Bot, create_account: CreateAccount
) -> None:
    assert await check(client, admin, bot.account) == {
        "result": "valid", "detail": "connected as @acme_support_bot",
        "account_name": "acme_support_bot",
    }  # fmt: skip
    revoked = await create_account(account_body(bot.url, token=TOKEN[:-1] + "X"))
    assert await check(client, admin, revoked["id"]) == {
        "result": "invalid_credentials",
        "detail": "Unauthorized",
        "account_name": None,
    }
    malformed = await create_account(account_body(bot.url, token="not-a-token"))
    result = await check(client, admin, malformed["id"])
    assert (result["result"], result["detail"]) == ("invalid_credentials", "Not Found")
    bot.fake.fail_next(403, body={"ok": False, "error_code": 403, "description": "Forbidden"})
    result = await check(client, admin, bot.account)
    assert (result["result"], result["detail"]) == ("forbidden", "Forbidden")
    closed = await create_account(account_body("http://127.0.0.1:9"))
    result = await check(client, admin, closed["id"])
    assert result["result"] == "unreachable"
    assert TOKEN not in result["detail"]


async def test_fake_accepts_python_telegram_bot_itself(bot: Bot) -> None:
    """The fake is faithful to the real client: PTB's form-encoded calls work against it."""
    async with telegram.Bot(TOKEN, base_url=f"{bot.url}/bot") as ptb:
        sent = await ptb.send_message(CHAT, "from PTB", reply_markup=telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("Yes", callback_data="yes")]]))  # fmt: skip
        assert sent.text == "from PTB"
        with pytest.raises(telegram.error.BadRequest, match=r"(?i)message is too long"):
            await ptb.send_message(CHAT, "x" * 4097)
    with pytest.raises(telegram.error.InvalidToken):
        async with telegram.Bot(TOKEN[:-1] + "X", base_url=f"{bot.url}/bot"):
            pass


# -- inbound --------------------------------------------------------------------------


async def test_text_message_reaches_the_agent(client: Client, bot: Bot, agent: AgentClient) -> None:
    update = telegram.Update(7, message=message(42, text="Hello from Telegram"))
    assert telegram.Update.de_json(update.to_dict(), None) == update  # what Telegram sends
    resp = await post(client, bot, update)
    assert resp.status == 200
    offer = await agent.expect("offer")
    assert offer["channel"] == "telegram"
    assert offer["customer"]["id"] == str(CHAT)
    assert offer["customer"]["name"] == "Test Customer"
    [first] = offer["history"]
    assert first["text"] == "Hello from Telegram"
    assert first["sender"] == {"kind": "customer", "id": str(CHAT), "name": "Test Customer"}
    assert first["created_at"].startswith("2026-03-01T12:00:00")


async def test_bad_missing_or_unset_secret_is_rejected_and_counted(
    client: Client, bot: Bot, runtime: Runtime, create_account: CreateAccount
) -> None:
    update = telegram.Update(8, message=message(43, text="forged"))
    before = signature_failures(runtime, "telegram")
    assert (await post(client, bot, update, secret="wrong-secret")).status == 401
    assert (await post(client, bot, update, secret=None)).status == 401
    # An account whose webhook was never set has no secret: everything is refused.
    unset = await create_account(account_body(bot.url))
    resp = await client.post(f"/webhooks/telegram/{unset['id']}", data=update.to_json(),
                             headers={"Content-Type": "application/json", HEADER: ""})  # fmt: skip
    assert resp.status == 401
    assert signature_failures(runtime, "telegram") == before + 3
    await runtime.broker.join()
    assert await runtime.store.current_session_id("acme", "telegram", str(CHAT)) is None


async def test_malformed_bodies_are_400(client: Client, bot: Bot, runtime: Runtime) -> None:
    assert (await post(client, bot, "{not json")).status == 400
    assert (await post(client, bot, '{"message": {"text": "no update_id"}}')).status == 400
    assert (await post(client, bot, '[{"update_id": 1}]')).status == 400
    good = telegram.Update(9, message=message(44, text="hi")).to_json()
    assert (await post(client, bot, good, content_type="text/plain")).status == 400
    await runtime.broker.join()
    assert await runtime.store.current_session_id("acme", "telegram", str(CHAT)) is None


async def test_unknown_updates_and_bot_messages_are_ignored(
    client: Client, bot: Bot, runtime: Runtime
) -> None:
    poll = '{"update_id": 10, "poll": {"id": "1", "question": "?", "options": []}}'
    assert (await post(client, bot, poll)).status == 200
    bot_user = telegram.User(42, "Other", True, username="other_bot")
    from_bot = telegram.Message(45, NOW, PRIVATE, from_user=bot_user, text="beep")
    assert (await post(client, bot, telegram.Update(11, message=from_bot))).status == 200
    dice = message(46, dice=telegram.Dice(3, "🎲"))
    assert (await post(client, bot, telegram.Update(12, message=dice))).status == 200
    await runtime.broker.join()
    assert await runtime.store.current_session_id("acme", "telegram", str(CHAT)) is None


async def test_duplicate_updates_are_filed_once_and_edits_as_new_messages(
    client: Client, bot: Bot, agent: AgentClient
) -> None:
    session = await open_session(client, bot, agent, "first")
    again = telegram.Update(1, message=message(1, text="first"))
    assert (await post(client, bot, again)).status == 200  # Telegram retried
    await post(client, bot, telegram.Update(2, message=message(2, text="second")))
    edited = telegram.Message(2, NOW, PRIVATE, from_user=USER, text="second, fixed",
                              edit_date=datetime(2026, 3, 1, 12, 1, tzinfo=UTC))  # fmt: skip
    await post(client, bot, telegram.Update(3, edited_message=edited))
    await agent.wait(lambda: len(agent.texts(session)) >= 3, "three messages")
    assert agent.texts(session) == ["first", "second", "[edited] second, fixed"]


async def test_every_media_type_is_normalized_and_downloadable(
    client: Client, bot: Bot, agent: AgentClient
) -> None:
    sizes = tuple(telegram.PhotoSize(f"photo-{w}", f"u{w}", w, w, file_size=w * 10)
                  for w in (90, 320, 1280))  # fmt: skip
    bot.fake.add_file("photo-1280", "photos/file_7.jpg", b"\xff\xd8 jpeg bytes")
    mark = len(agent.frames)
    await post(client, bot, telegram.Update(1, message=message(1, photo=sizes, caption="look")))
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    session = offer["session_id"]
    [photo] = offer["history"][0]["attachments"]
    assert offer["history"][0]["text"] == "look"
    assert photo["content_type"] == "image/jpeg"
    assert photo["size"] == 12800
    resp = await client.get(photo["url"])
    assert resp.status == 200
    assert await resp.read() == b"\xff\xd8 jpeg bytes"
    assert resp.content_type == "image/jpeg"  # the file server says octet-stream
    assert bot.fake.sent("getFile") == [{"file_id": "photo-1280"}]
    tampered = photo["url"].replace("photo-1280", "photo-90")
    assert (await client.get(tampered)).status == 403

    others: list[dict[str, Any]] = [
        {"document": telegram.Document("doc-1", "ud", file_name="invoice.pdf",
                                       mime_type="application/pdf", file_size=2048)},
        {"video": telegram.Video("vid-1", "uv", 640, 480, 12, mime_type="video/mp4")},
        {"audio": telegram.Audio("aud-1", "ua", 30, file_name="song.mp3")},
        {"voice": telegram.Voice("voc-1", "uvo", 4)},
        {"sticker": telegram.Sticker("stk-1", "us", 512, 512, False, False, "regular",
                                     emoji="😀")},
        {"location": telegram.Location(-0.1276, 51.5072)},
        {"contact": telegram.Contact("+447700900123", "Jane", last_name="Doe")},
    ]  # fmt: skip
    for i, content in enumerate(others, start=2):
        await post(client, bot, telegram.Update(i, message=message(i, **content)))
    await agent.wait(lambda: len(agent.texts(session)) >= 8, "all media messages")
    seen = [f["message"] for f in agent.of("message") if f["session_id"] == session]
    kinds = [(m["text"], [(a["content_type"], a["name"]) for a in m["attachments"]]) for m in seen]
    assert kinds == [
        (None, [("application/pdf", "invoice.pdf")]),
        (None, [("video/mp4", None)]),
        (None, [("audio/mpeg", "song.mp3")]),
        (None, [("audio/ogg", None)]),
        ("[sticker] 😀", [("image/webp", None)]),
        ("Location: 51.5072,-0.1276\nhttps://maps.google.com/?q=51.5072,-0.1276", []),
        ("Contact: Jane Doe +447700900123", []),
    ]
    assert all(
        a["url"].startswith(f"/media/{bot.account}/") for m in seen for a in m["attachments"]
    )


async def test_pressed_button_is_filed_as_the_full_choice(
    client: Client, bot: Bot, agent: AgentClient
) -> None:
    session = await open_session(client, bot, agent)
    choice = "Option with a very long label that does not fit into callback data at all ✓"
    await send(agent, session, text="Pick one", choices=["Short", choice])
    await bot.fake.wait_for("/sendMessage")
    [params] = bot.fake.sent()
    button = params["reply_markup"]["inline_keyboard"][1][0]
    assert button["text"] == choice
    assert len(button["callback_data"].encode()) <= 64
    keyboard = telegram.InlineKeyboardMarkup.de_json(params["reply_markup"], None)
    shown = telegram.Message(1000, NOW, PRIVATE, text="Pick one", reply_markup=keyboard)
    query = telegram.CallbackQuery("cbq-1", USER, "inst", message=shown,
                                   data=button["callback_data"])  # fmt: skip
    mark = len(agent.frames)
    assert (await post(client, bot, telegram.Update(5, callback_query=query))).status == 200
    frame = await agent.expect("message", lambda f: f["session_id"] == session, after=mark)
    assert frame["message"]["text"] == choice


async def test_blocking_the_bot_makes_the_contact_unreachable_until_unblocked(
    client: Client, bot: Bot, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, bot, agent)

    def member_update(update_id: int, old: Any, new: Any) -> telegram.Update:
        change = telegram.ChatMemberUpdated(PRIVATE, USER, NOW, old, new)
        return telegram.Update(update_id, my_chat_member=change)

    me = bot.fake.bot
    kicked = member_update(2, telegram.ChatMemberMember(me), telegram.ChatMemberBanned(me, FOREVER))
    assert (await post(client, bot, kicked)).status == 200
    await runtime.broker.join()
    error = await agent.expect_error({"type": "send", "session_id": session, "text": "hello?"})
    assert error["code"] == "unreachable"
    assert "blocked the bot" in error["message"]
    back = member_update(3, telegram.ChatMemberBanned(me, FOREVER), telegram.ChatMemberMember(me))
    assert (await post(client, bot, back)).status == 200
    await runtime.broker.join()
    await agent.reply(session, "welcome back")
    await last_message(runtime, session, MessageStatus.SENT)
    assert bot.fake.sent() == [{"chat_id": CHAT, "text": "welcome back"}]


# -- outbound -------------------------------------------------------------------------


async def test_reply_is_sent_as_telegram_expects_and_marked_sent(
    client: Client, bot: Bot, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, bot, agent)
    await agent.reply(session, "Hi, how can I help?")
    await bot.fake.wait_for("/sendMessage")
    assert bot.fake.sent() == [{"chat_id": CHAT, "text": "Hi, how can I help?"}]
    sent = await last_message(runtime, session, MessageStatus.SENT)
    assert sent.text == "Hi, how can I help?"


async def test_long_text_is_split_at_4096(
    client: Client, bot: Bot, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, bot, agent)
    words = " ".join(f"word{i}" for i in range(1500))  # ~10k characters
    await agent.reply(session, words[:9000])
    await last_message(runtime, session, MessageStatus.SENT)
    texts = [p["text"] for p in bot.fake.sent()]
    assert len(texts) == 3
    assert all(len(t) <= 4096 for t in texts)
    assert " ".join(texts) == words[:9000].strip()


async def test_choices_without_text_and_attachments(
    client: Client, bot: Bot, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, bot, agent)
    await send(agent, session, choices=["Yes", "No"])
    await last_message(runtime, session, MessageStatus.SENT)
    assert bot.fake.sent() == [{
        "chat_id": CHAT, "text": "1. Yes\n2. No",
        "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "Yes"}],
                                             [{"text": "No", "callback_data": "No"}]]},
    }]  # fmt: skip
    docx = "https://cdn.example.test/c.docx"
    await send(agent, session, text="Your documents", attachments=[
        {"url": "https://cdn.example.test/a.png", "content_type": "image/png"},
        {"url": "https://cdn.example.test/b.pdf"},  # the type from the URL
        {"url": docx, "content_type": "application/msword"},  # Telegram cannot fetch it
    ])  # fmt: skip
    await last_message(runtime, session, MessageStatus.SENT)
    assert bot.fake.sent("sendPhoto") == [
        {"chat_id": CHAT, "photo": "https://cdn.example.test/a.png",
         "caption": f"Your documents\n{docx}"}]  # fmt: skip
    assert bot.fake.sent("sendDocument") == [
        {"chat_id": CHAT, "document": "https://cdn.example.test/b.pdf"}]  # fmt: skip


async def test_429_is_retried_after_telegrams_retry_after_and_sent_once(
    client: Client, bot: Bot, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, bot, agent)
    bot.fake.fail_next(429, body=bot.fake.error_body(429, retry_after=0))
    await agent.reply(session, "after the flood")
    await bot.fake.wait_for("/sendMessage", 2)
    await last_message(runtime, session, MessageStatus.SENT)
    assert bot.fake.sent() == [{"chat_id": CHAT, "text": "after the flood"}]


async def test_outage_fails_after_retries_with_telegrams_reason_and_dead_letters(
    client: Client, bot: Bot, agent: AgentClient, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("router.outbound.backoff", lambda attempt: 0.0)
    session = await open_session(client, bot, agent)
    bot.fake.fail_next(500, times=5)
    await agent.reply(session, "are you there?")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error == "Internal Server Error"
    assert len(bot.fake.calls("/sendMessage")) == 5
    queue = names.outbound(names.partition_of(f"acme|telegram|{CHAT}", runtime.settings.partitions))
    await runtime.broker.join()
    [dead] = await runtime.broker.dead_letters(queue)
    assert "Internal Server Error" in (dead.dead_letter_reason or "")


@pytest.mark.parametrize(
    ("status", "reason"),
    [(401, "Unauthorized"), (403, "Forbidden: bot was blocked by the user")],
)
async def test_auth_error_and_blocked_user_fail_at_once(
    client: Client, bot: Bot, agent: AgentClient, runtime: Runtime, status: int, reason: str
) -> None:
    session = await open_session(client, bot, agent)
    if status == 403:
        bot.fake.blocked.add(CHAT)
    else:
        bot.fake.fail_next(401)
    await agent.reply(session, "hello?")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error == reason
    assert len(bot.fake.calls("/sendMessage")) == 1
