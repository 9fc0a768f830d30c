"""The MMS rule on outbound CPaaS messages, and the signed attachment links of the SMS fallback."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from channels.cpaas import MessagingType
from channels.links import signed_link
from channels.mms import is_us_number, mms_compliant, send_as_mms
from router.models import (
    Attachment,
    ChannelKind,
    Direction,
    Message,
    Party,
    Sender,
    SenderKind,
    utcnow,
)
from tests.clients import AgentClient
from tests.fakes.inteliquent import inbound_body
from tests.sms.conftest import OUR, PUBLIC_URL, Sms

PNG = Attachment(url="https://cdn.example.com/logo.png", content_type="image/png", size=20_000)
PDF = Attachment(
    url="https://cdn.example.com/menu.pdf", content_type="application/pdf", size=200_000
)
ZIP = Attachment(url="https://cdn.example.com/all.zip", content_type="application/zip", size=900)
BIG = Attachment(
    url="https://cdn.example.com/huge.jpg", content_type="image/jpeg", size=5 * 1024 * 1024
)


@pytest.mark.parametrize(
    ("number", "us"),
    [
        ("+12015550123", True),
        ("2015550123", True),
        ("+18005550199", True),  # toll-free, shared US/CA: libphonenumber says US
        ("+14165550123", False),  # Toronto
        ("+18765550123", False),  # Jamaica
        ("+17875550123", False),  # Puerto Rico: a territory, not the US proper
        ("+447700900123", False),
        ("not a number", False),
    ],
)
def test_us_numbers(number: str, us: bool) -> None:
    assert is_us_number(number) is us


@pytest.mark.parametrize(
    ("attachment", "compliant"),
    [
        (PNG, True),
        (Attachment(url="https://x.example/a.gif", content_type="image/gif"), True),  # no size
        (Attachment(url="https://x.example/a.jpg"), True),  # octet-stream: guessed image/jpeg
        (
            Attachment(url="https://x.example/b.jpg", content_type="image/jpeg", size=1024 * 1024),
            True,
        ),
        (BIG, False),
        (PDF, True),
        (Attachment(url="https://x.example/m.pdf", content_type="application/pdf"), False),
        (
            Attachment(url="https://x.example/v.mp4", content_type="video/mp4", size=700 * 1024),
            False,
        ),
        (Attachment(url="https://x.example/s.mp3", content_type="audio/mpeg", size=300_000), True),
        (Attachment(url="https://x.example/c.vcf", content_type="text/vcard", size=400), True),
        (
            Attachment(
                url="https://x.example/c.ics", content_type="text/calendar; charset=utf-8", size=400
            ),
            True,
        ),
        (ZIP, False),
        (Attachment(url="https://x.example/page.html", content_type="text/html", size=10), False),
    ],
)
def test_mms_compliant_attachments(attachment: Attachment, compliant: bool) -> None:
    assert mms_compliant(attachment) is compliant


def test_the_rule_needs_everything() -> None:
    us, ca = "+13125550199", "+14165550123"
    assert send_as_mms(True, OUR, us, [PNG, PDF])
    assert not send_as_mms(False, OUR, us, [PNG])
    assert not send_as_mms(True, OUR, ca, [PNG])
    assert not send_as_mms(True, "4165550100", us, [PNG])
    assert not send_as_mms(True, OUR, us, [PNG, ZIP])
    assert not send_as_mms(True, OUR, us, [PNG] * 11)
    assert send_as_mms(True, OUR, us, [PNG] * 10)
    assert not send_as_mms(True, OUR, us, [])


def _message(
    *attachments: Attachment,
    to: str = "+13125550199",
    text: str | None = "See this",
    choices: tuple[str, ...] = (),
) -> Message:
    return Message(
        id=uuid.uuid4().hex,
        tenant="acme",
        channel=ChannelKind.SMS,
        account=OUR,
        stream="sms",
        direction=Direction.OUTBOUND,
        remote_party=Party(id=to),
        sender=Sender(kind=SenderKind.AGENT, id="ann"),
        text=text,
        attachments=attachments,
        choices=choices,
    )


async def _send(sms: Sms, message: Message) -> list[dict[str, Any]]:
    sms_adapters = sms.runtime.outbound.sms
    assert sms_adapters is not None
    adapter = await sms_adapters.adapter(message)
    receipt = await adapter.send(message)
    assert receipt.provider_message_ids == tuple(sms.fake.reference_ids)
    return [r.json() for r in sms.fake.calls("publishMessages")]


def _links(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(PUBLIC_URL + "/l/")]


async def test_compliant_attachments_go_as_one_mms(sms: Sms) -> None:
    [body] = await _send(sms, _message(PNG, PDF, choices=("Yes", "No")))
    assert body == {
        "from": "12015550123",
        "to": ["13125550199"],
        "text": "See this\n1. Yes\n2. No",
        "mediaUrls": [PNG.url, PDF.url],
    }


@pytest.mark.parametrize(
    ("platform", "number", "to", "attachments"),
    [
        ({"mms_available": False}, {}, "+13125550199", (PNG,)),  # platform default off
        ({}, {"mms_available": False}, "+13125550199", (PNG,)),  # number override off
        ({}, {"messaging_type": MessagingType.SMS}, "+13125550199", (PNG,)),  # SMS only
        ({}, {}, "+14165550123", (PNG,)),  # Canada is NANP but not the US
        ({}, {}, "+13125550199", (PNG, ZIP)),  # one non-compliant attachment
        ({}, {}, "+13125550199", (BIG,)),  # a 5 MB image
    ],
)
async def test_otherwise_one_sms_with_a_link_per_attachment(
    sms: Sms,
    platform: dict[str, Any],
    number: dict[str, Any],
    to: str,
    attachments: tuple[Attachment, ...],
) -> None:
    await sms.put_platform(**platform)
    await sms.put_number(**number)
    [body] = await _send(sms, _message(*attachments, to=to))
    assert set(body) == {"from", "to", "text"}
    assert body["to"] == ["1" + to.removeprefix("+1")]
    lines = body["text"].splitlines()
    assert lines[0] == "See this"
    links = _links(body["text"])
    assert len(links) == len(attachments) == len(lines) - 1
    for link, attachment in zip(links, attachments, strict=True):
        resp = await sms.client.get(urlsplit(link).path, allow_redirects=False)
        assert resp.status == 302
        assert resp.headers["Location"] == attachment.url


async def test_mms_override_on_a_number_beats_the_platform(sms: Sms) -> None:
    await sms.put_platform(mms_available=False)
    await sms.put_number(mms_available=True)
    [body] = await _send(sms, _message(PNG))
    assert body["mediaUrls"] == [PNG.url]


async def test_relative_attachment_urls_are_made_public(sms: Sms) -> None:
    local = Attachment(url="/media/acct/123?sig=abc", content_type="image/jpeg", size=10)
    [body] = await _send(sms, _message(local))
    assert body["mediaUrls"] == [PUBLIC_URL + "/media/acct/123?sig=abc"]


async def test_long_text_is_split_and_each_part_recorded(sms: Sms) -> None:
    text = ("word " * 700).strip()  # 3499 characters
    bodies = await _send(sms, _message(PNG, text=text))
    assert [len(b["text"]) <= 1600 for b in bodies] == [True, True, True]
    assert "mediaUrls" in bodies[0]
    assert all("mediaUrls" not in b for b in bodies[1:])
    assert " ".join(b["text"] for b in bodies) == text


async def test_links_expire_and_cannot_be_forged(sms: Sms) -> None:
    secret = sms.runtime.secret
    good = signed_link(secret, PNG.url, utcnow() + timedelta(minutes=5))
    resp = await sms.client.get(good, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, PNG.url)
    expired = signed_link(secret, PNG.url, utcnow() - timedelta(seconds=1))
    resp = await sms.client.get(expired, allow_redirects=False)
    assert resp.status == 410
    assert (await resp.json())["error"]["code"] == "expired"
    forged = signed_link(b"not-our-secret", "https://evil.example/", utcnow() + timedelta(days=1))
    for path in (forged, good[:-2] + "xx", "/l/garbage", good.replace(".", ".A", 1)):
        resp = await sms.client.get(path, allow_redirects=False)
        assert resp.status == 403, path


async def test_agent_attachment_goes_out_as_mms(sms: Sms, agent: AgentClient) -> None:
    assert (
        await sms.post(inbound_body("13125550199", ["12015550123"], "send a pic"))
    ).status == 200
    assigned = await agent.accept(await agent.expect("offer"))
    await agent.send(
        {
            "type": "send",
            "session_id": assigned["session"]["id"],
            "text": "Here it is",
            "client_id": "c-1",
            "attachments": [PNG.model_dump(mode="json")],
        }
    )
    [published] = await sms.fake.wait_for("publishMessages")
    assert published.json() == {
        "from": "12015550123",
        "to": ["13125550199"],
        "text": "Here it is",
        "mediaUrls": [PNG.url],
    }
