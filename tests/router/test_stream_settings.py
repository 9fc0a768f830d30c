"""Media stream settings through the app, with an injected clock: the initial reply within
business hours and the after-hours reply outside (web chat and a messenger alike), their
template fields, escalation, last agent on reopen, and the read-only media streams API."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import telegram
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router.config import Config
from router.errors import ConfigError
from router.models import SenderKind, SessionState
from router.provisioning import check_config
from router.runtime import Runtime
from tests.clients import AgentClient, CustomerClient, eventually, first_offer
from tests.fakes.telegram import FakeTelegram
from tests.router.conftest import (
    ConnectAgent,
    ConnectCustomer,
    agent,
    api_token,
    history_texts,
    session_of,
    tenant,
    token,
)

Client = TestClient[Any, Any]
DUBLIN = ZoneInfo("Europe/Dublin")
OFFICE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
MONDAY_MORNING = datetime(2024, 6, 3, 10, 0, tzinfo=DUBLIN)
FRIDAY_EVENING = datetime(2024, 6, 7, 18, 0, tzinfo=DUBLIN)
CHRISTMAS = datetime(2024, 12, 25, 11, 0, tzinfo=DUBLIN)  # a Wednesday
WELCOME = "Hello {{ customer.name }}, welcome to {{ stream.name }} [{{ stream.language }}]"
AFTER_HOURS = (
    "Sorry {{ customer.name or 'there' }}, {{ stream.name }} is closed. "
    "{% if next_open %}We open {{ next_open.strftime('%A %d %B at %H:%M') }} "
    "({{ next_open.tzname() }}).{% endif %}"
)
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


def acme() -> dict[str, Any]:
    data = tenant(
        "acme",
        time_zone="Europe/Dublin",
        media_streams=[
            {
                "id": "web",
                "name": "Web",
                "language": "en-GB",
                "queue": "support",
                "can_transfer": False,
                "can_escalate": True,
                "escalation_queue": "billing",
                "availability": {
                    "in_office_profile": OFFICE,
                    "holidays": [{"date": "2024-12-25", "name": "Christmas Day"}],
                },
                "initial_reply": WELCOME,
                "after_hours_reply": AFTER_HOURS,
            },
            {
                "id": "quiet",
                "name": "Quiet",
                "queue": "support",
                "availability": {"time_zone": "America/New_York", "in_office_profile": OFFICE},
                "initial_reply": "Welcome to {{ stream.name }}",
            },
            {
                "id": "telegram",
                "name": "Telegram",
                "media": "telegram",
                "queue": "support",
                "availability": {"in_office_profile": OFFICE},
                "after_hours_reply": AFTER_HOURS,
            },
        ],
    )
    data["agents"].append(agent("adm", role="tenant_admin", queues=[]))
    return data


def globex() -> dict[str, Any]:
    data = tenant("globex")
    data["media_streams"][0]["name"] = "Globex web"
    return data


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"tenants": [acme(), globex()]}


class Clock:
    """A clock the test sets; the pipeline and the API read it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(runtime: Runtime) -> Clock:
    fake = Clock(MONDAY_MORNING)
    runtime.pipeline.clock = fake
    return fake


async def auto_replies(runtime: Runtime, session_id: str) -> list[str | None]:
    history = await runtime.store.history("acme", session_id)
    return [m.text for m in history if m.sender.kind is SenderKind.SYSTEM]


# -- initial and after-hours replies ------------------------------------------------------


async def test_initial_reply_within_business_hours_once_per_session(
    connect_customer: ConnectCustomer, runtime: Runtime, clock: Clock
) -> None:
    customer = await connect_customer()
    await customer.say("Hi there", name="Dana")
    reply = await customer.expect("message")
    assert reply["message"]["text"] == "Hello Dana, welcome to Web [en-GB]"
    assert reply["message"]["sender"]["kind"] == "system"
    assert reply["message"]["sender"]["name"] == "Web"

    await customer.say("Anyone?")
    session_id = await session_of(runtime, customer)

    async def filed() -> bool:
        return "Anyone?" in await history_texts(runtime, "acme", session_id)

    await eventually(filed, "the second message to be filed")
    assert await history_texts(runtime, "acme", session_id) == [
        "Hi there",
        "Hello Dana, welcome to Web [en-GB]",
        "Anyone?",
    ]


