"""``/api/v1/bot-accounts``: CRUD with write-only secrets, tenancy, roles, Test Connection
(through the engine factory hook), and bot accounts from the config file."""

from __future__ import annotations

from typing import Any

import pytest

from bots.accounts import WatsonLegacyAccount
from channels.base import CheckResult, ConnectionCheck
from router.config import Config
from router.errors import ConfigError
from router.runtime import Runtime
from tests.bots.modes_fixtures import (  # noqa: F401 - the *_fixture are fixtures
    Client,
    FakeEngine,
    bm_admin_fixture,
    bm_client_fixture,
    bm_engine_fixture,
    bm_runtime_fixture,
    password_token,
    stream,
    tenant,
)

URL = "/api/v1/bot-accounts"
SECRET = "legacy-password-123"


def legacy(**extra: Any) -> dict[str, Any]:
    return {
        "type": "watson_legacy",
        "name": "Legacy bot",
        "url": "https://gateway.watsonplatform.net/assistant/api",
        "skill_id": "sk-9",
        "username": "apikey",
        "password": SECRET,
        "max_api_calls_per_day": 50,
        **extra,
    }


async def test_crud_never_returns_secrets(
    bm_client: Client, bm_admin: dict[str, str], bm_runtime: Runtime
) -> None:
    resp = await bm_client.post(URL, json=legacy(id="leg"), headers=bm_admin)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["secrets"] == {"password": True}
    assert created["url"].endswith("?version=2018-09-20")
    assert created["remaining_calls_today"] == 50  # nothing used yet today
    for resp in (
        await bm_client.get(f"{URL}/leg", headers=bm_admin),
        await bm_client.get(URL, headers=bm_admin),
    ):
        text = await resp.text()
        assert resp.status == 200
        assert SECRET not in text
        assert "sk-9" in text
    listed = await (await bm_client.get(URL, headers=bm_admin)).json()
    assert sorted(a["id"] for a in listed["items"]) == ["leg", "wb"]  # + the config file's
    assert SECRET not in str(listed)
    assert "watson-secret-key" not in str(listed)

    resp = await bm_client.patch(f"{URL}/leg", json={"name": "Renamed"}, headers=bm_admin)
    assert resp.status == 200, await resp.text()
    stored = await bm_runtime.store.bots.get("leg")
    assert isinstance(stored, WatsonLegacyAccount)
    assert stored.name == "Renamed"
    assert stored.password.get_secret_value() == SECRET  # omitted secret kept
    resp = await bm_client.patch(f"{URL}/leg", json={"type": "lex"}, headers=bm_admin)
    assert resp.status == 400
    resp = await bm_client.patch(f"{URL}/leg", json={"max_api_calls_per_day": -1},
                                 headers=bm_admin)  # fmt: skip
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "max_api_calls_per_day"
    resp = await bm_client.post(URL, json=legacy(id="leg2", name="Renamed"), headers=bm_admin)
    assert resp.status == 409

    assert (await bm_client.delete(f"{URL}/leg", headers=bm_admin)).status == 204
    assert (await bm_client.get(f"{URL}/leg", headers=bm_admin)).status == 404
    assert await bm_runtime.store.bots.get("leg") is None


async def test_other_tenants_and_non_admins_see_nothing(
    bm_client: Client, bm_admin: dict[str, str]
) -> None:
    await bm_client.post(URL, json=legacy(id="leg"), headers=bm_admin)
    globex = {"Authorization": f"Bearer {await password_token(bm_client, 'root', 'globex')}"}
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "patch" else {}
        resp = await getattr(bm_client, method)(f"{URL}/leg", headers=globex, **kwargs)
        assert resp.status == 404, method
    resp = await bm_client.post(f"{URL}/leg/test-connection", headers=globex)
    assert resp.status == 404
    listed = await (await bm_client.get(URL, headers=globex)).json()
    assert [a["id"] for a in listed["items"]] == ["wb-globex"]
    resp = await bm_client.post(URL, json=legacy(id="leg"), headers=globex)
    assert resp.status == 409  # ids are global
    assert (await resp.json())["error"]["field"] == "id"
    agent = {"Authorization": f"Bearer {await password_token(bm_client, 'ann')}"}
    assert (await bm_client.get(URL, headers=agent)).status == 403


async def test_connection_uses_the_engine(
    bm_client: Client, bm_admin: dict[str, str], bm_engine: FakeEngine
) -> None:
    resp = await bm_client.post(f"{URL}/wb/test-connection", headers=bm_admin)
    assert resp.status == 200
    assert (await resp.json())["result"] == "valid"
    bm_engine.check = ConnectionCheck(
        result=CheckResult.INVALID_CREDENTIALS, detail="Provided API key could not be found"
    )
    body = await (await bm_client.post(f"{URL}/wb/test-connection", headers=bm_admin)).json()
    assert body["result"] == "invalid_credentials"
    assert body["detail"] == "Provided API key could not be found"


async def test_config_file_accounts_are_applied_with_their_tenant(bm_runtime: Runtime) -> None:
    account = await bm_runtime.store.bots.get("wb")
    assert account is not None
    assert account.tenant == "acme"
    assert await bm_runtime.store.bots.get_in("globex", "wb") is None


def test_stream_bot_must_name_a_known_account_and_queues() -> None:
    data = tenant("acme")
    data["media_streams"] = [stream("s", "self_service", account="nope")]
    with pytest.raises(ConfigError, match=r"bot.account: unknown bot account 'nope'"):
        Config.parse({"tenants": [data]})
    data["media_streams"] = [stream("s", "routing", intent_queues={"billing": "nowhere"})]
    with pytest.raises(ConfigError, match=r"intent_queues.billing: unknown queue 'nowhere'"):
        Config.parse({"tenants": [data]})
