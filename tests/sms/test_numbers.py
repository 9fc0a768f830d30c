"""``/api/v1/numbers``: CPaaS numbers, their provisioning on the (fake) provider, search,
consumers, deleting a number's messages, and numbers from the config file."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.cpaas import ProvisioningState
from router.config import Config
from router.errors import ConfigError
from router.numbers import NOT_ON_ACCOUNT
from router.provisioning import apply_config
from router.runtime import Runtime
from tests.clients import AgentClient
from tests.sms.numbers_fixtures import (
    TENANT,
    GatedInteliquent,
    add_number,
    bearer,
    nb_admin,
    nb_client,
    nb_config,
    nb_connect,
    nb_fake,
    nb_platforms,
    nb_runtime,
    nb_smtp,
    nb_store,
    numbers_config,
    platform,
    sms,
    stored,
)

__all__ = [  # fixtures used by name
    "nb_admin", "nb_client", "nb_config", "nb_connect", "nb_fake", "nb_platforms",
    "nb_runtime", "nb_smtp", "nb_store",
]  # fmt: skip

Client = TestClient[Any, Any]
Headers = dict[str, str]
NUMBERS = "/api/v1/numbers"


async def settled(runtime: Runtime, number: str) -> dict[str, Any]:
    await runtime.numbers.settled(TENANT, number)
    return (await stored(runtime, number)).model_dump(mode="json")


@pytest.mark.parametrize("given", ["+1 (201) 555-0123", "12015550123", "2015550123", 2015550123])
async def test_number_is_stored_normalized_and_shown_ten_digit(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, given: str | int
) -> None:
    view = await add_number(nb_client, nb_admin, given)  # type: ignore[arg-type]
    assert view["number"] == "2015550123"
    assert view["friendly_name"] == "2015550123"  # defaults to the number
    assert view["platform"] == "iq"
    assert view["messaging_type"] == "sms"
    assert view["provisioning"] == "pending"
    resp = await nb_client.get(NUMBERS + "/+12015550123", headers=nb_admin)
    assert resp.status == 200
    assert (await resp.json())["number"] == "2015550123"
    assert (await stored(nb_runtime, "2015550123")).number == "2015550123"


async def test_invalid_number_is_refused_naming_the_field(
    nb_client: Client, nb_admin: Headers
) -> None:
    for bad in ("12345", "+44 20 7946 0958", "1015550123"):
        resp = await nb_client.post(
            NUMBERS, json={"number": bad, "target": {"kind": "user", "agent": "ann"}},
            headers=nb_admin,
        )  # fmt: skip
        assert resp.status == 400, bad
        error = (await resp.json())["error"]
        assert error["field"] == "number"
        assert "10-digit US number" in error["message"]
    listed = await (await nb_client.get(NUMBERS, headers=nb_admin)).json()
    assert listed["total"] == 0


async def test_overrides_default_to_the_platform_and_show_effective_values(
    nb_client: Client, nb_admin: Headers
) -> None:
    default = await add_number(nb_client, nb_admin, "2015550123", messaging_type="mms_sms")
    assert default["can_block"] is None
    assert default["mms_available"] is None
    assert default["effective"] == {"can_block": False, "mms_available": False}
    override = await add_number(
        nb_client, nb_admin, "2015550124", friendly_name="My MMS Number",
        messaging_type="mms_sms", can_block=True, mms_available=True,
    )  # fmt: skip
    assert override["friendly_name"] == "My MMS Number"
    assert override["effective"] == {"can_block": True, "mms_available": True}
    # Back to the platform's default; SMS only never sends MMS.
    resp = await nb_client.patch(
        NUMBERS + "/2015550124",
        json={"can_block": None, "messaging_type": "sms", "friendly_name": "SMS only"},
        headers=nb_admin,
    )
    assert resp.status == 200, await resp.text()
    patched = await resp.json()
    assert patched["friendly_name"] == "SMS only"
    assert patched["can_block"] is None
    assert patched["mms_available"] is True
    assert patched["effective"] == {"can_block": False, "mms_available": False}
    refused = await nb_client.patch(
        NUMBERS + "/2015550124", json={"platform": "other"}, headers=nb_admin
    )
    assert refused.status == 400
    assert (await refused.json())["error"]["field"] == "platform"


async def test_platform_is_required_when_the_tenant_has_several(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_fake: tuple[Any, str]
) -> None:
    await nb_runtime.store.cpaas.put_platform(
        platform(nb_fake[1], "iq2", user_can_block_numbers=True)
    )
    body = {"number": "2015550123", "target": {"kind": "user", "agent": "ann"}}
    resp = await nb_client.post(NUMBERS, json=body, headers=nb_admin)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == "platform"
    assert "several" in error["message"]
    unknown = await nb_client.post(NUMBERS, json={**body, "platform": "nope"}, headers=nb_admin)
    assert (await unknown.json())["error"]["field"] == "platform"
    view = await add_number(nb_client, nb_admin, "2015550123", platform="iq2")
    assert view["platform"] == "iq2"
    assert view["effective"]["can_block"] is True


async def test_a_number_not_on_the_account_stops_with_the_guides_message(
    nb_client: Client, nb_admin: Headers, nb_fake: tuple[GatedInteliquent, str]
) -> None:
    resp = await nb_client.post(
        NUMBERS, json={"number": "2019920789", "target": {"kind": "user", "agent": "ann"}},
        headers=nb_admin,
    )  # fmt: skip
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["message"] == NOT_ON_ACCOUNT
    assert error["message"].startswith("This number is not assigned to this Inteliquent account")
    assert error["field"] == "number"
    assert (await nb_client.get(NUMBERS + "/2019920789", headers=nb_admin)).status == 404
    assert nb_fake[0].calls("configureAuthorization") == []


async def test_provisioning_goes_from_pending_to_active_with_the_webhook(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime,
    nb_fake: tuple[GatedInteliquent, str],
) -> None:  # fmt: skip
    fake = nb_fake[0]
    gate = fake.hold_registrations()
    view = await add_number(nb_client, nb_admin, "2015550123")
    assert view["provisioning"] == "pending"
    assert view["webhook_auth_id"] is None
    shown = await (await nb_client.get(NUMBERS + "/2015550123", headers=nb_admin)).json()
    assert shown["provisioning"] == "pending"
    gate.set()
    done = await settled(nb_runtime, "2015550123")
    assert done["provisioning"] == "active"
    assert done["provisioning_error"] is None
    url = fake.webhooks()["2015550123"]
    assert url.endswith("/webhooks/inteliquent/iq")
    assert url.startswith(str(nb_client.make_url("/")).rstrip("/"))  # the request's host
    auth = fake.calls("configureAuthorization")[0].json()["authorizations"][0]
    assert auth["tn"] == "12015550123"
    assert (auth["headerName"], auth["headerValue"]) == ("X-Token", "t0ken")
    shown = await (await nb_client.get(NUMBERS + "/2015550123", headers=nb_admin)).json()
    assert shown["provisioning"] == "active"
    assert shown["webhook_auth_id"] == next(iter(fake.authorizations))


async def test_a_refused_registration_leaves_the_number_failed_with_the_reason(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime,
    nb_fake: tuple[GatedInteliquent, str],
) -> None:  # fmt: skip
    nb_fake[0].refusal = "Messaging is not enabled for this TN"
    await add_number(nb_client, nb_admin, "2015550123")
    done = await settled(nb_runtime, "2015550123")
    assert done["provisioning"] == "failed"
    assert "Messaging is not enabled for this TN" in done["provisioning_error"]
    shown = await (await nb_client.get(NUMBERS + "/2015550123", headers=nb_admin)).json()
    assert shown["provisioning"] == "failed"
    assert "Messaging is not enabled" in shown["provisioning_error"]


async def test_deleting_a_number_removes_its_webhook_and_all_its_messages(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime,
    nb_fake: tuple[GatedInteliquent, str], nb_connect: Any,
) -> None:  # fmt: skip
    fake = nb_fake[0]
    ann: AgentClient = await nb_connect("ann")
    await add_number(nb_client, nb_admin, "2015550123")
    await add_number(nb_client, nb_admin, "2015550124",
                     target={"kind": "stream", "stream": "sms-main"})  # fmt: skip
    await settled(nb_runtime, "2015550123")
    mine, other = await stored(nb_runtime, "2015550123"), await stored(nb_runtime, "2015550124")
    assert mine.webhook_auth_id is not None
    await nb_runtime.personal_inbox.deliver(mine, sms(mine, "+13125550199", "hello ann"))
    assigned = await ann.expect("assigned")
    sid = assigned["session"]["id"]
    await nb_runtime.personal_inbox.deliver(other, sms(other, "+13125550188", "to the queue"))
    await ann.expect("offer")  # the stream's conversation is in the queue
    inbox = nb_runtime.store.inbox
    resp = await nb_client.delete(NUMBERS + "/2015550123", headers=nb_admin)
    assert resp.status == 204
    assert "2015550123" not in fake.webhooks()
    assert [c.json() for c in fake.calls("removeAuthorization")] == [
        {"authorizations": [{"authId": mine.webhook_auth_id}]}
    ]
    closed = await ann.expect("session_closed", lambda f: f["session_id"] == sid)
    assert closed["reason"] == "deleted"
    assert await nb_runtime.store.load_session(TENANT, sid) is None
    assert await nb_runtime.store.history(TENANT, sid) == ()
    assert await inbox.session_ids(TENANT, "2015550123") == []
    assert await inbox.session_ids(TENANT, "2015550124") != []  # another number's: kept
    assert (await nb_client.get(NUMBERS + "/2015550123", headers=nb_admin)).status == 404
    assert await nb_runtime.store.cpaas.number_tenant("2015550123") is None
    # The number is free again.
    await add_number(nb_client, nb_admin, "2015550123")


async def test_a_number_whose_webhook_is_already_gone_can_still_be_deleted(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime,
    nb_fake: tuple[GatedInteliquent, str],
) -> None:  # fmt: skip
    await add_number(nb_client, nb_admin, "2015550123")
    await settled(nb_runtime, "2015550123")
    nb_fake[0].authorizations.clear()  # removed in the provider's portal
    resp = await nb_client.delete(NUMBERS + "/2015550123", headers=nb_admin)
    assert resp.status == 204
    assert (await nb_client.get(NUMBERS + "/2015550123", headers=nb_admin)).status == 404


async def test_an_unreachable_provider_keeps_the_number(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime,
    nb_fake: tuple[GatedInteliquent, str],
) -> None:  # fmt: skip
    await add_number(nb_client, nb_admin, "2015550123")
    await settled(nb_runtime, "2015550123")
    nb_fake[0].fail_next(503, times=5)
    resp = await nb_client.delete(NUMBERS + "/2015550123", headers=nb_admin)
    assert resp.status == 502
    assert (await resp.json())["error"]["code"] == "provider_error"
    assert (await nb_client.get(NUMBERS + "/2015550123", headers=nb_admin)).status == 200


async def test_deleting_only_the_messages_keeps_the_number(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime, nb_connect: Any,
) -> None:  # fmt: skip
    ann: AgentClient = await nb_connect("ann", ready=False)
    await add_number(nb_client, nb_admin, "2015550123")
    await settled(nb_runtime, "2015550123")
    number = await stored(nb_runtime, "2015550123")
    for customer in ("+13125550101", "+13125550102"):
        await nb_runtime.personal_inbox.deliver(number, sms(number, customer, "hi"))
    await ann.wait(lambda: len(ann.of("assigned")) == 2, "two conversations")
    sids = {f["session"]["id"] for f in ann.of("assigned")}
    resp = await nb_client.delete(NUMBERS + "/2015550123/messages", headers=nb_admin)
    assert resp.status == 200
    assert (await resp.json()) == {"number": "2015550123", "deleted_sessions": 2}
    await ann.wait(
        lambda: {f["session_id"] for f in ann.of("session_closed")} == sids, "both closed"
    )
    for sid in sids:
        assert await nb_runtime.store.load_session(TENANT, sid) is None
    assert await nb_runtime.store.agent_sessions(TENANT, "ann") == []
    status = await nb_runtime.store.agent_status(TENANT, "ann")
    assert status is not None
    assert status.load == 0
    shown = await (await nb_client.get(NUMBERS + "/2015550123", headers=nb_admin)).json()
    assert shown["provisioning"] == "active"
    # A new message opens a new conversation.
    await nb_runtime.personal_inbox.deliver(number, sms(number, "+13125550101", "again"))
    again = await ann.expect("assigned", lambda f: f["session"]["id"] not in sids)
    assert [m["text"] for m in again["history"]] == ["again"]


async def test_search_adds_wildcards_and_pages(nb_client: Client, nb_admin: Headers) -> None:
    await add_number(nb_client, nb_admin, "2015550123", friendly_name="Front desk")
    await add_number(nb_client, nb_admin, "2015550124", friendly_name="Sales line",
                     target={"kind": "stream", "stream": "sms-main"})  # fmt: skip
    await add_number(nb_client, nb_admin, "3125550100", friendly_name="Chicago",
                     target={"kind": "user", "agent": "bob"})  # fmt: skip

    async def search(query: str, **params: str) -> list[str]:
        resp = await nb_client.get(NUMBERS, params={"search": query, **params}, headers=nb_admin)
        assert resp.status == 200, await resp.text()
        return [item["number"] for item in (await resp.json())["items"]]

    assert await search("201") == ["2015550123", "2015550124"]
    assert await search("0100") == ["3125550100"]
    assert await search("chi") == ["3125550100"]  # the friendly name, any case
    assert await search("555?1*4") == ["2015550124"]  # ? one character, * any
    assert await search("front*k") == ["2015550123"]
    assert await search("+12015550124") == ["2015550124"]
    assert await search("[") == []  # not a pattern character
    page = await (await nb_client.get(NUMBERS, params={"limit": "2"}, headers=nb_admin)).json()
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (3, 2, 2, 0)
    rest = await (
        await nb_client.get(NUMBERS, params={"limit": "2", "offset": "2"}, headers=nb_admin)
    ).json()
    assert [i["number"] for i in rest["items"]] == ["3125550100"]
    assert rest["total"] == 3
    bad = await nb_client.get(NUMBERS, params={"limit": "0"}, headers=nb_admin)
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "limit"


async def test_the_list_shows_who_consumes_each_number(
    nb_client: Client, nb_admin: Headers
) -> None:
    await add_number(nb_client, nb_admin, "2015550123")
    await add_number(nb_client, nb_admin, "2015550124",
                     target={"kind": "stream", "stream": "sms-main"})  # fmt: skip
    items = (await (await nb_client.get(NUMBERS, headers=nb_admin)).json())["items"]
    assert [i["consumer"] for i in items] == [
        {"kind": "user", "id": "ann", "name": "Ann Archer"},
        {"kind": "stream", "id": "sms-main", "name": "Main line"},
    ]


async def test_targets_are_checked_against_the_config(nb_client: Client, nb_admin: Headers) -> None:
    cases = [
        ({"kind": "user", "agent": "nobody"}, "target.agent"),
        ({"kind": "stream", "stream": "nope"}, "target.stream"),
        ({"kind": "stream", "stream": "web"}, "target.stream"),  # web chat, not sms
        ({"kind": "fax"}, "target"),
    ]
    for target, field in cases:
        resp = await nb_client.post(
            NUMBERS, json={"number": "2015550123", "target": target}, headers=nb_admin
        )
        assert resp.status == 400, target
        assert (await resp.json())["error"]["field"] == field, target


async def test_only_tenant_admins_and_only_their_tenant(
    nb_client: Client, nb_admin: Headers
) -> None:
    await add_number(nb_client, nb_admin, "2015550123")
    agent = {"Authorization": f"Bearer {await bearer(nb_client, 'ann')}"}
    assert (await nb_client.get(NUMBERS, headers=agent)).status == 403
    gus = {"Authorization": f"Bearer {await bearer(nb_client, 'gus', 'globex')}"}
    assert (await (await nb_client.get(NUMBERS, headers=gus)).json())["total"] == 0
    one = NUMBERS + "/2015550123"
    for method, path in (
        ("GET", one),
        ("PATCH", one),
        ("DELETE", one),
        ("DELETE", one + "/messages"),
        ("POST", one + "/reset-opt-in"),
    ):
        resp = await nb_client.request(method, path, json={"friendly_name": "x"}, headers=gus)
        assert resp.status == 404, (method, path)  # fmt: skip
    taken = await nb_client.post(
        NUMBERS, json={"number": "2015550123", "target": {"kind": "user", "agent": "ann"}},
        headers=nb_admin,
    )  # fmt: skip
    assert taken.status == 409
    assert (await taken.json())["error"]["code"] == "number_in_use"


CONFIGURED = [
    {"number": "+1 201 555 0123", "friendly_name": "Ann's line",
     "target": {"kind": "user", "agent": "ann"}},
    {"number": "2015550124", "messaging_type": "mms_sms", "mms_available": True,
     "target": {"kind": "stream", "stream": "sms-main"}},
]  # fmt: skip


@pytest.mark.parametrize("nb_config", [numbers_config(CONFIGURED)], ids=["numbers"])
async def test_numbers_from_the_config_file_are_active_without_provider_calls(
    nb_client: Client, nb_admin: Headers, nb_runtime: Runtime,
    nb_fake: tuple[GatedInteliquent, str],
) -> None:  # fmt: skip
    items = (await (await nb_client.get(NUMBERS, headers=nb_admin)).json())["items"]
    assert [(i["number"], i["friendly_name"], i["provisioning"], i["platform"]) for i in items] == [
        ("2015550123", "Ann's line", "active", "iq"),
        ("2015550124", "2015550124", "active", "iq"),
    ]
    assert nb_fake[0].requests == []
    before = await stored(nb_runtime, "2015550123")
    await apply_config(nb_runtime.store, nb_runtime.config)  # idempotent
    assert await stored(nb_runtime, "2015550123") == before
    assert before.provisioning is ProvisioningState.ACTIVE


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ({"number": "12345", "target": {"kind": "user", "agent": "ann"}},
         "tenants[0].numbers[0].number: '12345' is not a 10-digit US number"),
        ({"number": "2015550123", "target": {"kind": "user", "agent": "zed"}},
         "numbers[0].target.agent: unknown agent 'zed'"),
        ({"number": "2015550123", "target": {"kind": "stream", "stream": "web"}},
         "numbers[0].target.stream: media stream 'web' is webchat, not sms"),
    ],
)  # fmt: skip
def test_bad_numbers_in_the_config_file_stop_start_up(number: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.parse(numbers_config([number]))
    assert problem in str(caught.value)