@pytest.mark.parametrize(
    ("now", "name", "expected"),
    [
        (FRIDAY_EVENING, "Dana",
         "Sorry Dana, Web is closed. We open Monday 10 June at 09:00 (IST)."),
        (CHRISTMAS, None,
         "Sorry there, Web is closed. We open Thursday 26 December at 09:00 (GMT)."),
        (datetime(2024, 6, 3, 7, 59, tzinfo=UTC), "Dana",  # 08:59 in Dublin
         "Sorry Dana, Web is closed. We open Monday 03 June at 09:00 (IST)."),
    ],
    ids=["weekend", "holiday", "before-opening"],
)  # fmt: skip
async def test_after_hours_reply_tells_when_the_stream_opens(
    connect_customer: ConnectCustomer,
    runtime: Runtime,
    clock: Clock,
    now: datetime,
    name: str | None,
    expected: str,
) -> None:
    clock.now = now
    customer = await connect_customer()
    await customer.say("Hello?", name=name)
    reply = await customer.expect("message")
    assert reply["message"]["text"] == expected
    session_id = await session_of(runtime, customer)
    assert await auto_replies(runtime, session_id) == [expected]
    # After hours the conversation still waits in the queue for an agent.
    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert session.state is SessionState.QUEUED


@pytest.mark.parametrize(
    ("now", "expected"),
    [(datetime(2024, 6, 3, 14, 0, tzinfo=UTC), ["Welcome to Quiet"]),  # 10:00 in New York
     (datetime(2024, 6, 3, 12, 0, tzinfo=UTC), [])],  # 08:00 in New York: no after-hours reply
    ids=["in-hours", "after-hours"],
)  # fmt: skip
async def test_a_missing_reply_sends_nothing(
    connect_customer: ConnectCustomer,
    runtime: Runtime,
    clock: Clock,
    now: datetime,
    expected: list[str],
) -> None:
    clock.now = now
    customer = await connect_customer(stream="quiet")
    await customer.say("first")
    await customer.say("second")
    session_id = await session_of(runtime, customer, stream="quiet")

    async def filed() -> bool:
        return "second" in await history_texts(runtime, "acme", session_id)

    await eventually(filed, "both messages to be filed")
    assert await auto_replies(runtime, session_id) == expected
    assert [f["message"]["text"] for f in customer.of("message")] == expected


