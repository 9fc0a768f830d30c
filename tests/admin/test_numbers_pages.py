"""The CPaaS numbers tab through real HTTP: add (checked on the fake Inteliquent and
provisioned), field errors, search with wildcards, edit, Reset Opt-In State, Delete Messages
and Delete Number, each behind a confirmation page where it destroys data."""

from __future__ import annotations

import re
import uuid
from html import unescape

from channels.cpaas import (
    OptInState,
    ProvisioningState,
    StreamTarget,
    UserTarget,
    normalize_us_number,
)
from router.models import ChannelKind, Direction, Message, Party, Sender, SenderKind
from router.runtime import Runtime
from tests.admin.conftest import OUR, OUR2, OUR3
from tests.admin.console import Console, error_of, input_value
from tests.admin.test_cpaas_pages import add_platform, add_recipient
from tests.clients import eventually
from tests.fakes.inteliquent import FakeInteliquent

BASE = "/admin/numbers"


async def setup_platform(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    """A platform that requires user confirmation (see ``platform_form``)."""
    await add_recipient(admin, "ops@acme.example")
    await add_platform(admin, runtime, inteliquent[1])


async def add_number(admin: Console, runtime: Runtime, number: str, **form: str) -> None:
    await admin.form(f"{BASE}/new")
    resp = await admin.post(f"{BASE}/new", {"number": number, **form})
    normalized = normalize_us_number(number)
    assert (resp.status, resp.headers.get("Location")) == (303, f"{BASE}/{normalized}"), (
        await resp.text()
    )
    await runtime.numbers.settled("acme", normalized)


def sms(number: str, sender: str, text: str) -> Message:
    return Message(
        id=uuid.uuid4().hex, tenant="acme", channel=ChannelKind.SMS, account=number, stream="",
        direction=Direction.INBOUND, remote_party=Party(id=sender),
        sender=Sender(kind=SenderKind.CUSTOMER, id=sender), text=text,
        provider_message_id=uuid.uuid4().hex,
    )  # fmt: skip


async def test_add_a_number_and_see_it_provisioned(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    fake, _ = inteliquent
    page = await admin.page(f"{BASE}/new")
    assert "the tenant has no CPaaS platform; add one first" in page
    await setup_platform(admin, runtime, inteliquent)
    form = await admin.form(f"{BASE}/new")
    assert "User: Ann Archer" in form
    assert "Media stream: Main line" in form
    assert "Media stream: Web" not in form  # only SMS streams consume numbers
    await add_number(admin, runtime, "+1 (201) 555-0123", friendly_name="Front desk",
                     messaging_type="mms_sms", can_block="on", target="user:ann")  # fmt: skip
    number = await runtime.store.cpaas.number("acme", OUR)
    assert number is not None
    assert number.target == UserTarget(agent="ann")
    assert (number.friendly_name, number.messaging_type.value) == ("Front desk", "mms_sms")
    assert (number.can_block, number.mms_available) == (True, None)
    assert number.provisioning is ProvisioningState.ACTIVE
    assert number.opt_in.state is OptInState.PENDING
    assert len(fake.authorizations) == 1
    detail = await admin.page(f"{BASE}/{OUR}")
    assert 'data-testid="number-provisioning">active' in detail
    assert 'data-testid="number-opt-in">Waiting for the user' in detail
    listing = await admin.page(BASE)
    assert f'data-testid="number-{OUR}-consumer">Ann Archer<' in listing
    assert f'data-testid="number-{OUR}-name">Front desk<' in listing


async def test_number_field_errors(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    await setup_platform(admin, runtime, inteliquent)
    await admin.form(f"{BASE}/new")
    resp = await admin.post(f"{BASE}/new", {"number": "12345", "target": ""})
    page = await resp.text()
    assert resp.status == 400
    assert error_of(page, "number")
    assert input_value(page, "number") == "12345"
    resp = await admin.post(f"{BASE}/new", {"number": OUR, "target": ""})
    assert error_of(await resp.text(), "target") == "Field required"
    # Not on the platform's account: the provider's inventory says no, nothing is saved.
    resp = await admin.post(f"{BASE}/new", {"number": "3125550100", "target": "user:bob"})
    assert resp.status == 400
    assert "This number is not assigned to this Inteliquent account" in error_of(
        await resp.text(), "number"
    )
    assert await runtime.store.cpaas.numbers("acme") == []
    await add_number(admin, runtime, OUR, target="stream:sms-main")
    resp = await admin.post(f"{BASE}/new", {"number": OUR, "target": "user:bob"})
    assert resp.status == 409
    assert error_of(await resp.text(), "number")


async def test_search_takes_wildcards_like_the_api(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    await setup_platform(admin, runtime, inteliquent)
    await add_number(admin, runtime, OUR, friendly_name="Front desk", target="user:ann")
    await add_number(admin, runtime, OUR2, friendly_name="Sales line", target="stream:sms-main")
    await add_number(admin, runtime, OUR3, friendly_name="SMS and MMS", target="user:bob")

    async def found(query: str) -> set[str]:
        page = await admin.page(f"{BASE}?search={query}")
        return set(re.findall(r'data-testid="number-(\d{10})"', page))

    assert await found("") == {OUR, OUR2, OUR3}
    assert await found("201") == {OUR, OUR2}  # wildcards are added at both ends
    assert await found("555012?") == {OUR, OUR2}
    assert await found("9495*06") == {OUR3}
    assert await found("sales") == {OUR2}
    assert await found("main line") == {OUR2}  # the media stream's name
    assert await found("baker") == {OUR3}  # the user's name
    assert await found("%2B12015550123") == {OUR}  # +1 and the 10 digits
    assert await found("nothing") == set()
    assert 'data-testid="numbers-total">0<' in await admin.page(f"{BASE}?search=nothing")


async def test_edit_a_number(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    await setup_platform(admin, runtime, inteliquent)
    await add_number(admin, runtime, OUR, friendly_name="Front desk", target="user:ann")
    form = await admin.form(f"{BASE}/{OUR}")
    assert input_value(form, "friendly_name") == "Front desk"
    assert '<option value="user:ann" selected>' in form
    data = {"friendly_name": "", "messaging_type": "sms", "can_block": "off",
            "mms_available": "", "target": "stream:sms-main"}  # fmt: skip
    resp = await admin.post(f"{BASE}/{OUR}", data)
    assert resp.status == 303, await resp.text()
    number = await runtime.store.cpaas.number("acme", OUR)
    assert number is not None
    assert number.target == StreamTarget(stream="sms-main")
    assert (number.friendly_name, number.can_block) == (OUR, False)  # blank: the number
    resp = await admin.post(f"{BASE}/{OUR}", {**data, "target": "stream:web"})
    assert resp.status == 400
    assert error_of(await resp.text(), "target") == "media stream 'web' is webchat, not sms"


async def test_reset_opt_in_state(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    await setup_platform(admin, runtime, inteliquent)
    await add_number(admin, runtime, OUR, target="user:ann")
    await add_number(admin, runtime, OUR2, target="stream:sms-main")
    declined = await runtime.personal_inbox.answer("acme", "ann", OUR, accept=False)
    assert declined.opt_in.state is OptInState.DECLINED
    assert declined.opt_in.at is not None
    detail = await admin.form(f"{BASE}/{OUR}")
    stamp = declined.opt_in.at.strftime("%Y-%m-%d @ %H:%M:%S")
    assert f'data-testid="number-opt-in">User opted-out {stamp}' in detail
    assert (await admin.post(f"{BASE}/{OUR}/reset-opt-in", {}, csrf=False)).status == 403
    resp = await admin.post(f"{BASE}/{OUR}/reset-opt-in", {})
    page = await resp.text()
    assert resp.status == 200
    assert 'data-testid="number-opt-in">Waiting for the user' in page
    assert "the user is asked to accept SMS on this number again" in page
    number = await runtime.store.cpaas.number("acme", OUR)
    assert number is not None
    assert number.opt_in.state is OptInState.PENDING
    # A media stream's number has no opt-in: the refusal is shown.
    resp = await admin.post(f"{BASE}/{OUR2}/reset-opt-in", {})
    assert resp.status == 409
    assert "opt-in applies only to numbers assigned to an end user" in await resp.text()


async def test_delete_messages_and_delete_number_after_confirmation(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    fake, _ = inteliquent
    await setup_platform(admin, runtime, inteliquent)
    await add_number(admin, runtime, OUR, target="stream:sms-main")
    number = await runtime.store.cpaas.number("acme", OUR)
    assert number is not None
    for customer in ("+13125550101", "+13125550102"):
        await runtime.personal_inbox.deliver(number, sms(OUR, customer, "hi"))

    async def filed() -> bool:
        return len(await runtime.store.inbox.session_ids("acme", OUR)) == 2

    await eventually(filed, "two conversations on the number")
    confirm = await admin.form(f"{BASE}/{OUR}/delete-messages")
    assert f"Delete every saved message of {OUR}?" in unescape(confirm)
    assert len(await runtime.store.inbox.session_ids("acme", OUR)) == 2
    assert (await admin.post(f"{BASE}/{OUR}/delete-messages", {}, csrf=False)).status == 403
    resp = await admin.post(f"{BASE}/{OUR}/delete-messages", {})
    assert resp.status == 200
    assert "Deleted 2 saved conversations." in await resp.text()
    assert await runtime.store.inbox.session_ids("acme", OUR) == []
    assert await runtime.store.cpaas.number("acme", OUR) is not None
    confirm = await admin.form(f"{BASE}/{OUR}/delete")
    assert "all messages to and from this number are deleted" in confirm
    resp = await admin.post(f"{BASE}/{OUR}/delete", {})
    assert (resp.status, resp.headers["Location"]) == (303, BASE)
    assert await runtime.store.cpaas.number("acme", OUR) is None
    assert fake.authorizations == {}  # the webhook is gone at the provider too
    await admin.page(f"{BASE}/{OUR}", status=404)
