"""The OpenAPI 3.1 document (/api/v1/openapi.json) and its rendered page (/docs/api).

The document is generated from the route registry (router/api_routes.py): these tests check
that it is well-formed, that every /api/v1 route of the real app is in it (and nothing else),
that real responses of the in-process app validate against the documented schemas, and that
the docs page lists every operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, SecretStr, TypeAdapter

from bots.accounts import LexAccount
from channels.accounts import TelegramAccount
from channels.cpaas import (
    AlertRecipient,
    CpaasNumber,
    CpaasPlatform,
    HeaderVerification,
    ProvisioningState,
    StreamTarget,
)
from router.api_models import Error, OAuthError
from router.models import ChannelKind
from router.openapi import build_document, routes_of
from router.runtime import Runtime
from router.store.consent import BlockRecord
from tests.router.conftest import ConnectCustomer, agent, api_token, session_of, tenant, token

Client = TestClient[Any, Any]
OUR, PARTY = "2015550100", "+12025550111"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def config_data() -> dict[str, Any]:
    acme = tenant("acme")
    acme["agents"].append(agent("root", role="tenant_admin"))
    acme["media_streams"].append({"id": "sms", "media": "sms", "queue": "support"})
    return {"tenants": [acme, tenant("globex")]}


async def _document(client: Client) -> dict[str, Any]:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _app_routes(client: Client) -> set[tuple[str, str]]:
    """(method, path template) of every /api/v1 route in the live aiohttp router."""
    found = set()
    for resource in client.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or ""
        for route in resource:
            if path.startswith("/api/v1") and route.method != "HEAD":
                found.add((route.method, path))
    return found


async def test_document_is_openapi_3_1_and_every_ref_resolves(client: Client) -> None:
    doc = await _document(client)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    flows = doc["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["password"]["tokenUrl"] == flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert doc["security"] == [{"oauth2": []}]
    error = doc["components"]["schemas"]["Error"]
    detail = doc["components"]["schemas"]["ErrorDetail"]
    assert error["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert set(detail["properties"]) == {"code", "message", "field"}
    schemas = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert refs, "the document references its schemas"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, f"unresolved {ref}"
    operation_ids: list[str] = []
    tags = {t["name"] for t in doc["tags"]}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert method.upper() in METHODS
            operation_ids.append(op["operationId"])
            assert op["summary"]
            assert set(op["tags"]) <= tags
            assert any(code < "400" for code in op["responses"]), (method, path)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
            if op.get("security") != []:
                assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
    assert len(operation_ids) == len(set(operation_ids)), "operationIds are unique"
    assert doc["paths"]["/oauth/token"]["post"]["security"] == []
    token_body = doc["paths"]["/oauth/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in token_body


async def test_every_api_route_is_documented_and_nothing_else(client: Client) -> None:
    doc = await _document(client)
    documented = {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if path.startswith("/api/v1")
    }
    live = _app_routes(client)
    assert live, "the app has /api/v1 routes"
    missing = sorted(live - documented)
    assert not missing, (
        f"routes missing from the OpenAPI document (add them to api_routes): {missing}"
    )
    assert not sorted(documented - live), "documented routes the app does not serve"
    assert "post" in doc["paths"]["/oauth/token"]


class Checker:
    """Validates real responses against the schema the document names for them."""

    def __init__(self, client: Client, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.models: dict[str, type[BaseModel]] = {"Error": Error, "OAuthError": OAuthError}
        for route in routes_of(client.app):
            if route.response is not None:
                self.models[route.response.__name__] = route.response
        self.checked: list[tuple[str, str]] = []

    async def check(self, resp: ClientResponse, method: str, template: str) -> Any:
        text = await resp.text()
        op = self.doc["paths"][template][method.lower()]
        assert str(resp.status) in op["responses"], (method, template, resp.status, text)
        documented = op["responses"][str(resp.status)]
        if resp.status == 204:
            assert "content" not in documented
            assert text == ""
            self.checked.append((method, template))
            return None
        ref = documented["content"]["application/json"]["schema"]["$ref"]
        name = ref.rsplit("/", 1)[-1]
        assert name in self.doc["components"]["schemas"]
        # The model the schema was generated from, strict about extra fields (frozen views).
        TypeAdapter(self.models[name]).validate_json(text)
        self.checked.append((method, template))
        return await resp.json()


async def _seed(runtime: Runtime) -> None:
    store = runtime.store
    await store.cpaas.put_platform(
        CpaasPlatform(
            id="iq", tenant="acme", name="Inteliquent", account_key="key",
            token_secret=SecretStr("s"), outbound_api_key=SecretStr("o"),
            inbound_verification=HeaderVerification(header_name="X-Hook",
                                                    header_value=SecretStr("v")),
        )
    )  # fmt: skip
    await store.cpaas.put_number(
        CpaasNumber(number=OUR, tenant="acme", platform="iq", target=StreamTarget(stream="sms"),
                    provisioning=ProvisioningState.ACTIVE)
    )  # fmt: skip
    await store.cpaas.put_alert_recipient(
        AlertRecipient(id="ops", tenant="acme", name="Ops", email="ops@example.com")
    )
    await store.accounts.put(
        TelegramAccount(id="tg", tenant="acme", name="Telegram", stream="web",
                        token=SecretStr("123:abc")),
        create=True,
    )  # fmt: skip
    await store.bots.put(
        LexAccount(id="lex", tenant="acme", name="Lex", max_api_calls_per_day=10, bot_id="B1",
                   bot_alias_id="A1", region="us-east-1", access_key="AK",
                   secret_key=SecretStr("sk")),
        create=True,
    )  # fmt: skip
    await store.consent.block(
        BlockRecord(tenant="acme", channel=ChannelKind.SMS, account=OUR, party="12025550111",
                    blocked_by="ann", at=datetime.now(UTC))
    )  # fmt: skip


async def test_real_responses_validate_against_the_documented_schemas(
    client: Client, runtime: Runtime, connect_customer: ConnectCustomer
) -> None:
    doc = await _document(client)
    checker = Checker(client, doc)
    await _seed(runtime)
    admin = {"Authorization": f"Bearer {await token(client, 'acme', 'root')}"}
    api = {"Authorization": f"Bearer {await api_token(client, 'acme')}"}
    get, check = client.get, checker.check

    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "ann", "password": "correct horse battery",
              "scope": "acme"},
    )  # fmt: skip
    await check(resp, "POST", "/oauth/token")
    bad = await client.post("/oauth/token", data={"grant_type": "nope", "scope": "acme"})
    await check(bad, "POST", "/oauth/token")

    status = await check(await get("/api/v1/queues/support/status", headers=api), "GET",
                         "/api/v1/queues/{queue}/status")  # fmt: skip
    assert status["queue"] == "support"
    customer = await connect_customer()
    await customer.say("hello")
    sid = await session_of(runtime, customer)
    session = await check(await get(f"/api/v1/sessions/{sid}", headers=api), "GET",
                          "/api/v1/sessions/{session_id}")  # fmt: skip
    assert session["id"] == sid
    await check(await get("/api/v1/sessions/nope", headers=api), "GET",
                "/api/v1/sessions/{session_id}")  # fmt: skip
    await check(await get("/api/v1/queues/support/status"), "GET",
                "/api/v1/queues/{queue}/status")  # fmt: skip

    page = await check(await get("/api/v1/integration-accounts", headers=admin), "GET",
                       "/api/v1/integration-accounts")  # fmt: skip
    assert [a["id"] for a in page["items"]] == ["tg"]
    account = await check(await get("/api/v1/integration-accounts/tg", headers=admin), "GET",
                          "/api/v1/integration-accounts/{account_id}")  # fmt: skip
    assert account["secrets"] == {"token": True, "secret_token": False}
    await check(await client.post("/api/v1/integration-accounts/generate-token", headers=admin),
                "POST", "/api/v1/integration-accounts/generate-token")  # fmt: skip
    await check(await get("/api/v1/bot-accounts", headers=admin), "GET", "/api/v1/bot-accounts")
    bot = await check(await get("/api/v1/bot-accounts/lex", headers=admin), "GET",
                      "/api/v1/bot-accounts/{account_id}")  # fmt: skip
    assert bot["secrets"] == {"secret_key": True}
    assert "remaining_calls_today" in bot

    streams = await check(await get("/api/v1/media-streams", headers=admin), "GET",
                          "/api/v1/media-streams")  # fmt: skip
    assert {s["id"] for s in streams["items"]} == {"web", "sms"}
    await check(await get("/api/v1/media-streams/web", headers=admin), "GET",
                "/api/v1/media-streams/{stream_id}")  # fmt: skip

    await check(await get("/api/v1/cpaas-platforms", headers=admin), "GET",
                "/api/v1/cpaas-platforms")  # fmt: skip
    platform = await check(await get("/api/v1/cpaas-platforms/iq", headers=admin), "GET",
                           "/api/v1/cpaas-platforms/{platform_id}")  # fmt: skip
    assert platform["inbound_verification"] == {"mode": "header", "header_name": "X-Hook"}
    await check(await get("/api/v1/alert-recipients", headers=admin), "GET",
                "/api/v1/alert-recipients")  # fmt: skip
    numbers = await check(await get("/api/v1/numbers", headers=admin), "GET", "/api/v1/numbers")
    assert [n["number"] for n in numbers["items"]] == [OUR]
    number = await check(await get(f"/api/v1/numbers/{OUR}", headers=admin), "GET",
                         "/api/v1/numbers/{number}")  # fmt: skip
    assert number["consumer"]["kind"] == "stream"

    changed = await check(
        await client.put(f"/api/v1/consent/{OUR}/{PARTY}", json={"state": "opted_out"},
                         headers=admin),
        "PUT", "/api/v1/consent/{account}/{party}",
    )  # fmt: skip
    assert changed["changed"] is True
    assert changed["state"] == "opted_out"
    await check(await get(f"/api/v1/consent/{OUR}/{PARTY}", headers=admin), "GET",
                "/api/v1/consent/{account}/{party}")  # fmt: skip
    ledger = await check(await get("/api/v1/consent-ledger", headers=admin), "GET",
                         "/api/v1/consent-ledger")  # fmt: skip
    assert ledger["total"] == 1
    assert ledger["items"][0]["direction"] == "out"
    blocked = await check(await get("/api/v1/blocked-numbers", headers=admin), "GET",
                          "/api/v1/blocked-numbers")  # fmt: skip
    assert blocked["total"] == 1
    await check(await client.delete(f"/api/v1/blocked-numbers/{OUR}/{PARTY}", headers=admin),
                "DELETE", "/api/v1/blocked-numbers/{account}/{party}")  # fmt: skip

    sub = await check(
        await client.post("/api/v1/event-subscriptions", headers=admin,
                          json={"url": "https://example.com/hook", "events": ["*"]}),
        "POST", "/api/v1/event-subscriptions",
    )  # fmt: skip
    assert sub["secret"]
    await check(await get("/api/v1/event-subscriptions", headers=admin), "GET",
                "/api/v1/event-subscriptions")  # fmt: skip
    await check(await get(f"/api/v1/event-subscriptions/{sub['id']}/deliveries",
                          headers=admin), "GET",
                "/api/v1/event-subscriptions/{sub_id}/deliveries")  # fmt: skip
    await check(await get("/api/v1/cpaas-platforms/nope", headers=admin), "GET",
                "/api/v1/cpaas-platforms/{platform_id}")  # fmt: skip
    await check(await get("/api/v1/numbers", headers=api), "GET", "/api/v1/numbers")
    await check(await client.delete("/api/v1/alert-recipients/ops", headers=admin), "DELETE",
                "/api/v1/alert-recipients/{recipient_id}")  # fmt: skip
    assert len(checker.checked) >= 29


async def test_docs_page_lists_every_operation_without_scripts(client: Client) -> None:
    doc = await _document(client)
    resp = await client.get("/docs/api")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert "<script" not in html, "the docs page needs no JS"
    assert not re.search(r"""(src|href)=["']https?://""", html), "no external assets"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert f'data-method="{method.upper()}" data-path="{path}"' in html, (method, path)
            assert f'id="op-{op["operationId"]}"' in html
    for tag in doc["tags"]:
        assert f"<h2>{tag['name']}</h2>" in html
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    assert 'href="/api/v1/openapi.json"' in html


def test_document_is_built_from_the_registry_alone() -> None:
    """Without registered routes there is nothing to document (no hand-built paths)."""
    doc = build_document([])
    assert doc["paths"] == {}
    assert doc["openapi"] == "3.1.0"
    assert "Error" in doc["components"]["schemas"]
