"""Consent keywords on every SMS channel, through the real app: a customer texts STOP to a
Vonage number (signed webhook), gets exactly one confirmation from the fake Vonage host, and
from then on nothing reaches them (agent error frame, outbound safety net) until START."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from queues import names
from router.config import SMS_START_REPLY, SMS_STOP_REPLY
from router.consent import detect, party_id
from router.events import OutboundWork, envelope
from router.models import ChannelKind, Direction, Message, MessageStatus, Sender, SenderKind
from router.runtime import Runtime
from tests.clients import AgentClient, eventually
from tests.sms.consent_fixtures import (  # noqa: F401 - the *_fixture are fixtures
    CUSTOMER,
    Client,
    Vonage,
    agent_send,
    bearer,
    cs_admin_fixture,
    cs_agent_fixture,
    cs_client_fixture,
    cs_runtime_fixture,
    cs_vonage_fixture,
    open_conversation,
    password_token,
    text_in,
    vonage_account,
)

HELP = "ACME support: reply with your question. Reply STOP to stop."


@pytest.mark.parametrize(
    ("text", "word", "action"),
    [
        ("STOP", "STOP", "opt_out"),
        ("stop", "STOP", "opt_out"),
        (" Stop! ", "STOP", "opt_out"),
        ("STOP.", "STOP", "opt_out"),
        ("\n\tstop!!!\n", "STOP", "opt_out"),
        ("StopAll", "STOPALL", "opt_out"),
        ("unsubscribe", "UNSUBSCRIBE", "opt_out"),
        ("Cancel", "CANCEL", "opt_out"),
        ("end", "END", "opt_out"),
        ("QUIT", "QUIT", "opt_out"),
        ("revoke.", "REVOKE", "opt_out"),
        ("optout", "OPTOUT", "opt_out"),
        ("Opt Out", "OPTOUT", "opt_out"),
        ("OPT-OUT", "OPTOUT", "opt_out"),
        ("opt  out!", "OPTOUT", "opt_out"),
        ("START", "START", "opt_in"),
        ("unstop", "UNSTOP", "opt_in"),
        ("Yes!", "YES", "opt_in"),
        ("help", "HELP", "help"),
        ("Info?", "INFO", "help"),
    ],
)
def test_keywords(text: str, word: str, action: str) -> None:
    found = detect(text)
    assert found is not None
    assert (found.word, found.action) == (word, action)


@pytest.mark.parametrize(
    "text",
    ["stop please", "please stop", "STOPP", "S T O P", "don't stop", "optout now", "opt in",
     "yes please", "help me", "", None, "!!!", "stop stop"],
)  # fmt: skip
def test_not_keywords(text: str | None) -> None:
    assert detect(text) is None


def test_party_ids_per_channel() -> None:
    assert party_id(ChannelKind.SMS, "3125550199") == "+13125550199"
    assert party_id(ChannelKind.SMS, "+1 (312) 555-0199") == "+13125550199"
    assert party_id(ChannelKind.VONAGE, "+447700900001") == "447700900001"
    assert party_id(ChannelKind.VONAGE, "13125550199") == "13125550199"


async def ledger(client: Client, headers: dict[str, str], **query: str) -> dict[str, Any]:
    resp = await client.get("/api/v1/consent-ledger", params=query, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_stop_confirms_once_then_nothing_is_sent_until_start(
    cs_client: Client, cs_runtime: Runtime, cs_vonage: Vonage, cs_agent: AgentClient,
    cs_admin: dict[str, str],
) -> None:  # fmt: skip
    client, rt, vonage, ann = cs_client, cs_runtime, cs_vonage, cs_agent
    session = await open_conversation(client, vonage, ann, "Hi, where is my parcel?")
    await text_in(client, vonage.account, " Stop! ", message_id="0C01")
    await vonage.fake.wait_for("/sms/json", 1)
    [confirmation] = vonage.fake.sms
    assert confirmation["text"] == SMS_STOP_REPLY
    assert confirmation["to"] == CUSTOMER
    # The keyword is filed and routed like any message: the agent sees it.
    await ann.wait(lambda: " Stop! " in ann.texts(session), "the STOP message")

    error = await agent_send(ann, session, "Are you still there?")
    assert error["type"] == "error"
    assert error["code"] == "opted_out"
    assert error["message"].startswith("the customer opted out (STOP) of messages from this")
    assert error["message"].endswith("; nothing was sent")

    # A second STOP changes nothing and is not confirmed again.
    await text_in(client, vonage.account, "stop", message_id="0C02")
    await rt.broker.join()
    assert vonage.texts() == [SMS_STOP_REPLY]

    # HELP is answered even while opted out.
    await text_in(client, vonage.account, "HELP", message_id="0C03")
    await vonage.fake.wait_for("/sms/json", 2)
    assert vonage.texts() == [SMS_STOP_REPLY, HELP]

    await text_in(client, vonage.account, "Start", message_id="0C04")
    await vonage.fake.wait_for("/sms/json", 3)
    assert vonage.texts()[2] == SMS_START_REPLY
    echo = await agent_send(ann, session, "Welcome back")
    assert echo["type"] == "message"
    assert echo["message"]["segments"] == {"encoding": "gsm7", "count": 1}
    await vonage.fake.wait_for("/sms/json", 4)
    assert vonage.texts() == [SMS_STOP_REPLY, HELP, SMS_START_REPLY, "Welcome back"]

    # The ledger: two changes of this pair, newest first, with the provider's message ids.
    body = await ledger(client, cs_admin, number=vonage.account, party="+" + CUSTOMER)
    assert body["total"] == 2
    assert [(e["direction"], e["keyword"], e["source"], e["provider_message_id"])
            for e in body["items"]] == [("in", "START", "keyword", "0C04"),
                                        ("out", "STOP", "keyword", "0C01")]  # fmt: skip
    assert {e["channel"] for e in body["items"]} == {"vonage"}
    assert {e["session_id"] for e in body["items"]} == {session}
    newest, oldest = (datetime.fromisoformat(e["at"]) for e in body["items"])
    assert newest > oldest
    everything = await ledger(client, cs_admin)
    assert everything["total"] == 2
    by_party = await ledger(client, cs_admin, party=CUSTOMER, limit="1", offset="1")
    assert [e["keyword"] for e in by_party["items"]] == ["STOP"]
    assert by_party["total"] == 2

    resp = await client.get(f"/api/v1/consent/{vonage.account}/{CUSTOMER}", headers=cs_admin)
    state = await resp.json()
    assert (state["state"], state["keyword"], state["blocked"]) == ("opted_in", "START", False)


async def test_an_opted_out_customer_still_reaches_agents_but_gets_no_automatic_reply(
    cs_client: Client, cs_runtime: Runtime, cs_vonage: Vonage, cs_agent: AgentClient,
    cs_admin: dict[str, str],
) -> None:  # fmt: skip
    """STOP as the first message of a conversation on a stream with an initial reply: the
    confirmation goes out, the initial reply does not, and the conversation is offered."""
    client, vonage, ann = cs_client, cs_vonage, cs_agent
    greeting = await vonage_account(client, cs_admin, vonage.url, stream="vonage-greeting")
    await text_in(client, greeting, "UNSUBSCRIBE")
    offer = await ann.expect("offer")
    assert [m["text"] for m in offer["history"]][:2] == ["UNSUBSCRIBE", SMS_STOP_REPLY]
    await cs_runtime.broker.join()
    assert vonage.texts() == [SMS_STOP_REPLY]


async def test_words_in_a_sentence_and_a_yes_without_opt_out_send_nothing(
    cs_client: Client, cs_runtime: Runtime, cs_vonage: Vonage, cs_agent: AgentClient,
    cs_admin: dict[str, str],
) -> None:  # fmt: skip
    client, vonage, ann = cs_client, cs_vonage, cs_agent
    session = await open_conversation(client, vonage, ann, "stop please, I was charged twice")
    await text_in(client, vonage.account, "Yes")
    await ann.wait(lambda: "Yes" in ann.texts(session), "the YES message")
    await cs_runtime.broker.join()
    assert vonage.texts() == []
    assert (await agent_send(ann, session, "Let me check"))["type"] == "message"
    await vonage.fake.wait_for("/sms/json", 1)
    assert (await ledger(client, cs_admin))["total"] == 0


async def test_a_reply_queued_before_the_stop_fails_in_the_outbound_worker(
    cs_client: Client, cs_runtime: Runtime, cs_vonage: Vonage, cs_agent: AgentClient,
    cs_admin: dict[str, str],
) -> None:  # fmt: skip
    client, rt, vonage, ann = cs_client, cs_runtime, cs_vonage, cs_agent
    session_id = await open_conversation(client, vonage, ann)
    resp = await client.put(f"/api/v1/consent/{vonage.account}/{CUSTOMER}",
                            json={"state": "opted_out", "note": "asked by phone"},
                            headers=cs_admin)  # fmt: skip
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["changed"] is True
    # What Conversations.send had queued just before: filed, then on the outbound queue.
    session = await rt.conversations.session("acme", session_id)
    message = Message(
        id="late-reply", tenant="acme", channel=ChannelKind.VONAGE, account=vonage.account,
        stream="vonage", direction=Direction.OUTBOUND, remote_party=session.remote_party,
        sender=Sender(kind=SenderKind.AGENT, id="ann"), text="one more thing",
    )  # fmt: skip
    seq = (
        await rt.store.file_outbound(
            message, session_id=session_id, agent="ann", inactivity_seconds=600
        )
    ).seq
    assert seq is not None
    filed = message.model_copy(update={"session_id": session_id, "seq": seq})
    queue = names.outbound(names.partition_of(f"acme|vonage|{CUSTOMER}", rt.settings.partitions))
    await rt.broker.publish(queue, envelope(OutboundWork(tenant="acme", session_id=session_id,
                                                         message=filed)))  # fmt: skip
    await rt.broker.join()
    [dead] = await rt.broker.dead_letters(queue)
    assert "opted out by an administrator" in (dead.dead_letter_reason or "")

    async def failed() -> bool:
        history = await rt.store.history("acme", session_id, start=seq)
        return history[0].status is MessageStatus.FAILED

    await eventually(failed, "the late reply marked failed")
    [late] = await rt.store.history("acme", session_id, start=seq)
    assert late.error is not None
    assert late.error.startswith("the customer was opted out by an administrator")
    assert vonage.fake.sms == []
    entries = (await ledger(client, cs_admin, number=vonage.account))["items"]
    assert [(e["source"], e["actor"], e["note"], e["keyword"]) for e in entries] == [
        ("admin", "root", "asked by phone", None)
    ]
    # An admin's opt-in lets sends through again (no message is sent for it).
    resp = await client.put(f"/api/v1/consent/{vonage.account}/{CUSTOMER}",
                            json={"state": "opted_in"}, headers=cs_admin)  # fmt: skip
    assert (await resp.json())["state"] == "opted_in"
    assert (await agent_send(ann, session_id, "Back again"))["type"] == "message"
    await vonage.fake.wait_for("/sms/json", 1)
    assert vonage.texts() == ["Back again"]


async def test_who_may_read_and_change_consent(
    cs_client: Client, cs_vonage: Vonage, cs_admin: dict[str, str]
) -> None:
    client, account = cs_client, cs_vonage.account
    agent = bearer(await password_token(client, "ann"))
    supervisor = bearer(await password_token(client, "sue"))
    assert (await client.get("/api/v1/consent-ledger", headers=agent)).status == 403
    assert (await client.get("/api/v1/consent-ledger", headers=supervisor)).status == 200
    url = f"/api/v1/consent/{account}/{CUSTOMER}"
    resp = await client.get(url, headers=supervisor)
    assert (await resp.json())["state"] == "none"
    body = {"state": "opted_out"}
    assert (await client.put(url, json=body, headers=supervisor)).status == 403
    assert (await client.put(url, json={"state": "maybe"}, headers=cs_admin)).status == 400
    resp = await client.get("/api/v1/consent/no-such-account/123", headers=cs_admin)
    assert resp.status == 404
    resp = await client.get("/api/v1/consent-ledger?number=nope", headers=cs_admin)
    assert resp.status == 404
    resp = await client.get("/api/v1/consent-ledger?limit=0", headers=cs_admin)
    assert resp.status == 400
    assert (await client.get(url, headers=agent)).status == 403
