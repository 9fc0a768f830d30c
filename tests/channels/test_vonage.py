"""Vonage (Nexmo) SMS through the real app: legacy SMS webhooks in all three styles signed by
the SDKs (nexmo for md5hash, vonage_http_client for the HMACs), Messages API webhooks signed
with an HS256 JWT, and replies to a fake ``/sms/json`` that validates them with the SDK's
``SmsMessage``."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import nexmo
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from vonage_http_client import Auth
from vonage_jwt.verify_jwt import verify_signature

from channels.segments import is_gsm7
from queues import names
from router.config import SMS_START_REPLY, SMS_STOP_REPLY
from router.models import MessageStatus
from router.runtime import Runtime
from tests.channels.helpers import last_message, send, signature_failures
from tests.clients import AgentClient
from tests.fakes.vonage import FakeVonage

KEY, API_SECRET, SIG_SECRET = "abcd1234", "ABCDEFGH01234abc", "sIg-SeCrEt-0123456789abcdef"
CUSTOMER, OUR_NUMBER = "447700900001", "447700900000"

CreateAccount = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Client = TestClient[Any, Any]


@dataclass
class Sms:
    fake: FakeVonage
    url: str
    account: str


@pytest.fixture
async def fake_url(start_fake: Callable[[Any], Awaitable[str]]) -> tuple[FakeVonage, str]:
    fake = FakeVonage(KEY, API_SECRET)
    return fake, await start_fake(fake.app)


async def make_account(create_account: CreateAccount, url: str, **extra: Any) -> str:
    body = {"type": "vonage", "name": f"Nexmo {uuid.uuid4().hex[:6]}", "stream": "vonage",
            "api_base_url": url, "api_key": KEY, "api_secret": API_SECRET,
            "signature_secret": SIG_SECRET, "signature_method": "md5hash",
            "from_number": "+447700900000"}  # fmt: skip
    view = await create_account({**body, **extra})
    return str(view["id"])


@pytest.fixture
async def sms(fake_url: tuple[FakeVonage, str], create_account: CreateAccount) -> Sms:
    """A Vonage account with md5hash-signed webhooks, on the fake REST host."""
    fake, url = fake_url
    return Sms(fake, url, await make_account(create_account, url))


def inbound(text: str, message_id: str = "0B00000012345678", **extra: str) -> dict[str, str]:
    return {"msisdn": CUSTOMER, "to": OUR_NUMBER, "messageId": message_id, "text": text,
            "type": "text", "keyword": (text.split() or [""])[0].upper(), "api-key": KEY,
            "message-timestamp": "2026-03-01 12:00:00", **extra}  # fmt: skip


def sign(params: dict[str, str], method: str = "md5hash", *, secret: str = SIG_SECRET,
         timestamp: float | None = None) -> dict[str, str]:  # fmt: skip
    """Sign like Vonage, with the SDKs: nexmo for md5hash, vonage_http_client for HMACs."""
    stamp = str(int(timestamp if timestamp is not None else time.time()))
    signed = {**params, "timestamp": stamp, "nonce": uuid.uuid4().hex}
    if method == "md5hash":
        sig = nexmo.Client(key=KEY, signature_secret=secret).signature(dict(signed))
    else:
        auth = Auth(api_key=KEY, signature_secret=secret, signature_method=method)
        sig = auth.sign_params(dict(signed))
    return {**signed, "sig": sig}


async def deliver(
    client: Client, account: str, params: dict[str, str], style: str = "form"
) -> ClientResponse:
    """Send a legacy webhook the way the dashboard's "HTTP method" setting says."""
    url = f"/webhooks/vonage/{account}"
    if style == "GET":
        return await client.get(url, params=params)
    if style == "json":
        return await client.post(url, json=params)
    return await client.post(url, data=params)


def messages_jwt(body: bytes, *, secret: str = SIG_SECRET, iat: float | None = None,
                 payload_hash: str | None = None) -> str:  # fmt: skip
    claims = {"iat": int(iat if iat is not None else time.time()), "jti": str(uuid.uuid4()),
              "iss": "Vonage", "api_key": KEY, "application_id": str(uuid.uuid4()),
              "payload_hash": payload_hash or hashlib.sha256(body).hexdigest()}  # fmt: skip
    with warnings.catch_warnings():  # Vonage's signature secrets may be under 32 bytes
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


