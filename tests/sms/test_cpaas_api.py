"""``/api/v1/cpaas-platforms`` and ``/api/v1/alert-recipients``: credential checks before saving,
write-only secrets, the alert-recipient rules, and the same settings from the config file."""

from __future__ import annotations

from typing import Any

import pytest

from channels.cpaas import HeaderVerification
from channels.inteliquent import InteliquentClient
from router.config import Config
from router.errors import ConfigError
from router.keys import RUNTIME
from router.provisioning import apply_config
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.fakes.inteliquent import FakeInteliquent, header_headers, inbound_body
from tests.sms.conftest import (
    API_KEY,
    API_SECRET,
    OUR,
    OUTBOUND_KEY,
    Client,
    number_model,
    sms_config,
    token,
)

PLATFORMS, RECIPIENTS = "/api/v1/cpaas-platforms", "/api/v1/alert-recipients"
NO_RECIPIENT = (
    "CPaaS platforms cannot be added as there are no users at the tenant level that are "
    "configured to receive alerts."
)
ONLY_RECIPIENT = "cannot be {} as they are the only user account configured to receive alerts."


def _body(base: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "iq",
        "name": "Inteliquent",
        "type": "inteliquent",
        "account_key": API_KEY,
        "token_secret": API_SECRET,
        "outbound_api_key": OUTBOUND_KEY,
        "user_confirmation_required": True,
        "user_can_block_numbers": True,
        "mms_available": True,
        "messaging_base_url": base + "/msgbroker/rest",
        "services_base_url": base + "/Services/2.0.0",
    }
    data.update(extra)
    return data


async def _recipient(client: Client, admin: dict[str, str], rid: str = "ops", **extra: Any) -> None:
    body = {"id": rid, "name": "Ops", "email": f"{rid}@acme.example", **extra}
    resp = await client.post(RECIPIENTS, json=body, headers=admin)
    assert resp.status == 201, await resp.text()


async def _listed(client: Client, admin: dict[str, str]) -> list[dict[str, Any]]:
    resp = await client.get(PLATFORMS, headers=admin)
    assert resp.status == 200
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def test_no_platform_without_an_alert_recipient(
    client: Client, admin: dict[str, str], fake: tuple[FakeInteliquent, str]
) -> None:
    resp = await client.post(PLATFORMS, json=_body(fake[1]), headers=admin)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "no_alert_recipient"
    assert error["message"].startswith(NO_RECIPIENT)
    await _recipient(client, admin, send_alerts=False)  # a recipient who gets no alerts
    assert (await client.post(PLATFORMS, json=_body(fake[1]), headers=admin)).status == 409
    assert fake[0].requests == []  # refused before the provider is asked
    assert await _listed(client, admin) == []


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (
            {"outbound_api_key": "nope"},
            400,
            "could not connect to the CPaaS platform: Message Broker refused the outbound API key: "
            "UNAUTHORIZED: Invalid or missing API key",
        ),
        (
            {"token_secret": "nope"},
            400,
            "could not connect to the CPaaS platform: Services API refused the API key / secret: "
            "Invalid credentials: Invalid authentication information provided (401001)",
        ),
    ],
)
async def test_refused_credentials_save_nothing(
    client: Client,
    admin: dict[str, str],
    fake: tuple[FakeInteliquent, str],
    change: dict[str, str],
    status: int,
    message: str,
) -> None:
    await _recipient(client, admin)
    resp = await client.post(PLATFORMS, json=_body(fake[1], **change), headers=admin)
    assert resp.status == status
    assert (await resp.json())["error"]["message"] == message
    assert await _listed(client, admin) == []


async def test_an_unreachable_provider_is_a_502(
    client: Client, admin: dict[str, str], fake: tuple[FakeInteliquent, str]
) -> None:
    await _recipient(client, admin)
    fake[0].fail_next(503)
    resp = await client.post(PLATFORMS, json=_body(fake[1]), headers=admin)
    assert resp.status == 502
    error = (await resp.json())["error"]
    assert error["code"] == "unreachable"
    assert error["message"].startswith("could not connect to the CPaaS platform: ")
    assert await _listed(client, admin) == []


