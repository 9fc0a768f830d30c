"""``/api/v1/integration-accounts``: CRUD with write-only secrets, roles, tenancy, and the
webhook entry point's refusals that do not depend on a provider."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from channels.media import signed_media_path
from router.runtime import Runtime
from tests.channels.conftest import get_token

URL = "/api/v1/integration-accounts"
SECRET = "tg-secret-token-123456:ABCDEF"


def telegram(**extra: Any) -> dict[str, Any]:
    return {
        "type": "telegram",
        "name": "Support bot",
        "stream": "telegram",
        "bot_username": "acme_bot",
        "token": SECRET,
        **extra,
    }


async def test_create_read_list_never_return_secrets(
    client: TestClient[Any, Any], admin: dict[str, str], runtime: Runtime
) -> None:
    resp = await client.post(URL, json=telegram(id="tg1"), headers=admin)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["secrets"] == {"token": True, "secret_token": False}
    for resp in (
        await client.get(f"{URL}/tg1", headers=admin),
        await client.get(URL, headers=admin),
    ):
        text = await resp.text()
        assert resp.status == 200
        assert SECRET not in text
        assert "acme_bot" in text
    stored = await runtime.store.accounts.get("tg1")
    assert stored is not None
    assert stored.token.get_secret_value() == SECRET  # kept, only for calling the provider


async def test_update_keeps_omitted_secrets_and_refuses_type_change(
    client: TestClient[Any, Any], admin: dict[str, str], runtime: Runtime
) -> None:
    await client.post(URL, json=telegram(id="tg1"), headers=admin)
    resp = await client.patch(f"{URL}/tg1", json={"name": "Renamed"}, headers=admin)
    assert resp.status == 200, await resp.text()
    stored = await runtime.store.accounts.get("tg1")
    assert stored is not None
    assert stored.name == "Renamed"
    assert stored.token.get_secret_value() == SECRET
    resp = await client.patch(f"{URL}/tg1", json={"type": "viber"}, headers=admin)
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "type"


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    client: TestClient[Any, Any], admin: dict[str, str], runtime: Runtime
) -> None:
    resp = await client.post(
        URL, data="{not json", headers={**admin, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    resp = await client.post(URL, data=json.dumps(telegram()), headers=admin)
    assert resp.status == 415
    resp = await client.post(URL, json=telegram(token=None), headers=admin)
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "token"
    resp = await client.post(URL, json=telegram(stream="nope"), headers=admin)
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "stream"
    resp = await client.post(URL, json=telegram(api_base_url="ftp://x"), headers=admin)
    assert resp.status == 400
    assert await runtime.store.accounts.list("acme") == []


async def test_ids_and_names_are_unique(
    client: TestClient[Any, Any], admin: dict[str, str]
) -> None:
    assert (await client.post(URL, json=telegram(id="tg1"), headers=admin)).status == 201
    again = await client.post(URL, json=telegram(id="tg1", name="Other"), headers=admin)
    assert again.status == 409
    error = (await again.json())["error"]
    assert (error["code"], error["field"]) == ("duplicate_id", "id")
    same_name = await client.post(URL, json=telegram(id="tg2"), headers=admin)
    assert same_name.status == 409
    error = (await same_name.json())["error"]
    assert (error["code"], error["field"]) == ("duplicate_name", "name")


async def test_only_tenant_admins_and_only_their_tenant(
    client: TestClient[Any, Any], admin: dict[str, str]
) -> None:
    await client.post(URL, json=telegram(id="tg1"), headers=admin)
    agent = {"Authorization": f"Bearer {await get_token(client, 'ann')}"}
    assert (await client.get(URL, headers=agent)).status == 403
    assert (await client.post(URL, json=telegram(id="x"), headers=agent)).status == 403
    other = {"Authorization": f"Bearer {await get_token(client, 'gus', 'globex')}"}
    assert (await client.get(f"{URL}/tg1", headers=other)).status == 404
    assert (await client.delete(f"{URL}/tg1", headers=other)).status == 404
    assert (await client.get(f"{URL}/tg1", headers=admin)).status == 200
    assert (await client.get(URL)).status == 401


async def test_delete_then_webhook_is_unknown(
    client: TestClient[Any, Any], admin: dict[str, str]
) -> None:
    await client.post(URL, json=telegram(id="tg1"), headers=admin)
    assert (await client.delete(f"{URL}/tg1", headers=admin)).status == 204
    assert (await client.get(f"{URL}/tg1", headers=admin)).status == 404
    resp = await client.post("/webhooks/telegram/tg1", json={"update_id": 1})
    assert resp.status == 404


async def test_webhook_type_must_match_the_account(
    client: TestClient[Any, Any], admin: dict[str, str]
) -> None:
    await client.post(URL, json=telegram(id="tg1"), headers=admin)
    assert (await client.post("/webhooks/viber/tg1", json={})).status == 404
    assert (await client.post("/webhooks/nope/tg1", json={})).status == 404


async def test_generate_random_token(client: TestClient[Any, Any], admin: dict[str, str]) -> None:
    first = await (await client.post(f"{URL}/generate-token", headers=admin)).json()
    second = await (await client.post(f"{URL}/generate-token", headers=admin)).json()
    assert len(first["token"]) >= 24
    assert first["token"] != second["token"]


async def test_media_links_need_a_valid_signature(
    client: TestClient[Any, Any], admin: dict[str, str], runtime: Runtime
) -> None:
    await client.post(URL, json=telegram(id="tg1"), headers=admin)
    good = signed_media_path(runtime.secret, "tg1", "file-1")
    forged = good.replace("file-1", "file-2")
    assert (await client.get(forged)).status == 403
    assert (await client.get("/media/tg1/file-1?sig=0000")).status == 403