async def test_after_hours_reply_reaches_a_messenger_customer(
    client: Client,
    runtime: Runtime,
    clock: Clock,
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> None:
    fake = FakeTelegram(TOKEN)
    server = await aiohttp_server(fake.app)
    admin = {"Authorization": f"Bearer {await token(client, 'acme', 'adm')}"}
    body = {"type": "telegram", "name": "Acme bot", "stream": "telegram", "token": TOKEN,
            "bot_username": "acme_support_bot",
            "api_base_url": str(server.make_url("")).rstrip("/")}  # fmt: skip
    resp = await client.post("/api/v1/integration-accounts", json=body, headers=admin)
    assert resp.status == 201, await resp.text()
    account = (await resp.json())["id"]
    resp = await client.post(
        f"/api/v1/integration-accounts/{account}/set-webhook",
        json={"url": f"https://example.test/webhooks/telegram/{account}"},
        headers=admin,
    )
    assert resp.status == 200, await resp.text()
    assert fake.webhook is not None

    clock.now = FRIDAY_EVENING
    user = telegram.User(4242, "Tomás", False)
    chat = telegram.Chat(4242, "private", first_name="Tomás")
    update = telegram.Update(
        1, message=telegram.Message(1, FRIDAY_EVENING, chat, from_user=user, text="Hello?")
    )
    resp = await client.post(
        f"/webhooks/telegram/{account}",
        data=update.to_json(),
        headers={"Content-Type": "application/json",
                 "X-Telegram-Bot-Api-Secret-Token": fake.webhook["secret_token"]},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    await fake.wait_for("/sendMessage")
    [sent] = fake.sent()
    assert str(sent["chat_id"]) == "4242"
    assert sent["text"] == (
        "Sorry Tomás, Telegram is closed. We open Monday 10 June at 09:00 (IST)."
    )


# -- escalation ---------------------------------------------------------------------------


async def assigned(agent_client: AgentClient, customer: CustomerClient) -> str:
    mark = len(agent_client.frames)
    await customer.say("I need a manager")
    offer = await agent_client.expect("offer", after=mark)
    await agent_client.accept(offer)
    return str(offer["session_id"])


async def test_escalation_moves_the_conversation_to_the_escalation_queue(
    connect_agent: ConnectAgent,
    connect_customer: ConnectCustomer,
    runtime: Runtime,
    clock: Clock,
) -> None:
    ann = await connect_agent("ann")
    cat = await connect_agent("cat")  # serves billing, the escalation queue
    session_id = await assigned(ann, await connect_customer())

    # Transfers are off on this stream; escalation is a separate permission.
    error = await ann.expect_error({"type": "transfer", "session_id": session_id,
                                    "queue": "billing"})  # fmt: skip
    assert error["code"] == "transfer_not_allowed"

    mark = len(ann.frames)
    await ann.send({"type": "escalate", "session_id": session_id})
    closed = await ann.expect("session_closed", after=mark)
    assert (closed["session_id"], closed["reason"]) == (session_id, "escalated")
    offer = await cat.expect("offer")
    assert (offer["session_id"], offer["queue"]) == (session_id, "billing")
    await cat.accept(offer)
    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert (session.state, session.queue, session.agent) == (
        SessionState.ASSIGNED,
        "billing",
        "cat",
    )
    # Ann no longer has it: she cannot escalate it again.
    error = await ann.expect_error({"type": "escalate", "session_id": session_id})
    assert (error["code"], error["ref"]) == ("not_assigned", "escalate")


async def test_escalation_is_refused_where_the_stream_does_not_allow_it(
    connect_agent: ConnectAgent,
    connect_customer: ConnectCustomer,
    runtime: Runtime,
    clock: Clock,
) -> None:
    ann = await connect_agent("ann")
    session_id = await assigned(ann, await connect_customer(stream="quiet"))
    error = await ann.expect_error({"type": "escalate", "session_id": session_id})
    assert (error["code"], error["ref"]) == ("escalation_not_allowed", "escalate")
    assert error["message"] == "this media stream does not allow escalation"
    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert (session.state, session.queue, session.agent) == (
        SessionState.ASSIGNED,
        "support",
        "ann",
    )
    error = await ann.expect_error({"type": "escalate"})
    assert (error["code"], error["ref"]) == ("invalid_frame", "escalate")
    error = await ann.expect_error({"type": "escalate", "session_id": "nope"})
    assert error["code"] == "not_found"


# -- last agent on reopen (full flow) ------------------------------------------------------


def last_agent_config(use_last_agent: bool) -> dict[str, Any]:
    data = tenant("acme")
    data["queues"][0]["offer_timeout_seconds"] = 5
    data["media_streams"][0].update(use_last_agent=use_last_agent)
    return {"tenants": [data]}


@pytest.mark.parametrize(
    ("config_data", "back_to"),
    [(last_agent_config(True), "ann"), (last_agent_config(False), "ben")],
    ids=["use-last-agent", "longest-idle"],
)
async def test_a_reopened_conversation_goes_back_to_the_last_agent_if_the_stream_says_so(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, back_to: str
) -> None:
    ann = await connect_agent("ann")  # idle the longest: gets the first conversation
    ben = await connect_agent("ben")
    customer = await connect_customer()
    await customer.say("first question")
    winner, offer = await first_offer(ann, ben)
    assert winner is ann
    session_id = offer["session_id"]
    await ann.accept(offer)
    mark = {"ann": len(ann.frames), "ben": len(ben.frames)}
    await ann.send({"type": "close", "session_id": session_id})
    await customer.expect("session_closed")

    # Ben is now the longest idle; the reopened session goes to him unless the stream
    # prefers the last agent.
    await customer.say("one more thing")
    agents = {"ann": ann, "ben": ben}
    again = await agents[back_to].expect("offer", after=mark[back_to])
    assert again["session_id"] == session_id
    other = "ben" if back_to == "ann" else "ann"
    assert [f for f in agents[other].frames[mark[other] :] if f.get("type") == "offer"] == []


# -- the media streams API ----------------------------------------------------------------


async def get(client: Client, path: str, tok: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    resp = await client.get(path, headers=headers)
    return resp.status, await resp.json()


async def test_media_streams_api_shows_settings_and_opening(client: Client, clock: Clock) -> None:
    sue = await token(client, "acme", "sue")  # supervisor
    clock.now = FRIDAY_EVENING
    status, body = await get(client, "/api/v1/media-streams", sue)
    assert status == 200, body
    assert body["total"] == 3
    assert [s["id"] for s in body["items"]] == ["web", "quiet", "telegram"]
    web_view = body["items"][0]
    assert web_view["open_now"] is False
    assert web_view["next_open"] == "2024-06-10T09:00:00+01:00"
    assert web_view["availability"] == {
        "time_zone": "Europe/Dublin",  # the tenant's
        "in_office_profile": {**{d: [] for d in ("sat", "sun")}, **OFFICE},
        "holidays": [{"date": "2024-12-25", "name": "Christmas Day"}],
    }
    assert {k: web_view[k] for k in ("name", "language", "queue", "can_transfer",
                                      "can_escalate", "escalation_queue", "use_last_agent",
                                      "reopen_on_reply", "reopen_window_seconds",
                                      "initial_reply", "after_hours_reply")} == {
        "name": "Web", "language": "en-GB", "queue": "support", "can_transfer": False,
        "can_escalate": True, "escalation_queue": "billing", "use_last_agent": False,
        "reopen_on_reply": True, "reopen_window_seconds": 600.0, "initial_reply": WELCOME,
        "after_hours_reply": AFTER_HOURS,
    }  # fmt: skip
    quiet = body["items"][1]
    assert quiet["availability"]["time_zone"] == "America/New_York"
    # Its own zone: 18:00 in Dublin is 13:00 in New York, so it is open.
    assert (quiet["open_now"], quiet["next_open"]) == (True, None)

    clock.now = MONDAY_MORNING
    admin = await token(client, "acme", "adm")
    status, one = await get(client, "/api/v1/media-streams/web", admin)
    assert status == 200, one
    assert (one["id"], one["open_now"], one["next_open"]) == ("web", True, None)


async def test_media_streams_api_is_tenant_scoped_and_for_supervisors(
    client: Client, clock: Clock
) -> None:
    globex_sue = await token(client, "globex", "sue")
    status, body = await get(client, "/api/v1/media-streams/web", globex_sue)
    assert status == 200, body
    assert body["name"] == "Globex web"
    assert body["availability"] == {
        "time_zone": "UTC",
        "in_office_profile": "always_online",
        "holidays": [],
    }
    assert (body["open_now"], body["next_open"]) == (True, None)
    status, body = await get(client, "/api/v1/media-streams/telegram", globex_sue)
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        404,
        "not_found",
        "stream_id",
    )
    for tok in (await token(client, "acme", "ann"), await api_token(client, "acme")):
        status, body = await get(client, "/api/v1/media-streams", tok)
        assert (status, body["error"]["code"]) == (403, "forbidden")
        status, body = await get(client, "/api/v1/media-streams/web", tok)
        assert status == 403
    status, body = await get(client, "/api/v1/media-streams", None)
    assert (status, body["error"]["code"]) == (401, "unauthorized")


# -- configuration ------------------------------------------------------------------------


def parse(change: Callable[[dict[str, Any]], None]) -> Config:
    data = {"tenants": [copy.deepcopy(acme())]}
    change(data["tenants"][0])
    return Config.parse(data, source="switchboard.yaml")


def test_stream_time_zone_defaults_to_the_tenants() -> None:
    config = parse(lambda t: None)
    acme_cfg = config.tenant("acme")
    assert acme_cfg is not None
    zones = [s.availability.time_zone for s in acme_cfg.media_streams]
    assert zones == ["Europe/Dublin", "America/New_York", "Europe/Dublin"]
    bare = parse(lambda t: t.update(time_zone="Asia/Tokyo", media_streams=[
        {"id": "web", "queue": "support"}]))  # fmt: skip
    bare_acme = bare.tenant("acme")
    assert bare_acme is not None
    stream = bare_acme.media_streams[0]
    assert stream.availability.time_zone == "Asia/Tokyo"
    assert stream.availability.in_office_profile == "always_online"


def web_stream(t: dict[str, Any]) -> dict[str, Any]:
    stream: dict[str, Any] = t["media_streams"][0]
    return stream


BAD: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("bad-time", lambda t: web_stream(t)["availability"].update(
        in_office_profile={"mon": [["09:00", "25:00"]]}),
     ["tenants[0].media_streams[0].availability.in_office_profile", "mon[0]: bad time '25:00'"]),
    ("end-before-start", lambda t: web_stream(t)["availability"].update(
        in_office_profile={"tue": [["17:00", "09:00"]]}),
     ["media_streams[0].availability.in_office_profile",
      "tue[0]: end 09:00 is not after start 17:00"]),
    ("unknown-weekday", lambda t: web_stream(t)["availability"].update(
        in_office_profile={"funday": []}),
     ["media_streams[0].availability.in_office_profile", "unknown weekday 'funday'"]),
    ("bad-zone", lambda t: web_stream(t)["availability"].update(time_zone="Europe/Atlantis"),
     ["media_streams[0].availability.time_zone", "unknown time zone 'Europe/Atlantis'"]),
    ("unknown-escalation-queue", lambda t: web_stream(t).update(escalation_queue="vip"),
     ["tenants[0]", "media_streams[0].escalation_queue: unknown queue 'vip'"]),
    ("escalation-without-queue", lambda t: web_stream(t).pop("escalation_queue"),
     ["tenants[0].media_streams[0]", "can_escalate needs an escalation_queue"]),
]  # fmt: skip


@pytest.mark.parametrize(("change", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_stream_settings_name_the_field(
    change: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(change)
    message = str(caught.value)
    assert message.startswith("switchboard.yaml: ")
    for part in expected:
        assert part in message


def test_a_bad_tenant_time_zone_is_reported_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(lambda t: t.update(time_zone="Nowhere/City"))
    assert str(caught.value).count("unknown time zone") == 1
    assert "tenants[0].time_zone" in str(caught.value)


def test_after_hours_template_is_checked_at_start_up() -> None:
    config = parse(lambda t: web_stream(t).update(after_hours_reply="We open {{ next_open"))
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    assert "tenants[acme].media_streams[0].after_hours_reply: invalid template" in str(caught.value)
