"""Inbound CPaaS SMS/MMS through ``/webhooks/inteliquent/{platform}``: verification, group MMS,
routing to a media stream or a personal inbox, delivery receipts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels.cpaas import CpaasNumber, MessageIdVerification, StreamTarget, UserTarget
from router.models import Message, MessageStatus
from tests.clients import AgentClient, eventually
from tests.fakes.inteliquent import (
    header_headers,
    inbound_body,
    message_id_headers,
    receipt_body,
)
from tests.sms.conftest import CUSTOMER, HEADER, OUR, OUR2, Sms


async def _session(sms: Sms, stream: str = "sms", party: str = CUSTOMER) -> str | None:
    return await sms.runtime.store.current_session_id("acme", stream, party)


async def _has_session(sms: Sms) -> bool:
    return await _session(sms) is not None


def _failures(sms: Sms) -> float:
    value = sms.runtime.metrics.registry.get_sample_value(
        "switchboard_webhook_signature_failures_total", {"channel": "sms"}
    )
    return value or 0.0


async def test_sms_reaches_an_agent_through_a_stream_number(sms: Sms, agent: AgentClient) -> None:
    resp = await sms.post(inbound_body("13125550199", ["12015550123"], "Hello there"))
    assert resp.status == 200
    assert await resp.json() == {"statusCode": "200", "status": "success"}
    offer = await agent.expect("offer")
    assigned = await agent.accept(offer)
    [message] = assigned["history"]
    assert message["text"] == "Hello there"
    assert assigned["session"]["channel"] == "sms"
    session = await sms.runtime.store.load_session("acme", assigned["session"]["id"])
    assert session is not None
    assert (session.account, session.remote_party.id, session.stream) == (OUR, CUSTOMER, "sms")


async def test_numbers_are_taken_as_ints_10_digits_or_with_plus(sms: Sms) -> None:
    body = json.dumps(
        {"referenceId": 987654321, "from": 3125550199, "to": [2015550123], "text": "int"}
    ).encode()
    assert (await sms.post(body)).status == 200
    assert (await sms.post(inbound_body("+13125550188", ["+12015550123"], "plus"))).status == 200

    async def both() -> bool:
        return bool(await _session(sms) and await _session(sms, party="+13125550188"))

    await eventually(both, "both customers' sessions")


async def test_mms_keeps_every_media_url(sms: Sms, agent: AgentClient) -> None:
    urls = [
        "https://media.inteliquent.example/attachment/file1.jpg",
        "https://media.inteliquent.example/attachment/clip.mp4",
        "https://media.inteliquent.example/attachment/card.vcf",
    ]
    resp = await sms.post(inbound_body("13125550199", ["12015550123"], "pics", urls))
    assert resp.status == 200
    assigned = await agent.accept(await agent.expect("offer"))
    [message] = assigned["history"]
    assert message["text"] == "pics"
    assert [(a["url"], a["content_type"], a["name"]) for a in message["attachments"]] == [
        (urls[0], "image/jpeg", "file1.jpg"),
        (urls[1], "video/mp4", "clip.mp4"),
        (urls[2], "text/vcard", "card.vcf"),
    ]


async def test_media_only_mms_is_filed(sms: Sms, agent: AgentClient) -> None:
    url = "https://media.inteliquent.example/a/photo.png"
    assert (await sms.post(inbound_body("13125550199", ["12015550123"], None, [url]))).status == 200
    [message] = (await agent.accept(await agent.expect("offer")))["history"]
    assert message["text"] is None
    assert message["attachments"][0]["url"] == url


async def test_group_mms_reaches_each_of_our_numbers(sms: Sms) -> None:
    await sms.put_number(OUR2, target=StreamTarget(stream="sms2"))
    body = inbound_body(
        "13125550199",
        ["12015550123", "13125550777", "12015550124"],
        "group hello",
        ["https://media.example/g.gif"],
        reference_id="grp-1",
    )
    assert (await sms.post(body)).status == 200

    async def filed_twice() -> bool:
        return bool(await _session(sms, "sms") and await _session(sms, "sms2"))

    await eventually(filed_twice, "the message filed for both numbers")
    for stream, number in (("sms", OUR), ("sms2", OUR2)):
        sid = await _session(sms, stream)
        assert sid is not None
        [message] = await sms.runtime.store.history("acme", sid)
        assert (message.account, message.text, message.provider_message_id) == (
            number,
            "group hello",
            "grp-1",
        )
        assert message.attachments[0].content_type == "image/gif"


async def test_a_retried_webhook_is_filed_once(sms: Sms) -> None:
    body = inbound_body("13125550199", ["12015550123"], "once", reference_id="AccO09773Fd7Gdec")
    assert (await sms.post(body)).status == 200
    assert (await sms.post(body)).status == 200
    after = inbound_body("13125550199", ["12015550123"], "after", reference_id="AccO09773Fd7Geed")
    assert (await sms.post(after)).status == 200
    texts: list[str | None] = []

    async def filed_after() -> bool:
        sid = await _session(sms)
        texts[:] = [m.text for m in await sms.runtime.store.history("acme", sid)] if sid else []
        return "after" in texts

    # One session, one partition: "after" is filed after both copies were handled.
    await eventually(filed_after, "the later message filed")
    assert texts == ["once", "after"]


async def test_bad_verification_is_refused_and_nothing_stored(sms: Sms) -> None:
    body = inbound_body("13125550199", ["12015550123"], "forged")
    before = _failures(sms)
    for headers in (
        header_headers(HEADER, "wrong-value"),
        {"Content-Type": "application/json"},
        header_headers("X-Other", "h3ad3r-v4lu3-0123456789"),
    ):
        resp = await sms.post(body, headers)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_signature"
    assert _failures(sms) == before + 3
    await sms.runtime.broker.join()
    assert await _session(sms) is None


async def test_header_name_is_case_insensitive(sms: Sms) -> None:
    headers = header_headers(HEADER.lower(), "h3ad3r-v4lu3-0123456789")
    assert (
        await sms.post(inbound_body("13125550199", ["12015550123"], "hi"), headers)
    ).status == 200


async def test_message_id_verification_both_algorithms(sms: Sms) -> None:
    for algorithm in ("hmac_sha256", "sha256_concat"):
        verification = MessageIdVerification(inbound_api_key="inb0und-k3y", algorithm=algorithm)
        await sms.put_platform(inbound_verification=verification)
        body = inbound_body("13125550199", ["12015550123"], algorithm)
        good = message_id_headers("inb0und-k3y", algorithm)
        assert (await sms.post(body, good)).status == 200
        other = "sha256_concat" if algorithm == "hmac_sha256" else "hmac_sha256"
        wrong_algorithm = message_id_headers("inb0und-k3y", other)
        assert (await sms.post(body, wrong_algorithm)).status == 401
        wrong_key = message_id_headers("another-key", algorithm)
        assert (await sms.post(body, wrong_key)).status == 401
        no_token = {k: v for k, v in good.items() if k != "VerificationToken"}
        assert (await sms.post(body, no_token)).status == 401


async def test_unknown_number_platform_and_malformed_bodies(sms: Sms) -> None:
    assert (await sms.post(inbound_body("13125550199", ["19495550100"], "?"))).status == 200
    assert (
        await sms.post(inbound_body("13125550199", ["12015550123"]), platform="nope")
    ).status == 404
    for bad in (
        b"not json",
        b"[]",
        json.dumps({"from": "1", "to": ["12015550123"]}).encode(),
        json.dumps({"referenceId": "x", "to": ["12015550123"]}).encode(),
    ):
        assert (await sms.post(bad)).status == 400
    await sms.runtime.broker.join()
    assert await _session(sms) is None


async def test_broker_down_answers_503(sms: Sms) -> None:
    await sms.runtime.broker.close()
    resp = await sms.post(inbound_body("13125550199", ["12015550123"], "later"))
    assert resp.status == 503


async def test_a_user_number_goes_to_the_personal_inbox(
    sms: Sms, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sms.put_number(OUR2, target=UserTarget(agent="ann"))
    delivered: list[tuple[CpaasNumber, Message]] = []

    async def deliver(number: CpaasNumber, message: Message) -> None:
        delivered.append((number, message))

    monkeypatch.setattr(sms.runtime.personal_inbox, "deliver", deliver)
    body = inbound_body("13125550199", ["12015550124"], "for ann", reference_id="u-1")
    assert (await sms.post(body)).status == 200
    [(number, message)] = delivered
    assert number.number == OUR2
    assert (message.account, message.text, message.remote_party.id) == (OUR2, "for ann", CUSTOMER)
    assert message.provider_message_id == "u-1"


async def _reply(agent: AgentClient, sms: Sms, text: str) -> dict[str, Any]:
    assert (await sms.post(inbound_body("13125550199", ["12015550123"], "hi"))).status == 200
    assigned = await agent.accept(await agent.expect("offer"))
    frame = await agent.reply(assigned["session"]["id"], text)
    return frame


async def test_agent_reply_goes_out_and_its_delivery_receipt_marks_it(
    sms: Sms, agent: AgentClient
) -> None:
    frame = await _reply(agent, sms, "Hi! How can we help?")
    [published] = await sms.fake.wait_for("publishMessages")
    assert published.headers["Authorization"] == "Bearer ZJUJZLWYI9Nb1la7WKLkgsqdczzMTb"
    assert published.json() == {
        "from": "12015550123",
        "to": ["13125550199"],
        "text": "Hi! How can we help?",
    }
    session_id, seq = frame["session_id"], frame["message"]["seq"]
    statuses = sms.runtime.store.deliveries.statuses

    async def status_is(expected: MessageStatus) -> bool:
        return (await statuses("acme", session_id)).get(seq, (None, None))[0] is expected

    await eventually(lambda: status_is(MessageStatus.SENT), "the message marked sent")
    [reference] = sms.fake.reference_ids
    assert (await sms.post(receipt_body(reference, "12015550123", "13125550199"))).status == 200
    await eventually(lambda: status_is(MessageStatus.DELIVERED), "the delivery receipt applied")


async def test_a_refused_send_fails_with_the_providers_reason(sms: Sms, agent: AgentClient) -> None:
    sms.fake.fail_next(
        200, body={"success": False, "reason": "INVALID_TN", "detail": "To number not valid"}
    )
    frame = await _reply(agent, sms, "will fail")
    statuses = sms.runtime.store.deliveries.statuses

    async def failed() -> bool:
        status = (await statuses("acme", frame["session_id"])).get(frame["message"]["seq"])
        return status is not None and status[0] is MessageStatus.FAILED

    await eventually(failed, "the message marked failed")
    found = await statuses("acme", frame["session_id"])
    assert found[frame["message"]["seq"]][1] == "publishMessages: INVALID_TN: To number not valid"


async def test_a_number_without_platform_uses_the_tenants_only_one(
    sms: Sms, agent: AgentClient
) -> None:
    await sms.put_number(platform="")
    frame = await _reply(agent, sms, "via the only platform")
    [published] = await sms.fake.wait_for("publishMessages")
    assert published.json()["text"] == "via the only platform"
    assert frame["message"]["text"] == "via the only platform"


async def test_a_reply_on_a_deleted_number_fails(sms: Sms, agent: AgentClient) -> None:
    assert (await sms.post(inbound_body("13125550199", ["12015550123"], "hi"))).status == 200
    assigned = await agent.accept(await agent.expect("offer"))
    await sms.runtime.store.cpaas.delete_number("acme", OUR)
    frame = await agent.reply(assigned["session"]["id"], "too late")
    statuses = sms.runtime.store.deliveries.statuses

    async def failed() -> bool:
        found = (await statuses("acme", frame["session_id"])).get(frame["message"]["seq"])
        return found is not None and found[0] is MessageStatus.FAILED

    await eventually(failed, "the reply marked failed")
    found = await statuses("acme", frame["session_id"])
    assert found[frame["message"]["seq"]][1] == f"CPaaS number '{OUR}' is gone"
    assert sms.fake.calls("publishMessages") == []


async def test_a_receipt_for_an_unknown_message_is_acknowledged(sms: Sms) -> None:
    resp = await sms.post(receipt_body("no-such-reference", "12015550123", "13125550199"))
    assert resp.status == 200
