"""``InteliquentClient`` against the fake provider: credentials, inventory, webhooks, sending."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from channels.base import CheckResult
from channels.cpaas import MessageIdVerification
from channels.errors import ChannelAuthError, PermanentSendError, ProviderUnavailable
from channels.inteliquent import InteliquentClient, InteliquentError
from tests.fakes.inteliquent import FakeInteliquent
from tests.sms.conftest import (
    API_KEY,
    API_SECRET,
    HEADER,
    HEADER_VALUE,
    OUR,
    OUR2,
    OUTBOUND_KEY,
    platform_model,
)

URL = "https://sb.example.com/webhooks/inteliquent/iq"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def _client(
    fake: tuple[FakeInteliquent, str], session: aiohttp.ClientSession, **extra: Any
) -> InteliquentClient:
    return InteliquentClient(platform_model(fake[1], **extra), session)


async def test_valid_credentials(
    fake: tuple[FakeInteliquent, str], session: aiohttp.ClientSession
) -> None:
    check = await _client(fake, session).check_credentials()
    assert check.result is CheckResult.VALID
    assert check.detail == "credentials accepted; 2 telephone number(s) on the account"
    [select] = fake[0].calls("selectAuthorization")
    assert select.headers["Authorization"] == f"Bearer {OUTBOUND_KEY}"
    assert select.json() == {}
    [detail] = fake[0].calls("tnDetail")
    assert (
        detail.headers["Authorization"]
        == "Basic " + base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
    )
    assert detail.json()["privateKey"] == API_KEY


async def test_refused_credentials_say_which(
    fake: tuple[FakeInteliquent, str], session: aiohttp.ClientSession
) -> None:
    check = await _client(fake, session, outbound_api_key="wrong").check_credentials()
    assert check.result is CheckResult.INVALID_CREDENTIALS
    assert check.detail == (
        "Message Broker refused the outbound API key: UNAUTHORIZED: Invalid or missing API key"
    )
    check = await _client(fake, session, token_secret="wrong").check_credentials()
    assert check.result is CheckResult.INVALID_CREDENTIALS
    assert check.detail == (
        "Services API refused the API key / secret: Invalid credentials: "
        "Invalid authentication information provided (401001)"
    )
    fake[0].fail_next(503)
    check = await _client(fake, session).check_credentials()
    assert check.result is CheckResult.UNREACHABLE
    assert "Message broker unavailable (HTTP 503)" in check.detail


async def test_an_account_without_numbers_is_still_valid(
    fake: tuple[FakeInteliquent, str], session: aiohttp.ClientSession
) -> None:
    fake[0].tns.clear()
    check = await _client(fake, session).check_credentials()
    assert (check.result, check.detail) == (
        CheckResult.VALID,
        "credentials accepted; 0 telephone number(s) on the account",
    )


async def test_number_exists(
    fake: tuple[FakeInteliquent, str], session: aiohttp.ClientSession
) -> None:
    client = _client(fake, session)
    assert await client.number_exists(OUR)
    assert await client.number_exists("+1 (201) 555-0124")
    assert not await client.number_exists("2019920789")
    masks = [
        c.json()["tnSearchList"]["tnSearchItem"][0]["tnMask"] for c in fake[0].calls("tnDetail")
    ]
    assert masks == [OUR, OUR2, "2019920789"]
    with pytest.raises(ChannelAuthError):
        await _client(fake, session, token_secret="wrong").number_exists(OUR)


@pytest.mark.parametrize("echo", [True, False])
async def test_register_and_remove_a_webhook(
    fake: tuple[FakeInteliquent, str], session: aiohttp.ClientSession, echo: bool
) -> None:
    fake[0].echo_auth_id = echo
    client = _client(fake, session)
    auth_id = await client.register_webhook(OUR, URL)
    [configure] = fake[0].calls("configureAuthorization")
    assert configure.json() == {
        "authorizations": [
            {
                "inboundAuth": True,
                "webhookUrl": URL,
                "tn": "12015550123",
                "headerName": HEADER,
                "headerValue": HEADER_VALUE,
            }
        ]
    }
    assert list(fake[0].authorizations) == [auth_id]
    assert len(fake[0].calls("selectAuthorization")) == (0 if echo else 1)
    await client.remove_webhook(auth_id)
    assert fake[0].authorizations == {}
    with pytest.raises(InteliquentError) as refused:
        await client.remove_webhook(auth_id)
    assert refused.value.reason == "NOT_FOUND"


async def test_message_id_mode_registers_the_inbound_api_key(
    fake: tuple[FakeInteliquent, str], session: aiohttp.ClientSession
) -> None:
    verification = MessageIdVerification(inbound_api_key=SecretStr("inb0und"))
    await _client(fake, session, inbound_verification=verification).register_webhook(OUR, URL)
    [configure] = fake[0].calls("configureAuthorization")
    assert configure.json()["authorizations"][0]["apiKey"] == "inb0und"
    assert "headerName" not in configure.json()["authorizations"][0]


async def test_publish(fake: tuple[FakeInteliquent, str], session: aiohttp.ClientSession) -> None:
    client = _client(fake, session)
    reference = await client.publish(OUR, ["+13125550199", "+13125550188"], "Hello")
    assert reference == fake[0].reference_ids[0]
    assert fake[0].published == [
        {"from": "12015550123", "to": ["13125550199", "13125550188"], "text": "Hello"}
    ]
    with pytest.raises(PermanentSendError, match="not a \\+1"):
        await client.publish(OUR, ["+447700900123"], "Hello")
    with pytest.raises(InteliquentError, match="not assigned to this account"):
        await client.publish("2019920789", ["+13125550199"], "Hello")
    with pytest.raises(ChannelAuthError):
        await _client(fake, session, outbound_api_key="wrong").publish(OUR, ["+13125550199"], "x")
    fake[0].fail_next(502)
    with pytest.raises(ProviderUnavailable):
        await client.publish(OUR, ["+13125550199"], "x")
