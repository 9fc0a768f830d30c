"""Lex and Watson engines against fakes that verify signatures, tokens and bodies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bots.accounts import BOT_ACCOUNT, LexAccount, WatsonAccount
from bots.base import BotTurn
from bots.errors import BotAuthError, BotUnavailable
from bots.lex import session_id
from bots.registry import build_engine
from bots.watson import IamTokens
from channels.base import CheckResult
from tests.fakes import lex as fake_lex
from tests.fakes import watson as fake_watson

Start = Callable[[web.Application], Awaitable[str]]


def lex_account(url: str, **over: Any) -> LexAccount:
    data = dict(type="lex", id="lex1", name="Lex", bot_id="BOT1234567", bot_alias_id="TSTALIASID",
                region="us-east-1", access_key="AKIDEXAMPLE", secret_key="s3cr3t",
                max_api_calls_per_day=100, endpoint_url=url)  # fmt: skip
    data.update(over)
    account = BOT_ACCOUNT.validate_python(data)
    assert isinstance(account, LexAccount)
    return account


async def test_lex_v2_signed_validated_and_state_carried(
    start_fake: Start, http: aiohttp.ClientSession
) -> None:
    fake = fake_lex.FakeLex(access_key="AKIDEXAMPLE", secret_key="s3cr3t")
    fake.scripts["book a trip"] = fake_lex.Script("BookTrip", 0.93, ["Where to?"])
    engine = build_engine(lex_account(await start_fake(fake.app)), http)
    first = await engine.converse(BotTurn(conversation_id="+1 555\n123", text="book\r\na  trip"))
    assert first.messages == ("Where to?",)
    assert (first.intent, first.confidence) == ("BookTrip", 0.93)
    second = await engine.converse(
        BotTurn(conversation_id="+1 555\n123", text="x" * 3000, state=first.state)
    )
    assert second.intent == "FallbackIntent"
    assert second.confidence is None
    assert second.state is not None
    assert second.state["sessionAttributes"]["turns"] == "2"
    sent = fake.calls("/text")
    assert sent[0].json()["text"] == "book a trip"
    assert len(sent[1].json()["text"]) == 1024
    assert sent[0].path == sent[1].path  # same sanitized session
    assert "/sessions/1555123-" in sent[0].path


def test_session_ids() -> None:
    assert session_id("conv-1") == "conv-1"
    assert session_id("+15551234567") != session_id("15551234567")
    assert len(session_id("a" * 300)) <= 100
    assert len(session_id("+")) >= 2


async def test_lex_v1_post_text(start_fake: Start, http: aiohttp.ClientSession) -> None:
    fake = fake_lex.FakeLex(access_key="AK", secret_key="sk", region="eu-west-1")
    fake.scripts["hi"] = fake_lex.Script("Greeting", 0.8, ["Hello!"])
    account = BOT_ACCOUNT.validate_python(
        dict(
            type="lex_v1",
            id="v1",
            name="Old",
            bot_name="TripBooker",
            bot_alias="prod",
            region="eu-west-1",
            access_key="AK",
            secret_key="sk",
            max_api_calls_per_day=5,
            endpoint_url=await start_fake(fake.app),
        )
    )
    engine = build_engine(account, http)
    reply = await engine.converse(BotTurn(conversation_id="c1", text="hi"))
    assert (reply.messages, reply.intent, reply.confidence) == (("Hello!",), "Greeting", 0.8)
    again = await engine.converse(BotTurn(conversation_id="c1", text="hi", state=reply.state))
    assert again.state == {"turns": "2"}


async def test_lex_bad_secret_and_test_connection(
    start_fake: Start, http: aiohttp.ClientSession
) -> None:
    fake = fake_lex.FakeLex(access_key="AKIDEXAMPLE", secret_key="s3cr3t")
    url = await start_fake(fake.app)
    good = build_engine(lex_account(url), http)
    assert (await good.test_connection()).result is CheckResult.VALID
    bad = build_engine(lex_account(url, secret_key="wrong"), http)
    with pytest.raises(BotAuthError, match="signature we calculated does not match"):
        await bad.converse(BotTurn(conversation_id="c1", text="hi"))
    check = await bad.test_connection()
    assert check.result is CheckResult.FORBIDDEN
    assert "InvalidSignature" in check.detail
    fake.fail_next(401)
    assert (await good.test_connection()).result is CheckResult.INVALID_CREDENTIALS
    fake.fail_next(500)
    assert (await good.test_connection()).result is CheckResult.UNREACHABLE
    fake.fail_next(429)
    with pytest.raises(BotUnavailable):
        await good.converse(BotTurn(conversation_id="c1", text="hi"))
    unreachable = build_engine(lex_account("http://127.0.0.1:9"), http)
    assert (await unreachable.test_connection()).result is CheckResult.UNREACHABLE


async def test_lex_timeout(start_fake: Start, http: aiohttp.ClientSession) -> None:
    fake = fake_lex.FakeLex(access_key="AKIDEXAMPLE", secret_key="s3cr3t")
    engine = build_engine(lex_account(await start_fake(fake.app), timeout_seconds=0.2), http)
    fake.hang_next()
    async with asyncio.timeout(2):
        with pytest.raises(BotUnavailable, match="timed out"):
            await engine.converse(BotTurn(conversation_id="c1", text="hi"))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def watson_account(fake_url: str, **over: Any) -> WatsonAccount:
    data = dict(type="watson", id="w1", name="Watson", url=fake_url, skill_id="ws-1",
                api_key="KEY", iam_url=f"{fake_url}/identity/token", max_api_calls_per_day=10,
                max_suggestions=2)  # fmt: skip
    data.update(over)
    account = BOT_ACCOUNT.validate_python(data)
    assert isinstance(account, WatsonAccount)
    return account


async def test_watson_iam_token_cached_and_refreshed(
    start_fake: Start, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    fake = fake_watson.FakeWatson(api_key="KEY", token_ttl=1000, clock=clock)
    fake.scripts["hi"] = fake_watson.Script("greeting", 0.97, ["Hello!", "How can I help?"],
                                            options=["Billing", "Sales"])  # fmt: skip
    tokens = IamTokens(clock=clock)
    engine = build_engine(watson_account(await start_fake(fake.app)), http, tokens=tokens)
    reply = await engine.converse(BotTurn(conversation_id="c1", text="hi\tthere\r\n"))
    assert fake.calls("/message")[0].json()["input"]["text"] == "hi there"
    reply = await engine.converse(BotTurn(conversation_id="c1", text="hi", state=reply.state))
    assert reply.messages == ("Hello!", "How can I help?", "Pick one")
    assert (reply.intent, reply.confidence) == ("greeting", 0.97)
    assert reply.suggestions == ("Hello!", "How can I help?")
    assert reply.state is not None
    assert reply.state["turns"] == 2
    assert fake.calls("/message")[1].query["version"] == "2021-06-14"
    assert tokens.exchanges == 1
    clock.now += 790  # before 80 % of the token's life: cached
    await engine.converse(BotTurn(conversation_id="c1", text="hi"))
    assert tokens.exchanges == 1
    clock.now += 20  # past 80 %, still valid at IAM: refreshed before expiry
    await engine.converse(BotTurn(conversation_id="c1", text="hi"))
    assert tokens.exchanges == 2
    assert len(fake.issued) == 2
    bearer = fake.calls("/message")[-1].headers["Authorization"]
    assert bearer == f"Bearer {fake.issued[1]}"


async def test_watson_connect_to_agent_and_errors(
    start_fake: Start, http: aiohttp.ClientSession
) -> None:
    fake = fake_watson.FakeWatson(api_key="KEY")
    fake.scripts["agent"] = fake_watson.Script("human", 0.9, ["Transferring"],
                                               connect_to_agent=True)  # fmt: skip
    url = await start_fake(fake.app)
    engine = build_engine(watson_account(url), http, tokens=IamTokens())
    reply = await engine.converse(BotTurn(conversation_id="c1", text="agent"))
    assert reply.handoff
    assert reply.messages == ("Transferring",)
    assert (await engine.test_connection()).result is CheckResult.VALID
    bad = build_engine(watson_account(url, api_key="NOPE"), http, tokens=IamTokens())
    check = await bad.test_connection()
    assert check.result is CheckResult.INVALID_CREDENTIALS
    assert "BXNIM0415E" not in check.detail
    assert "could not be found" in check.detail
    fake.fail_next(403)
    assert (await engine.test_connection()).result is CheckResult.FORBIDDEN
    fake.fail_next(503)
    with pytest.raises(BotUnavailable):
        await engine.converse(BotTurn(conversation_id="c1", text="hi"))
    assert len(fake.calls("/message")) == 2  # the message call is not retried


async def test_watson_legacy_basic_auth_and_version(
    start_fake: Start, http: aiohttp.ClientSession
) -> None:
    fake = fake_watson.FakeWatson(username="user", password="pw")
    url = await start_fake(fake.app)
    account = BOT_ACCOUNT.validate_python(
        dict(
            type="watson_legacy",
            id="wl",
            name="Legacy",
            url=f"{url}/v1/workspaces/ws-1/message",
            skill_id="ws-1",
            username="user",
            password="pw",
            max_api_calls_per_day=3,
        )
    )
    engine = build_engine(account, http)
    await engine.converse(BotTurn(conversation_id="c1", text="hi"))
    assert fake.calls("/message")[0].query["version"] == "2018-09-20"
    assert (await engine.test_connection()).result is CheckResult.VALID
    changed = account.model_copy(update={"url": f"{url}?version=2020-04-01"})
    await build_engine(changed, http).converse(BotTurn(conversation_id="c1", text="hi"))
    assert fake.calls("/message")[1].query["version"] == "2020-04-01"
    wrong = account.model_copy(update={"password": account.password.__class__("bad")})
    assert (await build_engine(wrong, http).test_connection()).result is (
        CheckResult.INVALID_CREDENTIALS
    )
