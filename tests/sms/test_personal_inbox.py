"""Personal inboxes: an SMS to a user's number goes straight to that agent, through the
ordinary pipeline, whatever the agent's state and outside its capacity."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from channels.cpaas import CpaasNumber
from router.events import InboundWork
from router.models import SessionState
from router.runtime import Runtime
from tests.clients import AgentClient, eventually
from tests.sms.numbers_fixtures import (
    TENANT,
    add_number,
    nb_admin,
    nb_client,
    nb_config,
    nb_connect,
    nb_fake,
    nb_platforms,
    nb_runtime,
    nb_smtp,
    nb_store,
    sms,
    stored,
)

__all__ = [  # fixtures used by name
    "nb_admin", "nb_client", "nb_config", "nb_connect", "nb_fake", "nb_platforms",
    "nb_runtime", "nb_smtp", "nb_store",
]  # fmt: skip

Client = TestClient[Any, Any]
CUSTOMER = "+13125550199"


async def anns_number(client: Client, admin: dict[str, str], runtime: Runtime) -> CpaasNumber:
    await add_number(client, admin, "2015550123", friendly_name="Ann's line")
    await runtime.numbers.settled(TENANT, "2015550123")
    return await stored(runtime, "2015550123")


async def test_a_message_goes_straight_to_the_user_even_when_not_ready(
    nb_client: Client, nb_admin: dict[str, str], nb_runtime: Runtime, nb_connect: Any
) -> None:
    ann: AgentClient = await nb_connect("ann", ready=False)
    bob: AgentClient = await nb_connect("bob")  # Ready, same queue: never offered it
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    await nb_runtime.personal_inbox.deliver(number, sms(number, CUSTOMER, "hello ann"))
    assigned = await ann.expect("assigned")
    session = assigned["session"]
    assert session["channel"] == "sms"
    assert session["stream"] == "user.2015550123"
    assert session["customer"]["id"] == CUSTOMER
    assert [m["text"] for m in assigned["history"]] == ["hello ann"]
    stored_session = await nb_runtime.store.load_session(TENANT, session["id"])
    assert stored_session is not None
    assert stored_session.state is SessionState.ASSIGNED
    assert stored_session.account == "2015550123"
    status = await nb_runtime.store.agent_status(TENANT, "ann")
    assert status is not None
    assert (status.state.value, status.load) == ("not_ready", 0)  # no slot taken
    # The next message of the conversation comes as a message frame.
    await nb_runtime.personal_inbox.deliver(number, sms(number, CUSTOMER, "still there?"))
    await ann.expect("message", lambda f: f["message"]["text"] == "still there?")
    assert ann.texts(session["id"]) == ["hello ann", "still there?"]
    assert bob.of("offer") == []
    assert bob.of("assigned") == []


async def test_the_user_answers_from_the_inbox_and_closes_it_without_touching_load(
    nb_client: Client, nb_admin: dict[str, str], nb_runtime: Runtime, nb_connect: Any
) -> None:
    ann: AgentClient = await nb_connect("ann")
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    await nb_runtime.personal_inbox.deliver(number, sms(number, CUSTOMER, "question"))
    sid = (await ann.expect("assigned"))["session"]["id"]
    reply = await ann.reply(sid, "answer")
    assert reply["message"]["direction"] == "outbound"
    assert reply["message"]["sender"]["id"] == "ann"
    transfer = await ann.expect_error({"type": "transfer", "session_id": sid, "queue": "support"})
    assert transfer["code"] == "transfer_not_allowed"
    await ann.send({"type": "close", "session_id": sid})
    await ann.expect("session_closed", lambda f: f["session_id"] == sid)
    status = await nb_runtime.store.agent_status(TENANT, "ann")
    assert status is not None
    assert status.load == 0
    assert await nb_runtime.store.agent_sessions(TENANT, "ann") == []
    # Writing again reopens the same conversation, straight to ann.
    await nb_runtime.personal_inbox.deliver(number, sms(number, CUSTOMER, "one more thing"))
    again = await ann.expect("assigned", lambda f: len(f["history"]) > 2)
    assert again["session"]["id"] == sid
    assert ann.texts(sid)[-1] == "one more thing"


async def test_a_queue_conversation_keeps_its_slot_when_a_personal_one_closes(
    nb_client: Client, nb_admin: dict[str, str], nb_runtime: Runtime, nb_connect: Any
) -> None:
    ann: AgentClient = await nb_connect("ann")
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    await add_number(nb_client, nb_admin, "2015550124",
                     target={"kind": "stream", "stream": "sms-main"})  # fmt: skip
    line = await stored(nb_runtime, "2015550124")
    await nb_runtime.personal_inbox.deliver(line, sms(line, "+13125550100", "via the queue"))
    offer = await ann.expect("offer")
    await ann.accept(offer)
    await nb_runtime.personal_inbox.deliver(number, sms(number, CUSTOMER, "personal"))
    personal = await ann.expect("assigned", lambda f: f["session"]["stream"].startswith("user."))
    status = await nb_runtime.store.agent_status(TENANT, "ann")
    assert status is not None
    assert status.load == 1  # only the queue's conversation
    await ann.send({"type": "close", "session_id": personal["session"]["id"]})
    await ann.expect("session_closed")
    status = await nb_runtime.store.agent_status(TENANT, "ann")
    assert status is not None
    assert status.load == 1


async def test_a_user_who_connects_later_gets_the_conversation(
    nb_client: Client, nb_admin: dict[str, str], nb_runtime: Runtime, nb_connect: Any
) -> None:
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    await nb_runtime.personal_inbox.deliver(number, sms(number, CUSTOMER, "while you were out"))

    async def filed() -> bool:
        return bool(await nb_runtime.store.inbox.session_ids(TENANT, "2015550123"))

    await eventually(filed, "the conversation to be filed")
    ann: AgentClient = await nb_connect("ann", ready=False)
    assigned = await ann.expect("assigned")
    assert [m["text"] for m in assigned["history"]] == ["while you were out"]


async def test_a_provider_retry_is_filed_once(
    nb_client: Client, nb_admin: dict[str, str], nb_runtime: Runtime, nb_connect: Any
) -> None:
    ann: AgentClient = await nb_connect("ann")
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    first = sms(number, CUSTOMER, "once", ref="AccO09773Fd7Gdec")
    await nb_runtime.personal_inbox.deliver(number, first)
    sid = (await ann.expect("assigned"))["session"]["id"]
    retry = sms(number, CUSTOMER, "once", ref=first.provider_message_id)
    await nb_runtime.personal_inbox.deliver(number, retry)
    await nb_runtime.personal_inbox.deliver(number, sms(number, CUSTOMER, "twice"))
    await ann.expect("message", lambda f: f["message"]["text"] == "twice")
    history = await nb_runtime.store.history(TENANT, sid)
    assert [m.text for m in history] == ["once", "twice"]


async def test_a_message_for_a_deleted_number_is_dropped(
    nb_client: Client, nb_admin: dict[str, str], nb_runtime: Runtime
) -> None:
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    routed = sms(number, CUSTOMER, "too late").model_copy(update={"stream": "user.2015550123"})
    await nb_runtime.store.cpaas.delete_number(TENANT, "2015550123")
    await nb_runtime.pipeline.file(InboundWork(message=routed))
    assert await nb_runtime.store.inbox.session_ids(TENANT, "2015550123") == []
