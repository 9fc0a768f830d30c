"""Bot account pages through real HTTP: add a Watson Assistant account, remaining calls today,
field errors, edit keeping the API key, delete, and Test Connection against the fake IBM."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from html import unescape

from aiohttp import web
from aiohttp.test_utils import TestServer

from bots.accounts import WatsonAccount
from router.runtime import Runtime
from tests.admin.console import Console, error_of, hidden_value, input_value
from tests.fakes.watson import FakeWatson

BASE = "/admin/bot-accounts"
API_KEY = "watson-api-key-0123456789"


def watson_form(url: str, **extra: str) -> dict[str, str]:
    return {"type": "watson", "name": "Acme Watson", "url": url, "skill_id": "ws-1",
            "api_key": API_KEY, "max_api_calls_per_day": "250", "max_suggestions": "3",
            "iam_url": f"{url}/identity/token", "version": "2021-06-14",
            "timeout_seconds": "5", **extra}  # fmt: skip


async def add_watson(admin: Console, runtime: Runtime, url: str) -> WatsonAccount:
    form = await admin.form(f"{BASE}/new?type=watson")
    assert "Max API calls per day" in form
    assert "Maximum suggestions" in form
    resp = await admin.post(f"{BASE}/new", watson_form(url))
    assert (resp.status, resp.headers.get("Location")) == (303, BASE), await resp.text()
    (account,) = await runtime.store.bots.list("acme")
    assert isinstance(account, WatsonAccount)
    return account


async def test_add_edit_and_delete_a_watson_account(admin: Console, runtime: Runtime) -> None:
    chooser = await admin.page(f"{BASE}/new")
    assert "Watson Assistant (Legacy)" in chooser
    assert "AWS Lex (V1)" in chooser
    account = await add_watson(admin, runtime, "https://watson.invalid")
    assert (account.max_api_calls_per_day, account.max_suggestions) == (250, 3)
    assert account.api_key.get_secret_value() == API_KEY
    listing = await admin.page(BASE)
    remaining = await runtime.bots.remaining_calls_today(account)
    assert remaining == 250
    assert f'data-testid="bot-{account.id}-remaining">250<' in listing
    assert API_KEY not in listing
    form = await admin.form(f"{BASE}/{account.id}")
    assert API_KEY not in form
    assert input_value(form, "api_key") == ""
    assert input_value(form, "max_api_calls_per_day") == "250"
    edit = watson_form("https://watson.invalid", api_key="", max_api_calls_per_day="10")
    resp = await admin.edit(f"{BASE}/{account.id}", edit)
    assert resp.status == 303, await resp.text()
    edited = await runtime.store.bots.get_in("acme", account.id)
    assert isinstance(edited, WatsonAccount)
    assert edited.max_api_calls_per_day == 10
    assert edited.api_key.get_secret_value() == API_KEY
    assert f'data-testid="bot-{account.id}-max">10<' in await admin.page(BASE)
    confirm = await admin.form(f"{BASE}/{account.id}/delete")
    assert "Delete the Watson Assistant bot account 'Acme Watson'?" in unescape(confirm)
    resp = await admin.post(f"{BASE}/{account.id}/delete", {})
    assert resp.status == 303
    assert await runtime.store.bots.list("acme") == []


async def test_field_errors_and_csrf(admin: Console, runtime: Runtime) -> None:
    await admin.form(f"{BASE}/new?type=watson")
    bad = watson_form("not a url", max_api_calls_per_day="-1", max_suggestions="eleven")
    resp = await admin.post(f"{BASE}/new", bad)
    page = await resp.text()
    assert resp.status == 400
    assert error_of(page, "max_api_calls_per_day") == "Input should be greater than or equal to 0"
    assert "should match pattern" in error_of(page, "url")
    assert "valid integer" in error_of(page, "max_suggestions")
    assert API_KEY not in page
    resp = await admin.post(f"{BASE}/new", watson_form("https://watson.invalid"), csrf=False)
    assert resp.status == 403
    assert await runtime.store.bots.list("acme") == []


async def test_test_connection_asks_the_fake_ibm(
    admin: Console,
    runtime: Runtime,
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> None:
    fake = FakeWatson(api_key=API_KEY)
    url = str((await aiohttp_server(fake.app)).make_url("")).rstrip("/")
    account = await add_watson(admin, runtime, url)
    resp = await admin.post(f"{BASE}/{account.id}/test-connection", {})
    page = await resp.text()
    assert resp.status == 200
    assert f'data-testid="check-{account.id}-result">valid<' in page
    assert len(fake.calls("/identity/token")) == 1
    # A wrong key: IBM's refusal is shown, the key never is.
    resp = await admin.edit(f"{BASE}/{account.id}", watson_form(url, api_key="wrong-key-000"))
    assert resp.status == 303
    page = await (await admin.post(f"{BASE}/{account.id}/test-connection", {})).text()
    assert f'data-testid="check-{account.id}-result">invalid credentials<' in page
    assert re.search(rf'data-testid="check-{account.id}-detail">[^<]+<', page)
    assert "wrong-key-000" not in page
    assert API_KEY not in page


async def test_an_edit_over_someone_elses_change_is_refused(
    admin: Console, runtime: Runtime
) -> None:
    account = await add_watson(admin, runtime, "https://watson.invalid")
    form = await admin.form(f"{BASE}/{account.id}")
    version = hidden_value(form, "form_version")
    changed = account.model_copy(update={"max_suggestions": 7})
    await runtime.store.bots.put(changed, create=False)  # another admin, meanwhile
    data = {
        **watson_form("https://watson.invalid", name="Mine", api_key=""),
        "form_version": version,
    }
    resp = await admin.post(f"{BASE}/{account.id}", data)
    page = unescape(await resp.text())
    assert resp.status == 409
    assert "Someone else changed this object since you opened the form" in page
    assert input_value(page, "max_suggestions") == "7"  # the form shows what is stored now
    assert await runtime.store.bots.get_in("acme", account.id) == changed
    resp = await admin.post(
        f"{BASE}/{account.id}", {**data, "form_version": hidden_value(page, "form_version")}
    )
    assert resp.status == 303
    stored = await runtime.store.bots.get_in("acme", account.id)
    assert stored is not None
    assert stored.name == "Mine"
