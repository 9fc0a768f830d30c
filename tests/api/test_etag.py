"""ETag on every single-object read, If-Match on every update (412 with nothing written).

Each case reads an object, then updates it: with a wrong ETag (412, unchanged), with the
current one (200, a new ETag that a read then shows), with the now stale one (412) and with
``*`` (any version).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from bots.accounts import LexAccount
from channels.accounts import TelegramAccount
from router.openapi import routes_of
from router.runtime import Runtime
from router.store.named import StaleObject
from tests.sms.conftest import CUSTOMER, OUR, Sms

Client = TestClient[Any, Any]


def telegram(name: str = "Telegram") -> TelegramAccount:
    return TelegramAccount(
        id="tg", tenant="acme", name=name, stream="sms", token=SecretStr("123:abc")
    )


def lex() -> LexAccount:
    return LexAccount(
        id="lex", tenant="acme", name="Lex", max_api_calls_per_day=10, bot_id="B1",
        bot_alias_id="A1", region="us-east-1", access_key="AK", secret_key=SecretStr("sk"),
    )  # fmt: skip


async def _account(client: Client, runtime: Runtime, admin: dict[str, str]) -> str:
    await runtime.store.accounts.put(telegram(), create=True)
    return "/api/v1/integration-accounts/tg"


async def _bot(client: Client, runtime: Runtime, admin: dict[str, str]) -> str:
    await runtime.store.bots.put(lex(), create=True)
    return "/api/v1/bot-accounts/lex"


async def _subscription(client: Client, runtime: Runtime, admin: dict[str, str]) -> str:
    resp = await client.post(
        "/api/v1/event-subscriptions", headers=admin,
        json={"url": "https://example.com/hook", "events": ["*"]},
    )  # fmt: skip
    assert resp.status == 201, await resp.text()
    return f"/api/v1/event-subscriptions/{(await resp.json())['id']}"


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Client, Runtime, dict[str, str]], Awaitable[str]] | str
    method: str
    first: dict[str, Any]
    second: dict[str, Any]
    field: str
    expected: tuple[Any, Any]


CASES = [
    Case("integration account PATCH", _account, "PATCH", {"name": "TG 2"}, {"name": "TG 3"},
         "name", ("TG 2", "TG 3")),
    Case("integration account PUT", _account, "PUT", {"name": "TG 2"}, {"name": "TG 3"},
         "name", ("TG 2", "TG 3")),
    Case("bot account PATCH", _bot, "PATCH", {"name": "Lex 2"}, {"name": "Lex 3"}, "name",
         ("Lex 2", "Lex 3")),
    Case("bot account PUT", _bot, "PUT", {"max_api_calls_per_day": 20},
         {"max_api_calls_per_day": 30}, "max_api_calls_per_day", (20, 30)),
    Case("CPaaS platform", "/api/v1/cpaas-platforms/iq", "PATCH", {"name": "IQ 2"},
         {"name": "IQ 3"}, "name", ("IQ 2", "IQ 3")),
    Case("alert recipient", "/api/v1/alert-recipients/ops", "PATCH", {"name": "Ops 2"},
         {"name": "Ops 3"}, "name", ("Ops 2", "Ops 3")),
    Case("number", f"/api/v1/numbers/{OUR}", "PATCH", {"friendly_name": "Main"},
         {"friendly_name": "Front desk"}, "friendly_name", ("Main", "Front desk")),
    Case("consent", f"/api/v1/consent/{OUR}/{CUSTOMER}", "PUT", {"state": "opted_out"},
         {"state": "opted_in"}, "state", ("opted_out", "opted_in")),
    Case("event subscription", _subscription, "PATCH", {"enabled": False}, {"enabled": True},
         "enabled", (False, True)),
]  # fmt: skip


async def _read(client: Client, url: str, admin: dict[str, str]) -> tuple[str, dict[str, Any]]:
    resp = await client.get(url, headers=admin)
    assert resp.status == 200, await resp.text()
    etag = resp.headers.get("ETag")
    assert etag is not None
    assert etag.startswith('"'), etag
    assert etag.endswith('"'), etag
    body: dict[str, Any] = await resp.json()
    return etag, body


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_if_match_guards_every_update(
    client: Client, runtime: Runtime, admin: dict[str, str], sms: Sms, case: Case
) -> None:
    url = case.setup if isinstance(case.setup, str) else await case.setup(client, runtime, admin)
    etag, before = await _read(client, url, admin)
    assert (await _read(client, url, admin))[0] == etag, "the ETag is stable while unchanged"

    def send(body: dict[str, Any], if_match: str | None) -> Any:
        headers = {**admin, **({"If-Match": if_match} if if_match is not None else {})}
        return client.request(case.method, url, json=body, headers=headers)

    wrong = await send(case.first, '"0123456789abcdef"')
    assert wrong.status == 412, await wrong.text()
    error = (await wrong.json())["error"]
    assert error["code"] == "precondition_failed"
    assert wrong.headers["ETag"] == etag, "the 412 tells the current ETag"
    assert await _read(client, url, admin) == (etag, before), "a 412 writes nothing"

    ok = await send(case.first, etag)
    assert ok.status == 200, await ok.text()
    assert (await ok.json())[case.field] == case.expected[0]
    new_etag, after = await _read(client, url, admin)
    assert new_etag != etag
    assert ok.headers["ETag"] == new_etag, "the update answers the new ETag"
    assert after[case.field] == case.expected[0]

    stale = await send(case.second, etag)
    assert stale.status == 412, await stale.text()
    assert (await _read(client, url, admin))[1][case.field] == case.expected[0]

    anyway = await send(case.second, "*")
    assert anyway.status == 200, await anyway.text()
    assert (await _read(client, url, admin))[1][case.field] == case.expected[1]

    unconditional = await send(case.first, None)
    assert unconditional.status == 200, await unconditional.text()


async def test_a_checked_store_write_refuses_a_stale_object(runtime: Runtime) -> None:
    """The integration / bot account check-and-write is one transaction: a change made
    after the read makes the checked write fail, whatever the HTTP layer saw."""
    original = telegram()
    await runtime.store.accounts.put(original, create=True)
    await runtime.store.accounts.put(telegram("Renamed"), create=False)  # someone else
    with pytest.raises(StaleObject):
        await runtime.store.accounts.put(telegram("Mine"), create=False, expected=original)
    stored = await runtime.store.accounts.get("tg")
    assert stored is not None
    assert stored.name == "Renamed"
    await runtime.store.accounts.put(telegram("Mine"), create=False, expected=stored)
    stored = await runtime.store.accounts.get("tg")
    assert stored is not None
    assert stored.name == "Mine"
    assert await runtime.store.accounts.get_in("acme", "tg") == stored


async def test_updates_document_if_match_and_412(client: Client) -> None:
    resp = await client.get("/api/v1/openapi.json")
    doc = await resp.json()
    updates = [
        r for r in routes_of(client.app)
        if r.method in ("PATCH", "PUT") and r.path.startswith(("/api/v1/integration-accounts",
        "/api/v1/bot-accounts", "/api/v1/cpaas-platforms", "/api/v1/alert-recipients",
        "/api/v1/numbers", "/api/v1/consent/", "/api/v1/event-subscriptions"))
    ]  # fmt: skip
    assert len(updates) == 9
    for route in updates:
        op = doc["paths"][route.path][route.method.lower()]
        assert "412" in op["responses"], route.path
        headers = [p for p in op["parameters"] if p["in"] == "header"]
        assert [p["name"] for p in headers] == ["If-Match"], route.path
        assert "ETag" in op["responses"]["200"]["headers"], route.path
        read = doc["paths"][route.path]["get"]["responses"]["200"]
        assert "ETag" in read["headers"], route.path
