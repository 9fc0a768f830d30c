"""The SMS/MMS API (``/api/v1/sms/messages``) against the fake Inteliquent: the *Use SMS/MMS
API* privilege, sending from a tenant number and reading the message back with its delivery
status, and the same consent and blocking rules as every other send (CPaaS keywords too)."""

from __future__ import annotations

from typing import Any

from channels.cpaas import ProvisioningState, UserTarget
from router.config import SMS_START_REPLY, SMS_STOP_REPLY
from router.runtime import Runtime
from tests.clients import AgentClient, eventually
from tests.fakes.inteliquent import receipt_body
from tests.sms.consent_fixtures import (  # noqa: F401 - the *_fixture are fixtures
    CPAAS_NUMBER,
    CRM_SECRET,
    SMS_CUSTOMER,
    Client,
    Iq,
    agent_send,
    bearer,
    client_token,
    cs_admin_fixture,
    cs_agent_fixture,
    cs_client_fixture,
    cs_iq_fixture,
    cs_runtime_fixture,
    cs_sms_api_fixture,
    password_token,
    put_cpaas_number,
)

SEND = {"from": "+1 (201) 555-0123", "to": "3125550199", "text": "Your order has shipped"}


async def send(client: Client, headers: dict[str, str], body: dict[str, Any],
               status: int = 202) -> dict[str, Any]:  # fmt: skip
    resp = await client.post("/api/v1/sms/messages", json=body, headers=headers)
    assert resp.status == status, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def read(client: Client, headers: dict[str, str], message_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/sms/messages/{message_id}", headers=headers)
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def test_the_privilege_is_required(
    cs_client: Client, cs_iq: Iq, cs_sms_api: dict[str, str]
) -> None:
    crm = bearer(await client_token(cs_client, "crm", CRM_SECRET))
    admin = bearer(await password_token(cs_client, "root"))
    for headers in (crm, admin):
        refused = await send(cs_client, headers, SEND, status=403)
        assert refused["error"]["code"] == "forbidden"
        assert "use_sms_api privilege" in refused["error"]["message"]
        assert (await cs_client.get("/api/v1/sms/messages/x", headers=headers)).status == 403
    assert (await cs_client.post("/api/v1/sms/messages", json=SEND)).status == 401
    sent = await send(cs_client, cs_sms_api, SEND)
    assert sent["status"] == "queued"
    await cs_iq.fake.wait_for("publishMessages")
    assert cs_iq.fake.published == [
        {"from": "1" + CPAAS_NUMBER, "to": ["13125550199"], "text": "Your order has shipped"}
    ]


async def test_send_read_back_delivery_status_and_the_customers_reply(
    cs_client: Client, cs_runtime: Runtime, cs_iq: Iq, cs_sms_api: dict[str, str],
    cs_agent: AgentClient,
) -> None:  # fmt: skip
    client, api = cs_client, cs_sms_api
    sent = await send(client, api, {**SEND, "media_urls": ["https://cdn.example.com/a.png"]})
    assert (sent["from"], sent["to"], sent["channel"], sent["direction"]) == (
        CPAAS_NUMBER, SMS_CUSTOMER, "sms", "outbound",
    )  # fmt: skip
    assert sent["media_urls"] == ["https://cdn.example.com/a.png"]
    await cs_iq.fake.wait_for("publishMessages")

    async def status_is(status: str) -> bool:
        return (await read(client, api, sent["id"]))["status"] == status

    await eventually(lambda: status_is("sent"), "the message sent")
    [reference] = cs_iq.fake.reference_ids
    resp = await client.post(
        "/webhooks/inteliquent/iq", data=receipt_body(reference, "1" + CPAAS_NUMBER,
                                                      "13125550199"),
        headers={"Content-Type": "application/json", "X-Auth": "hook-secret"},
    )  # fmt: skip
    assert resp.status == 200
    await eventually(lambda: status_is("delivered"), "the message delivered")
    back = await read(client, api, sent["id"])
    assert (back["id"], back["session_id"], back["text"]) == (sent["id"], sent["session_id"],
                                                              SEND["text"])  # fmt: skip

    # A second send goes into the same (closed, outbound-first) conversation...
    second = await send(client, api, {**SEND, "text": "Tracking: 1Z999"})
    assert second["session_id"] == sent["session_id"]
    # ...and the customer's reply reopens it, the API messages in its history.
    await cs_iq.sms_in("Thanks! When will it arrive?")
    offer = await cs_agent.expect("offer")
    assert offer["session_id"] == sent["session_id"]
    assert [m["text"] for m in offer["history"]] == [
        "Your order has shipped", "Tracking: 1Z999", "Thanks! When will it arrive?",
    ]  # fmt: skip
    assert offer["history"][0]["sender"] == {"kind": "system", "id": "sms-bot", "name": "API"}
    await cs_agent.accept(offer)
    # Sent while the agent holds it: the agent sees it.
    mark = len(cs_agent.frames)
    third = await send(client, api, {**SEND, "text": "It arrives tomorrow"})
    frame = await cs_agent.expect("message", after=mark)
    assert frame["message"]["id"] == third["id"]
    assert frame["message"]["segments"] == {"encoding": "gsm7", "count": 1}

    missing = await client.get("/api/v1/sms/messages/nope", headers=api)
    assert missing.status == 404


async def test_consent_keywords_on_a_cpaas_number_apply_to_the_api(
    cs_client: Client, cs_runtime: Runtime, cs_iq: Iq, cs_sms_api: dict[str, str],
    cs_admin: dict[str, str], cs_agent: AgentClient,
) -> None:  # fmt: skip
    client, api, iq = cs_client, cs_sms_api, cs_iq
    await iq.sms_in("STOP", reference_id="ref-stop")
    await cs_agent.accept(await cs_agent.expect("offer"))  # (an idle broker is a handled one)
    await iq.fake.wait_for("publishMessages")
    assert iq.texts() == [SMS_STOP_REPLY]
    assert iq.fake.published[0]["to"] == ["13125550199"]
    refused = await send(client, api, SEND, status=409)
    assert refused["error"]["code"] == "opted_out"
    assert "opted out (STOP)" in refused["error"]["message"]
    await iq.sms_in("Stop.")
    await cs_runtime.broker.join()
    assert iq.texts() == [SMS_STOP_REPLY]

    resp = await client.get(f"/api/v1/consent/{CPAAS_NUMBER}/3125550199", headers=api)
    state = await resp.json()
    assert (state["channel"], state["party"], state["state"]) == ("sms", SMS_CUSTOMER,
                                                                  "opted_out")  # fmt: skip
    ledger = await client.get("/api/v1/consent-ledger", params={"number": "12015550123"},
                              headers=cs_admin)  # fmt: skip
    [entry] = (await ledger.json())["items"]
    assert (entry["channel"], entry["party"], entry["provider_message_id"]) == (
        "sms", SMS_CUSTOMER, "ref-stop",
    )  # fmt: skip

    await iq.sms_in("unstop")
    await iq.fake.wait_for("publishMessages", 2)
    assert iq.texts()[1] == SMS_START_REPLY
    await send(client, api, SEND)
    await iq.fake.wait_for("publishMessages", 3)
    assert iq.texts()[2] == SEND["text"]


async def test_blocked_cpaas_number_cannot_be_sent_to_nor_reach_us(
    cs_client: Client, cs_runtime: Runtime, cs_iq: Iq, cs_sms_api: dict[str, str],
    cs_agent: AgentClient, cs_admin: dict[str, str],
) -> None:  # fmt: skip
    await cs_iq.sms_in("hello")
    offer = await cs_agent.expect("offer")
    await cs_agent.accept(offer)
    mark = len(cs_agent.frames)
    await cs_agent.send({"type": "block", "session_id": offer["session_id"]})
    blocked = await cs_agent.expect("blocked", after=mark)
    assert blocked["party"] == SMS_CUSTOMER
    refused = await send(cs_client, cs_sms_api, SEND, status=409)
    assert refused["error"]["code"] == "blocked"
    await cs_iq.sms_in("are you ignoring me?")
    await cs_runtime.broker.join()
    session = await cs_runtime.conversations.session("acme", offer["session_id"], history=True)
    assert [m.text for m in session.history] == ["hello"]
    assert cs_runtime.metrics.blocked_messages.labels("sms")._value.get() == 1
    assert cs_iq.fake.published == []
    url = f"/api/v1/blocked-numbers/{CPAAS_NUMBER}/{SMS_CUSTOMER}"
    assert (await cs_client.delete(url, headers=cs_admin)).status == 204
    await send(cs_client, cs_sms_api, SEND)
    await cs_iq.fake.wait_for("publishMessages")


async def test_bad_requests(
    cs_client: Client, cs_runtime: Runtime, cs_iq: Iq, cs_sms_api: dict[str, str]
) -> None:
    client, api = cs_client, cs_sms_api
    cases = [
        ({**SEND, "from": "12345"}, 400, "invalid", "from"),
        ({**SEND, "to": "+44 7700 900001"}, 400, "invalid", "to"),
        ({**SEND, "from": "9495550100"}, 404, "not_found", "from"),
        ({"from": SEND["from"], "to": SEND["to"]}, 400, "empty_message", "text"),
        ({**SEND, "media_urls": ["ftp://x"]}, 400, "invalid", "media_urls.0"),
        ({**SEND, "colour": "red"}, 400, "invalid", "colour"),
        ({**SEND, "text": "x" * 1601}, 400, "invalid", "text"),
    ]
    for body, status, code, field in cases:
        error = (await send(client, api, body, status=status))["error"]
        assert (error["code"], error["field"]) == (code, field), body
    resp = await client.post("/api/v1/sms/messages", data=b"{nope", headers=api)
    assert (await resp.json())["error"]["code"] == "malformed_json"
    pending = await put_cpaas_number(cs_runtime, number="2015550124")
    await cs_runtime.store.cpaas.put_number(
        pending.model_copy(update={"provisioning": ProvisioningState.PENDING})
    )
    error = (await send(client, api, {**SEND, "from": "2015550124"}, status=409))["error"]
    assert error["code"] == "number_not_ready"
    assert cs_iq.fake.published == []


async def test_from_a_personal_number(
    cs_client: Client, cs_runtime: Runtime, cs_iq: Iq, cs_sms_api: dict[str, str]
) -> None:
    number = await cs_runtime.store.cpaas.number("acme", CPAAS_NUMBER)
    assert number is not None
    await cs_runtime.store.cpaas.put_number(
        number.model_copy(update={"target": UserTarget(agent="ann")})
    )
    sent = await send(cs_client, cs_sms_api, SEND)
    session = await cs_runtime.conversations.session("acme", sent["session_id"])
    assert session.stream == f"user.{CPAAS_NUMBER}"
    await cs_iq.fake.wait_for("publishMessages")