async def test_platform_crud_with_write_only_secrets(
    client: Client, admin: dict[str, str], fake: tuple[FakeInteliquent, str]
) -> None:
    await _recipient(client, admin)
    resp = await client.post(PLATFORMS, json=_body(fake[1]), headers=admin)
    assert resp.status == 201, await resp.text()
    text = await resp.text()
    for secret in (API_SECRET, OUTBOUND_KEY):
        assert secret not in text
    view = await resp.json()
    assert view["secrets"] == {"token_secret": True, "outbound_api_key": True}
    assert view["inbound_verification"] == {"mode": "header", "header_name": "X-Switchboard-Token"}
    assert (
        view["user_confirmation_required"],
        view["user_can_block_numbers"],
        view["mms_available"],
    ) == (True, True, True)
    stored = await client.app[RUNTIME].store.cpaas.platform("acme", "iq")
    assert isinstance(stored.inbound_verification, HeaderVerification)
    assert len(stored.inbound_verification.header_value.get_secret_value()) >= 24

    assert (await client.get(PLATFORMS + "/iq", headers=admin)).status == 200
    assert [p["id"] for p in await _listed(client, admin)] == ["iq"]
    duplicate = await client.post(PLATFORMS, json=_body(fake[1]), headers=admin)
    assert duplicate.status == 409

    checks = len(fake[0].calls("selectAuthorization"))
    resp = await client.patch(PLATFORMS + "/iq", json={"mms_available": False}, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["mms_available"] is False
    assert len(fake[0].calls("selectAuthorization")) == checks + 1  # checked again
    kept = await client.app[RUNTIME].store.cpaas.platform("acme", "iq")
    assert kept.outbound_api_key.get_secret_value() == OUTBOUND_KEY  # omitted: kept

    resp = await client.patch(PLATFORMS + "/iq", json={"outbound_api_key": "bad"}, headers=admin)
    assert resp.status == 400
    after = await client.app[RUNTIME].store.cpaas.platform("acme", "iq")
    assert after.outbound_api_key.get_secret_value() == OUTBOUND_KEY
    assert (await client.patch(PLATFORMS + "/iq", json={"id": "x"}, headers=admin)).status == 400

    assert (await client.delete(PLATFORMS + "/iq", headers=admin)).status == 204
    assert (await client.get(PLATFORMS + "/iq", headers=admin)).status == 404


async def test_only_tenant_admins_and_only_their_tenant(
    client: Client, admin: dict[str, str], fake: tuple[FakeInteliquent, str]
) -> None:
    await _recipient(client, admin)
    assert (await client.post(PLATFORMS, json=_body(fake[1]), headers=admin)).status == 201
    ann = {"Authorization": f"Bearer {await token(client, 'ann')}"}
    for method, path in (
        ("GET", PLATFORMS),
        ("POST", PLATFORMS),
        ("GET", RECIPIENTS),
        ("DELETE", RECIPIENTS + "/ops"),
    ):
        resp = await client.request(method, path, json={}, headers=ann)
        assert resp.status == 403
    gus = {"Authorization": f"Bearer {await token(client, 'gus', 'globex')}"}
    assert (await client.get(PLATFORMS + "/iq", headers=gus)).status == 404
    assert await _listed(client, gus) == []
    # Platform ids are global (the webhook URL names only the id).
    await _recipient(client, gus, "g-ops")
    assert (await client.post(PLATFORMS, json=_body(fake[1]), headers=gus)).status == 409


async def test_the_last_alert_recipient_stays_while_a_platform_exists(
    client: Client, admin: dict[str, str], fake: tuple[FakeInteliquent, str]
) -> None:
    await _recipient(client, admin)
    assert (await client.post(PLATFORMS, json=_body(fake[1]), headers=admin)).status == 201
    resp = await client.patch(RECIPIENTS + "/ops", json={"send_alerts": False}, headers=admin)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "last_alert_recipient"
    assert ONLY_RECIPIENT.format("updated") in error["message"]
    resp = await client.delete(RECIPIENTS + "/ops", headers=admin)
    assert resp.status == 409
    assert ONLY_RECIPIENT.format("deleted") in (await resp.json())["error"]["message"]
    # Renaming is fine; so is switching off once another recipient gets alerts.
    resp = await client.patch(RECIPIENTS + "/ops", json={"name": "Operations"}, headers=admin)
    assert resp.status == 200
    await _recipient(client, admin, "sec")
    resp = await client.patch(RECIPIENTS + "/ops", json={"send_alerts": False}, headers=admin)
    assert resp.status == 200
    assert (await resp.json())["send_alerts"] is False
    assert (await client.delete(RECIPIENTS + "/ops", headers=admin)).status == 204
    assert (await client.delete(RECIPIENTS + "/sec", headers=admin)).status == 409
    # Without a platform the last recipient may go.
    assert (await client.delete(PLATFORMS + "/iq", headers=admin)).status == 204
    assert (await client.delete(RECIPIENTS + "/sec", headers=admin)).status == 204
    listed = await client.get(RECIPIENTS, headers=admin)
    assert (await listed.json())["items"] == []


async def test_recipient_validation(client: Client, admin: dict[str, str]) -> None:
    resp = await client.post(RECIPIENTS, json={"email": "not-an-email"}, headers=admin)
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "email"
    await _recipient(client, admin)
    assert (
        await client.post(RECIPIENTS, json={"id": "ops", "email": "a@b.example"}, headers=admin)
    ).status == 409
    assert (await client.patch(RECIPIENTS + "/nobody", json={}, headers=admin)).status == 404


async def test_a_platform_with_numbers_cannot_be_deleted(
    client: Client, admin: dict[str, str], fake: tuple[FakeInteliquent, str]
) -> None:
    await _recipient(client, admin)
    assert (await client.post(PLATFORMS, json=_body(fake[1]), headers=admin)).status == 201
    await client.app[RUNTIME].store.cpaas.put_number(number_model(OUR))
    resp = await client.delete(PLATFORMS + "/iq", headers=admin)
    assert resp.status == 409
    assert OUR in (await resp.json())["error"]["message"]


async def test_a_new_verification_registers_the_numbers_webhooks_again(
    client: Client, admin: dict[str, str], fake: tuple[FakeInteliquent, str]
) -> None:
    rt = client.app[RUNTIME]
    await _recipient(client, admin)
    body = _body(
        fake[1],
        inbound_verification={
            "mode": "header",
            "header_name": "X-Hook",
            "header_value": "old-value",
        },
    )
    assert (await client.post(PLATFORMS, json=body, headers=admin)).status == 201
    platform = await rt.store.cpaas.platform("acme", "iq")
    url = "https://sb.example.com/webhooks/inteliquent/iq"
    old_id = await InteliquentClient(platform, rt.channels.session).register_webhook(OUR, url)
    await rt.store.cpaas.put_number(number_model(OUR, webhook_auth_id=old_id))

    change = {"inbound_verification": {"header_value": "new-value"}}  # same mode: name kept
    resp = await client.patch(PLATFORMS + "/iq", json=change, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["webhooks"] == {"registered": 1, "failed": []}
    [registration] = fake[0].authorizations.values()
    assert (registration.tn, registration.webhook_url) == ("1" + OUR, url)
    assert (registration.header_name, registration.header_value) == ("X-Hook", "new-value")
    stored = await rt.store.cpaas.number("acme", OUR)
    assert stored.webhook_auth_id == registration.auth_id != old_id
    # Inbound webhooks now need the new value.
    hook = "/webhooks/inteliquent/iq"
    sms = inbound_body("13125550199", ["12015550123"], "hi")
    resp = await client.post(hook, data=sms, headers=header_headers("X-Hook", "old-value"))
    assert resp.status == 401
    resp = await client.post(hook, data=sms, headers=header_headers("X-Hook", "new-value"))
    assert resp.status == 200


def _config(**tenant: Any) -> dict[str, Any]:
    data = sms_config()
    data["tenants"][0].update(tenant)
    return data


PLATFORM_CONFIG = {
    "id": "iq-config",
    "name": "Inteliquent",
    "account_key": API_KEY,
    "token_secret": API_SECRET,
    "outbound_api_key": OUTBOUND_KEY,
    "inbound_verification": {
        "mode": "message_id",
        "inbound_api_key": "k3y",
        "algorithm": "sha256_concat",
    },
}


def test_config_platforms_need_an_alert_recipient() -> None:
    with pytest.raises(ConfigError, match="need at least one alert recipient"):
        Config.parse(_config(cpaas_platforms=[PLATFORM_CONFIG]))
    with pytest.raises(ConfigError, match="need at least one alert recipient"):
        Config.parse(
            _config(
                cpaas_platforms=[PLATFORM_CONFIG],
                alert_recipients=[{"id": "ops", "email": "ops@acme.example", "send_alerts": False}],
            )
        )
    data = _config(
        cpaas_platforms=[PLATFORM_CONFIG],
        alert_recipients=[{"id": "ops", "email": "ops@acme.example"}],
    )
    data["tenants"][1].update(
        cpaas_platforms=[PLATFORM_CONFIG],
        alert_recipients=[{"id": "g", "email": "g@globex.example"}],
    )
    with pytest.raises(ConfigError, match="cpaas_platforms: duplicate id 'iq-config'"):
        Config.parse(data)


async def test_config_platforms_are_applied_idempotently() -> None:
    config = Config.parse(
        _config(
            cpaas_platforms=[PLATFORM_CONFIG],
            alert_recipients=[{"id": "ops", "name": "Ops", "email": "ops@acme.example"}],
        )
    )
    store = RedisStore(MemoryRedis())
    await apply_config(store, config)
    await apply_config(store, config)
    [platform] = await store.cpaas.platforms("acme")
    assert (platform.id, platform.tenant) == ("iq-config", "acme")
    assert platform.outbound_api_key.get_secret_value() == OUTBOUND_KEY
    [recipient] = await store.cpaas.alert_recipients("acme")
    assert (recipient.id, recipient.tenant, recipient.send_alerts) == ("ops", "acme", True)
    assert await store.cpaas.platform_tenant("iq-config", ["globex", "acme"]) == "acme"