async def post_messages_api(
    client: Client, account: str, body: bytes, token: str
) -> ClientResponse:
    return await client.post(
        f"/webhooks/vonage/{account}", data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip


async def open_session(client: Client, sms: Sms, agent: AgentClient, text: str = "Hello") -> str:
    mark = len(agent.frames)
    resp = await deliver(client, sms.account, sign(inbound(text)))
    assert resp.status == 200, await resp.text()
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    return str(offer["session_id"])


async def nothing_filed(runtime: Runtime) -> bool:
    await runtime.broker.join()
    return await runtime.store.current_session_id("acme", "vonage", CUSTOMER) is None


# -- inbound: legacy SMS webhooks -----------------------------------------------------


@pytest.mark.parametrize(
    ("style", "method"),
    [("GET", "md5hash"), ("form", "sha256"), ("json", "sha512"), ("form", "md5"), ("GET", "sha1")],
)
async def test_inbound_sms_in_every_style_and_signature_method(
    client: Client, fake_url: tuple[FakeVonage, str], create_account: CreateAccount,
    agent: AgentClient, style: str, method: str,
) -> None:  # fmt: skip
    account = await make_account(create_account, fake_url[1], signature_method=method)
    params = sign(inbound("Hello & welcome = yes"), method)
    if method == "md5hash":
        assert nexmo.Client(key=KEY, signature_secret=SIG_SECRET).check_signature(params)
    else:
        auth = Auth(api_key=KEY, signature_secret=SIG_SECRET, signature_method=method)
        assert auth.check_signature(dict(params))
    resp = await deliver(client, account, params, style)
    assert resp.status == 200, await resp.text()
    offer = await agent.expect("offer")
    assert offer["channel"] == "vonage"
    assert offer["customer"]["id"] == CUSTOMER
    [first] = offer["history"]
    assert first["text"] == "Hello & welcome = yes"
    assert first["created_at"].startswith("2026-03-01T12:00:00")


async def test_signature_is_compared_case_insensitively(
    client: Client, sms: Sms, agent: AgentClient
) -> None:
    params = sign(inbound("upper"))
    resp = await deliver(client, sms.account, {**params, "sig": params["sig"].upper()})
    assert resp.status == 200
    assert (await agent.expect("offer"))["history"][0]["text"] == "upper"


async def test_bad_missing_stale_or_unverifiable_signatures_are_401(
    client: Client, sms: Sms, runtime: Runtime, create_account: CreateAccount
) -> None:
    before = signature_failures(runtime, "vonage")
    tampered = {**sign(inbound("pay 10")), "text": "pay 1000"}
    attempts = [
        inbound("unsigned"),
        sign(inbound("wrong secret"), secret="not-the-secret"),
        tampered,
        sign(inbound("replayed"), timestamp=time.time() - 600),
    ]
    for params in attempts:
        assert (await deliver(client, sms.account, params)).status == 401
    # An account without a signature secret takes unsigned webhooks, but a signed one it
    # cannot check is refused.
    unsigned = await make_account(create_account, sms.url, signature_secret=None)
    assert (await deliver(client, unsigned, sign(inbound("signed")), "GET")).status == 401
    # An empty request (Vonage checking the URL is up) has nothing to verify or file.
    assert (await client.get(f"/webhooks/vonage/{sms.account}")).status == 200
    assert signature_failures(runtime, "vonage") == before + 5
    assert await nothing_filed(runtime)


async def test_account_without_signature_secret_takes_unsigned_webhooks(
    client: Client, sms: Sms, agent: AgentClient, create_account: CreateAccount
) -> None:
    unsigned = await make_account(create_account, sms.url, signature_secret=None)
    assert (await deliver(client, unsigned, inbound("plain GET"), "GET")).status == 200
    assert (await agent.expect("offer"))["history"][0]["text"] == "plain GET"


async def test_duplicates_concatenated_parts_binary_unknown_and_malformed(
    client: Client, sms: Sms, agent: AgentClient, runtime: Runtime, create_account: CreateAccount
) -> None:
    session = await open_session(client, sms, agent, "first")
    assert (await deliver(client, sms.account, sign(inbound("first")))).status == 200  # resent
    concat = {"concat": "true", "concat-ref": "7", "concat-total": "2"}
    for part, (mid, text) in enumerate([("0B01", "This was split "), ("0B02", "in two")], 1):
        params = inbound(text, mid, **concat, **{"concat-part": str(part)})
        assert (await deliver(client, sms.account, sign(params))).status == 200
    binary = inbound("", "0B03", type="binary", data="0102", udh="050003CC0201")
    assert (await deliver(client, sms.account, sign(binary))).status == 200
    assert (await deliver(client, sms.account, sign({"api-key": KEY}))).status == 200
    await agent.wait(lambda: len(agent.texts(session)) >= 3, "the two parts")
    await runtime.broker.join()
    assert agent.texts(session) == ["first", "This was split ", "in two"]
    unsigned = await make_account(create_account, sms.url, signature_secret=None)
    url = f"/webhooks/vonage/{unsigned}"
    for raw in (b"{not json", b'["msisdn"]', b'{"msisdn": {"nested": 1}}'):
        resp = await client.post(url, data=raw, headers={"Content-Type": "application/json"})
        assert resp.status == 400, raw
    assert (await deliver(client, unsigned, {"msisdn": CUSTOMER, "text": "no id"})).status == 400


async def test_opt_out_keyword_is_confirmed_and_stops_sends_until_start(
    client: Client, sms: Sms, agent: AgentClient, runtime: Runtime
) -> None:
    """The adapter only files the keywords; router.consent (tests/sms) acts on them."""
    session = await open_session(client, sms, agent, "Hi")
    assert (await deliver(client, sms.account, sign(inbound(" stop ", "0C01")))).status == 200
    await agent.wait(lambda: len(agent.texts(session)) >= 2, "the STOP message")
    await runtime.broker.join()
    assert [p["text"] for p in sms.fake.sms] == [SMS_STOP_REPLY]
    error = await agent.expect_error({"type": "send", "session_id": session, "text": "ok?"})
    assert error["code"] == "opted_out"
    assert "opted out (STOP)" in error["message"]
    assert (await deliver(client, sms.account, sign(inbound("START", "0C02")))).status == 200
    await agent.wait(lambda: len(agent.texts(session)) >= 3, "the START message")
    await runtime.broker.join()
    await agent.reply(session, "Welcome back")
    await last_message(runtime, session, MessageStatus.SENT)
    assert [p["text"] for p in sms.fake.sms] == [SMS_STOP_REPLY, SMS_START_REPLY, "Welcome back"]


# -- inbound: Messages API ------------------------------------------------------------


def messages_inbound(**extra: Any) -> bytes:
    body = {"channel": "sms", "message_uuid": str(uuid.uuid4()), "to": OUR_NUMBER,
            "from": CUSTOMER, "timestamp": "2026-03-01T12:00:00Z", "text": "Hello From Vonage!",
            "message_type": "text", "sms": {"num_messages": "1", "keyword": "HELLO"}}  # fmt: skip
    return json.dumps({**body, **extra}).encode()


async def test_messages_api_inbound_signed_with_a_jwt(
    client: Client, sms: Sms, agent: AgentClient
) -> None:
    body = messages_inbound()
    token = messages_jwt(body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        assert verify_signature(token, SIG_SECRET)  # the SDK agrees this is a Vonage token
    assert (await post_messages_api(client, sms.account, body, token)).status == 200
    offer = await agent.expect("offer")
    await agent.accept(offer)
    assert offer["history"][0]["text"] == "Hello From Vonage!"
    assert offer["customer"]["id"] == CUSTOMER
    mms = messages_inbound(channel="mms", message_type="image", text=None,
                           image={"url": "https://api-us.nexmo.com/v3/media/abc.png"})  # fmt: skip
    mark = len(agent.frames)
    assert (await post_messages_api(client, sms.account, mms, messages_jwt(mms))).status == 200
    frame = await agent.expect("message", after=mark)
    [image] = frame["message"]["attachments"]
    assert image["url"] == "https://api-us.nexmo.com/v3/media/abc.png"
    assert image["content_type"] == "image/png"
    whatsapp = messages_inbound(channel="whatsapp")
    assert (await post_messages_api(client, sms.account, whatsapp,
                                    messages_jwt(whatsapp))).status == 200  # fmt: skip


async def test_messages_api_bad_jwts_are_401_and_bad_bodies_400(
    client: Client, sms: Sms, runtime: Runtime, create_account: CreateAccount
) -> None:
    before = signature_failures(runtime, "vonage")
    body = messages_inbound()
    bad_tokens = [
        messages_jwt(body, secret="another-secret-entirely-0123"),
        messages_jwt(body, iat=time.time() - 600),
        messages_jwt(body, payload_hash=hashlib.sha256(b"other body").hexdigest()),
        "not.a.jwt",
    ]
    for token in bad_tokens:
        assert (await post_messages_api(client, sms.account, body, token)).status == 401
    unsigned = await make_account(create_account, sms.url, signature_secret=None)
    assert (await post_messages_api(client, unsigned, body, messages_jwt(body))).status == 401
    assert signature_failures(runtime, "vonage") == before + 5
    assert await nothing_filed(runtime)
    garbage = b'{"message_uuid": 5, "message_type": "text"'
    assert (
        await post_messages_api(client, sms.account, garbage, messages_jwt(garbage))
    ).status == 400
    wrong = json.dumps({"message_uuid": "x", "message_type": "text", "channel": "sms"}).encode()
    assert (await post_messages_api(client, sms.account, wrong, messages_jwt(wrong))).status == 400


# -- outbound and delivery receipts ---------------------------------------------------


async def test_reply_is_sent_as_vonage_expects_and_receipts_update_it(
    client: Client, sms: Sms, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, sms, agent)
    frame = await send(agent, session, text="Hi there")
    await last_message(runtime, session, MessageStatus.SENT)
    assert sms.fake.sms == [{
        "api_key": KEY, "api_secret": API_SECRET, "from": OUR_NUMBER, "to": CUSTOMER,
        "text": "Hi there", "status-report-req": "true", "client-ref": frame["message"]["id"],
    }]  # fmt: skip
    [message_id] = sms.fake.message_ids
    receipt = {"msisdn": CUSTOMER, "to": OUR_NUMBER, "network-code": "23410",
               "messageId": message_id, "price": "0.03330000", "status": "delivered",
               "scts": "2603011201", "err-code": "0", "api-key": KEY,
               "message-timestamp": "2026-03-01 12:01:00"}  # fmt: skip
    assert (await deliver(client, sms.account, sign(receipt), "GET")).status == 200
    await last_message(runtime, session, MessageStatus.DELIVERED)

    await agent.reply(session, "This one bounces")
    await last_message(runtime, session, MessageStatus.SENT)
    failed = {**receipt, "messageId": sms.fake.message_ids[-1], "status": "failed",
              "err-code": "6"}  # fmt: skip
    assert (await deliver(client, sms.account, sign(failed), "json")).status == 200
    bounced = await last_message(runtime, session, MessageStatus.FAILED)
    assert bounced.error == "failed (err-code 6)"

    await agent.reply(session, "And this one is read")
    await last_message(runtime, session, MessageStatus.SENT)
    status = json.dumps({"message_uuid": sms.fake.message_ids[-1], "to": CUSTOMER,
                         "from": OUR_NUMBER, "timestamp": "2026-03-01T12:02:00Z",
                         "status": "read", "channel": "sms"}).encode()  # fmt: skip
    assert (
        await post_messages_api(client, sms.account, status, messages_jwt(status))
    ).status == 200
    await last_message(runtime, session, MessageStatus.READ)


async def test_unicode_long_text_choices_and_attachments(
    client: Client, sms: Sms, agent: AgentClient, runtime: Runtime
) -> None:
    assert is_gsm7("Price €5 [x] {ok} ~ ^ | \\ @£$¥")
    assert not is_gsm7("Grüße ç")
    assert not is_gsm7("hi 😀")
    session = await open_session(client, sms, agent)
    await agent.reply(session, "Price €5 [x]")
    await agent.reply(session, "Grüße aus Köln, ça va? 😀")
    long_text = " ".join(f"word{i}" for i in range(800))  # ~6.2k characters
    await agent.reply(session, long_text)
    await send(agent, session, text="Pick one", choices=["Yes", "No"],
               attachments=[{"url": "https://cdn.example.test/a.pdf"}])  # fmt: skip
    await sms.fake.wait_for("/sms/json", 5)
    await last_message(runtime, session, MessageStatus.SENT)
    sent = sms.fake.sms
    assert "type" not in sent[0]
    assert sent[1]["type"] == "unicode"
    assert all(len(p["text"]) <= 3200 for p in sent[2:4])
    assert sent[2]["text"] + " " + sent[3]["text"] == long_text
    assert sent[4]["text"] == "Pick one\n1. Yes\n2. No\nhttps://cdn.example.test/a.pdf"


async def test_throttled_and_429_are_retried_and_sent_once(
    client: Client, sms: Sms, agent: AgentClient, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("channels.vonage._wire.THROTTLE_RETRY_SECONDS", 0.0)
    session = await open_session(client, sms, agent)
    sms.fake.fail_next(200, body=FakeVonage.refused("1", "Throttled"))  # HTTP 200, status 1
    sms.fake.fail_next(429, retry_after=0)
    await agent.reply(session, "patience")
    await sms.fake.wait_for("/sms/json", 3)
    await last_message(runtime, session, MessageStatus.SENT)
    assert [p["text"] for p in sms.fake.sms] == ["patience"]


async def test_outage_fails_after_retries_and_dead_letters(
    client: Client, sms: Sms, agent: AgentClient, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("router.outbound.backoff", lambda attempt: 0.0)
    session = await open_session(client, sms, agent)
    sms.fake.fail_next(500, times=5)
    await agent.reply(session, "anyone?")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error == "Internal Error (HTTP 500)"
    assert len(sms.fake.calls("/sms/json")) == 5
    queue = names.outbound(
        names.partition_of(f"acme|vonage|{CUSTOMER}", runtime.settings.partitions)
    )
    await runtime.broker.join()
    [dead] = await runtime.broker.dead_letters(queue)
    assert "Internal Error (HTTP 500)" in (dead.dead_letter_reason or "")


async def test_bad_credentials_fail_at_once(
    client: Client, sms: Sms, agent: AgentClient, runtime: Runtime
) -> None:
    session = await open_session(client, sms, agent)
    sms.fake.api_secret = "rotated-SECRET-1"  # the account's secret is no longer valid
    await agent.reply(session, "hello?")
    failed = await last_message(runtime, session, MessageStatus.FAILED)
    assert failed.error == "Bad Credentials"
    assert len(sms.fake.calls("/sms/json")) == 1


# -- Test Connection ------------------------------------------------------------------


async def check(client: Client, admin: dict[str, str], account: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/integration-accounts/{account}/test-connection",
                             headers=admin)  # fmt: skip
    assert resp.status == 200
    result: dict[str, Any] = await resp.json()
    return result


async def test_test_connection_answers_like_vonage(
    client: Client, admin: dict[str, str], sms: Sms, create_account: CreateAccount
) -> None:
    assert await check(client, admin, sms.account) == {
        "result": "valid",
        "detail": "balance 10.28 EUR",
        "account_name": None,
    }
    wrong = await make_account(create_account, sms.url, api_secret="wrong-Secret-1")
    assert await check(client, admin, wrong) == {
        "result": "invalid_credentials",
        "detail": "authentication failed",
        "account_name": None,
    }
    closed = await make_account(create_account, "http://127.0.0.1:9")
    result = await check(client, admin, closed)
    assert result["result"] == "unreachable"
    assert API_SECRET not in result["detail"]
    sms.fake.fail_next(503)
    assert (await check(client, admin, sms.account))["result"] == "unreachable"
