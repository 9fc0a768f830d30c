"""One pagination rule for every list: ``{"items", "total", "limit", "offset"}``, ``limit``
1..500 (default 50), ``offset`` 0 or more, a 400 naming the parameter otherwise; filters
answer 400 for values they do not know."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from channels.accounts import TelegramAccount, ViberAccount
from channels.cpaas import AlertRecipient
from router import api_routes
from router.openapi import routes_of
from router.paging import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from router.runtime import Runtime
from tests.sms.conftest import Sms

Client = TestClient[Any, Any]

LISTS = [
    "/api/v1/integration-accounts",
    "/api/v1/bot-accounts",
    "/api/v1/cpaas-platforms",
    "/api/v1/alert-recipients",
    "/api/v1/numbers",
    "/api/v1/consent-ledger",
    "/api/v1/blocked-numbers",
    "/api/v1/event-subscriptions",
]


@pytest.mark.parametrize("path", LISTS)
async def test_every_list_has_the_same_shape_and_rules(
    client: Client, admin: dict[str, str], sms: Sms, path: str
) -> None:
    resp = await client.get(path, headers=admin)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {"items", "total", "limit", "offset"}
    assert (body["limit"], body["offset"]) == (DEFAULT_LIMIT, 0)
    assert body["total"] >= len(body["items"])
    resp = await client.get(path, params={"limit": "3", "offset": "1"}, headers=admin)
    assert resp.status == 200
    assert ((await resp.json())["limit"], (await resp.json())["offset"]) == (3, 1)
    for name, value in (("limit", "0"), ("limit", str(MAX_LIMIT + 1)), ("limit", "ten"),
                        ("offset", "-1"), ("offset", "x")):  # fmt: skip
        bad = await client.get(path, params={name: value}, headers=admin)
        assert bad.status == 400, (name, value, await bad.text())
        error = (await bad.json())["error"]
        assert error["field"] == name
        assert error["message"].startswith(f"{name}: ")


def test_every_list_declares_limit_and_offset() -> None:
    lists = [
        r for group in (api_routes.ACCOUNTS, api_routes.BOTS, api_routes.CPAAS,
                        api_routes.NUMBERS, api_routes.SMS, api_routes.EVENTS)
        for r in group if r.method == "GET" and r.response is not None
        and r.response.__name__.endswith("Page")
    ]  # fmt: skip
    assert {r.path for r in lists} >= set(LISTS)
    for route in lists:
        names = {q.name: q for q in route.query}
        assert (names["limit"].minimum, names["limit"].maximum) == (1, MAX_LIMIT), route.path
        assert names["offset"].minimum == 0, route.path
        assert 400 in route.errors, route.path
        fields = route.response.model_fields  # type: ignore[union-attr]
        assert {"items", "total", "limit", "offset"} <= set(fields), route.path


async def test_pages_and_filters(
    client: Client, runtime: Runtime, admin: dict[str, str], sms: Sms
) -> None:
    for i in range(5):
        await runtime.store.cpaas.put_alert_recipient(
            AlertRecipient(id=f"r{i}", tenant="acme", name=f"R{i}", email=f"r{i}@acme.example")
        )
    everything = await (await client.get("/api/v1/alert-recipients", headers=admin)).json()
    assert everything["total"] == 6
    ids = [r["id"] for r in everything["items"]]
    page = await (
        await client.get("/api/v1/alert-recipients?limit=2&offset=3", headers=admin)
    ).json()
    assert [r["id"] for r in page["items"]] == ids[3:5]
    assert page["total"] == 6
    beyond = await (await client.get("/api/v1/alert-recipients?offset=99", headers=admin)).json()
    assert (beyond["items"], beyond["total"]) == ([], 6)

    await runtime.store.accounts.put(
        TelegramAccount(id="tg", tenant="acme", name="T", stream="sms", token=SecretStr("1:a")),
        create=True,
    )
    await runtime.store.accounts.put(
        ViberAccount(id="vb", tenant="acme", name="V", stream="sms", token=SecretStr("tok")),
        create=True,
    )
    url = "/api/v1/integration-accounts"
    only = await (await client.get(url + "?type=viber", headers=admin)).json()
    assert [a["id"] for a in only["items"]] == ["vb"]
    assert only["total"] == 1
    bad = await client.get(url + "?type=carrier-pigeon", headers=admin)
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "type"
    bad = await client.get("/api/v1/bot-accounts?type=eliza", headers=admin)
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "type"


async def test_the_document_states_the_bounds(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for route in routes_of(client.app):
        if route.method != "GET" or route.path not in LISTS:
            continue
        params = {p["name"]: p for p in doc["paths"][route.path]["get"]["parameters"]}
        assert params["limit"]["schema"] == {
            "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT
        }  # fmt: skip
        assert params["offset"]["schema"] == {
            "type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0
        }  # fmt: skip
