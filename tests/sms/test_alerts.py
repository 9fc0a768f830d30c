"""Alert emails: jinja2 template, one message per alert recipient, over SMTP to a real
in-process server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message as EmailMessage

import pytest

from channels.cpaas import AlertRecipient
from router.alerts import Alerter
from router.runtime import Runtime
from router.settings import Settings
from tests.sms.conftest import Mailbox

CONTEXT = {
    "number": "2015550123",
    "friendly_name": "My MMS Number",
    "agent": "Chris Tutt",
    "at": datetime(2021, 6, 15, 13, 0, 30, tzinfo=UTC),
}
RECIPIENTS = [
    AlertRecipient(id="ops", name="Ops Team", email="ops@acme.example"),
    AlertRecipient(id="off", email="off@acme.example", send_alerts=False),
    AlertRecipient(id="abin", email="abin.joseph@acme.example"),
]


def _parsed(data: bytes | str | None) -> EmailMessage:
    assert isinstance(data, bytes)
    return message_from_bytes(data)


async def test_opt_in_decline_alert_reaches_every_recipient(
    runtime: Runtime, mailbox: tuple[Mailbox, int]
) -> None:
    subject = "SMS declined by Chris Tutt on My MMS Number"
    sent = await runtime.alerter.send("acme", RECIPIENTS, subject, "opt_in_declined.txt", CONTEXT)
    assert sent == 2
    envelopes = await mailbox[0].wait_for(2)
    assert [e.rcpt_tos for e in envelopes] == [["ops@acme.example"], ["abin.joseph@acme.example"]]
    assert all(e.mail_from == "alerts@sb.example.com" for e in envelopes)
    first = _parsed(envelopes[0].content)
    assert first["Subject"] == subject
    assert first["To"] == "Ops Team <ops@acme.example>"
    body = first.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert text.startswith(
        "Chris Tutt declined SMS on the CPaaS number My MMS Number (2015550123) at "
        "2021-06-15 13:00:30+00:00."
    )
    assert "every alert recipient of the tenant acme" in text


async def test_without_smtp_alerts_are_logged_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    alerter = Alerter(Settings())
    with caplog.at_level(logging.WARNING, logger="router.alerts"):
        sent = await alerter.send("acme", RECIPIENTS, "subject", "opt_in_declined.txt", CONTEXT)
    assert sent == 0
    assert "not sent: no SMTP server" in caplog.text


async def test_an_unreachable_server_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    alerter = Alerter(Settings(smtp_url=f"smtp://127.0.0.1:{port}"))
    with caplog.at_level(logging.WARNING, logger="router.alerts"):
        sent = await alerter.send("acme", RECIPIENTS, "subject", "opt_in_declined.txt", CONTEXT)
    assert sent == 0
    assert "alert email to ops@acme.example not sent" in caplog.text


async def test_no_recipient_sends_nothing(mailbox: tuple[Mailbox, int]) -> None:
    alerter = Alerter(Settings(smtp_url=f"smtp://127.0.0.1:{mailbox[1]}"))
    off = [r for r in RECIPIENTS if not r.send_alerts]
    assert await alerter.send("acme", off, "subject", "opt_in_declined.txt", CONTEXT) == 0
    # A message sent after it is the first the server sees.
    assert await alerter.send("acme", RECIPIENTS[:1], "next", "opt_in_declined.txt", CONTEXT) == 1
    [envelope] = await asyncio.wait_for(mailbox[0].wait_for(1), 10)
    assert _parsed(envelope.content)["Subject"] == "next"
