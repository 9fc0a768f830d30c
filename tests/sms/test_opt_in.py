"""Opt-in (*User Confirmation Required*): nothing reaches a user on a new number until they
accept it on the desktop; a decline emails every alert recipient (real SMTP server); an admin
reset asks again."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.cpaas import CpaasNumber, CpaasPlatform
from router.models import SessionState
from router.runtime import Runtime
from tests.clients import AgentClient, Frame, eventually
from tests.sms.numbers_fixtures import (
    TENANT,
    GatedInteliquent,
    Mailbox,
    add_number,
    nb_admin,
    nb_client,
    nb_config,
    nb_connect,
    nb_fake,
    nb_runtime,
    nb_smtp,
    nb_store,
    platform,
    sms,
    stored,
)

__all__ = [  # fixtures used by name
    "nb_admin", "nb_client", "nb_config", "nb_connect", "nb_fake", "nb_runtime", "nb_smtp",
    "nb_store",
]  # fmt: skip

Client = TestClient[Any, Any]
Headers = dict[str, str]
NUMBER = "2015550123"
REQUEST = {"number": NUMBER, "friendly_name": "Ann's line"}


@pytest.fixture
def nb_platforms(nb_fake: tuple[GatedInteliquent, str]) -> list[CpaasPlatform]:
    """A platform requiring user confirmation."""
    return [platform(nb_fake[1], confirm=True)]


async def anns_number(client: Client, admin: Headers, runtime: Runtime) -> CpaasNumber:
    view = await add_number(client, admin, NUMBER, friendly_name="Ann's line")
    assert view["opt_in"] == {"state": "pending", "at": None}
    await runtime.numbers.settled(TENANT, NUMBER)
    return await stored(runtime, NUMBER)


async def held(runtime: Runtime, count: int, messages: int | None = None) -> list[str]:
    """Wait until ``count`` conversations (``messages`` messages) are filed on the number,
    all held (state new)."""
    found: list[str] = []

    async def filed() -> bool:
        found[:] = await runtime.store.inbox.session_ids(TENANT, NUMBER)
        total = 0
        for sid in found:
            total += len(await runtime.store.history(TENANT, sid))
        return len(found) >= count and total >= (messages or count)

    await eventually(filed, f"{count} conversation(s) filed")
    for sid in found:
        session = await runtime.store.load_session(TENANT, sid, with_history=False)
        assert session is not None
        assert session.state is SessionState.NEW
        assert session.agent is None
    return found


async def answer(agent: AgentClient, accept: bool, number: str = NUMBER) -> Frame:
    mark = len(agent.frames)
    await agent.send({"type": "opt_in", "number": number, "accept": accept})
    return await agent.expect("opt_in_state", after=mark)


async def test_the_user_is_asked_live_and_on_every_connect_until_answering(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_connect: Any
) -> None:
    ann: AgentClient = await nb_connect("ann")
    assert ann.of("hello")[0]["opt_in_requests"] == []
    await anns_number(nb_client, nb_admin, nb_runtime)
    prompt = await ann.expect("opt_in_request")
    assert {"number": prompt["number"], "friendly_name": prompt["friendly_name"]} == REQUEST
    again: AgentClient = await nb_connect("ann", ready=False)
    assert again.of("hello")[0]["opt_in_requests"] == [REQUEST]
    bob: AgentClient = await nb_connect("bob")
    assert bob.of("hello")[0]["opt_in_requests"] == []
    await answer(ann, True)
    later: AgentClient = await nb_connect("ann", ready=False)
    assert later.of("hello")[0]["opt_in_requests"] == []


async def test_messages_wait_until_the_user_accepts(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_connect: Any
) -> None:
    ann: AgentClient = await nb_connect("ann")
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    for customer in ("+13125550101", "+13125550102"):
        await nb_runtime.personal_inbox.deliver(number, sms(number, customer, f"hi {customer}"))
    await nb_runtime.personal_inbox.deliver(number, sms(number, "+13125550101", "hello?"))
    sids = await held(nb_runtime, 2, messages=3)
    assert ann.of("assigned") == []
    assert ann.of("message") == []

    state = await answer(ann, True)
    assert state["number"] == NUMBER
    assert state["state"] == "accepted"
    assert state["at"] is not None
    await ann.wait(lambda: len(ann.of("assigned")) == 2, "the held conversations")
    texts = {f["session"]["customer"]["id"]: [m["text"] for m in f["history"]]
             for f in ann.of("assigned")}  # fmt: skip
    assert texts == {"+13125550101": ["hi +13125550101", "hello?"],
                     "+13125550102": ["hi +13125550102"]}  # fmt: skip
    assert {f["session"]["id"] for f in ann.of("assigned")} == set(sids)
    shown = await (await nb_client.get(f"/api/v1/numbers/{NUMBER}", headers=nb_admin)).json()
    assert shown["opt_in"] == {"state": "accepted", "at": state["at"]}
    # From now on, straight to ann.
    await nb_runtime.personal_inbox.deliver(number, sms(number, "+13125550103", "new"))
    fresh = await ann.expect("assigned", lambda f: f["session"]["customer"]["id"].endswith("03"))
    assert [m["text"] for m in fresh["history"]] == ["new"]


async def test_a_decline_keeps_messages_held_and_alerts_every_recipient(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_connect: Any,
    nb_smtp: Mailbox,
) -> None:  # fmt: skip
    ann: AgentClient = await nb_connect("ann")
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    await nb_runtime.personal_inbox.deliver(number, sms(number, "+13125550101", "spam?"))
    await held(nb_runtime, 1)
    state = await answer(ann, False)
    assert state["state"] == "declined"
    assert state["at"] is not None
    messages = await nb_smtp.wait_for(2)
    assert nb_smtp.recipients() == {"ops@acme.test", "cto@acme.test"}  # not the one switched off
    for _, email in messages:
        assert "Ann Archer" in email["Subject"]
        body = email.get_payload(decode=True).decode()
        assert NUMBER in body
        assert "Ann's line" in body
        assert "Ann Archer declined SMS" in body
    shown = await (await nb_client.get(f"/api/v1/numbers/{NUMBER}", headers=nb_admin)).json()
    assert shown["opt_in"] == {"state": "declined", "at": state["at"]}
    # Still held, new messages too.
    await nb_runtime.personal_inbox.deliver(number, sms(number, "+13125550102", "anyone?"))
    await held(nb_runtime, 2)
    assert ann.of("assigned") == []
    # A declined number cannot be accepted by the user without a reset.
    error = await ann.expect_error({"type": "opt_in", "number": NUMBER, "accept": True})
    assert error["code"] == "opt_in_answered"
    assert error["ref"] == "opt_in"


async def test_an_admin_reset_asks_the_user_again(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_connect: Any,
    nb_smtp: Mailbox,
) -> None:  # fmt: skip
    ann: AgentClient = await nb_connect("ann")
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    await nb_runtime.personal_inbox.deliver(number, sms(number, "+13125550101", "wait for me"))
    await held(nb_runtime, 1)
    await answer(ann, False)
    await nb_smtp.wait_for(2)
    mark = len(ann.frames)
    resp = await nb_client.post(f"/api/v1/numbers/{NUMBER}/reset-opt-in", headers=nb_admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["opt_in"] == {"state": "pending", "at": None}
    prompt = await ann.expect("opt_in_request", after=mark)  # live, ann is connected
    assert prompt["number"] == NUMBER
    reconnected: AgentClient = await nb_connect("ann", ready=False)
    assert reconnected.of("hello")[0]["opt_in_requests"] == [REQUEST]
    accepted = await answer(reconnected, True)
    assert accepted["state"] == "accepted"
    assigned = await reconnected.expect("assigned")
    assert [m["text"] for m in assigned["history"]] == ["wait for me"]
    await ann.expect("assigned")  # every socket of the user gets it


async def test_opt_in_does_not_apply_to_media_streams(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_connect: Any
) -> None:
    view = await add_number(nb_client, nb_admin, NUMBER,
                            target={"kind": "stream", "stream": "sms-main"})  # fmt: skip
    assert view["opt_in"] == {"state": "not_required", "at": None}
    resp = await nb_client.post(f"/api/v1/numbers/{NUMBER}/reset-opt-in", headers=nb_admin)
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "opt_in_not_applicable"
    ann: AgentClient = await nb_connect("ann")
    error = await ann.expect_error({"type": "opt_in", "number": NUMBER, "accept": True})
    assert error["code"] == "not_found"


async def test_a_user_answers_only_for_their_own_numbers(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_connect: Any
) -> None:
    await anns_number(nb_client, nb_admin, nb_runtime)
    bob: AgentClient = await nb_connect("bob")
    error = await bob.expect_error({"type": "opt_in", "number": NUMBER, "accept": True})
    assert error["code"] == "not_found"
    bad = await bob.expect_error({"type": "opt_in", "number": NUMBER})
    assert bad["code"] == "invalid_frame"
    assert (await stored(nb_runtime, NUMBER)).opt_in.state.value == "pending"


async def test_a_new_user_on_the_number_is_asked_and_the_old_one_lets_go(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_connect: Any
) -> None:
    ann: AgentClient = await nb_connect("ann")
    bob: AgentClient = await nb_connect("bob")
    number = await anns_number(nb_client, nb_admin, nb_runtime)
    await answer(ann, True)
    await nb_runtime.personal_inbox.deliver(number, sms(number, "+13125550101", "for ann"))
    sid = (await ann.expect("assigned"))["session"]["id"]
    resp = await nb_client.patch(
        f"/api/v1/numbers/{NUMBER}", json={"target": {"kind": "user", "agent": "bob"}},
        headers=nb_admin,
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    view = await resp.json()
    assert view["opt_in"]["state"] == "pending"
    assert view["consumer"]["id"] == "bob"
    closed = await ann.expect("session_closed", lambda f: f["session_id"] == sid)
    assert closed["reason"] == "reassigned"
    await bob.expect("opt_in_request")
    await nb_runtime.personal_inbox.deliver(number, sms(number, "+13125550101", "for bob?"))
    await answer(bob, True)
    assigned = await bob.expect("assigned")
    assert assigned["session"]["id"] == sid  # the number's conversation, reopened for bob
    assert [m["text"] for m in assigned["history"]][-1] == "for bob?"
