"""Event subscription pages through real HTTP: the signing secret shown once, field errors,
edit (keeping or rotating the secret), delete, and the delivery log of real deliveries."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from html import unescape

from aiohttp import web
from aiohttp.test_utils import TestServer

from router.keys import RUNTIME
from router.runtime import Runtime
from tests.admin.console import Client, Console, error_of, input_value
from tests.clients import eventually

BASE = "/admin/event-subscriptions"


async def add(admin: Console, url: str, *events: str, secret: str = "") -> tuple[str, str]:
    """Add a subscription through the form; (its id, the secret shown once)."""
    await admin.form(f"{BASE}/new")
    data = [("url", url), ("enabled", "on"), ("secret", secret), *(("events", e) for e in events)]
    resp = await admin.post(f"{BASE}/new", data)
    page = await resp.text()
    assert resp.status == 201, page
    shown = re.search(r'value="([^"]+)" data-testid="sub-secret"', page)
    assert shown, "the secret is shown on the creation page"
    subs = await admin.client.app[RUNTIME].store.events.all("acme")
    return subs[-1].id, unescape(shown.group(1))


async def test_the_signing_secret_is_shown_once(admin: Console, runtime: Runtime) -> None:
    form = await admin.form(f"{BASE}/new")
    assert "message.received" in form
    assert '<input type="checkbox" name="events" value="*"' in form
    sub_id, secret = await add(admin, "https://crm.example/hook", "message.received",
                               "conversation.closed")  # fmt: skip
    assert secret.startswith("whsec_")
    stored = await runtime.store.events.get("acme", sub_id)
    assert stored is not None
    assert stored.secret == secret
    assert stored.events == ("message.received", "conversation.closed")
    listing = await admin.page(BASE)
    assert f'data-testid="sub-{sub_id}-events">message.received, conversation.closed<' in listing
    for page in (listing, await admin.page(f"{BASE}/{sub_id}")):
        assert secret not in page
    given = "my-own-secret-of-32-characters!!"
    _other, shown = await add(admin, "https://crm.example/other", "*", secret=given)
    assert shown == given
    assert given not in await admin.page(BASE)


async def test_field_errors_and_csrf(admin: Console, runtime: Runtime) -> None:
    await admin.form(f"{BASE}/new")
    resp = await admin.post(f"{BASE}/new", [("url", "ftp://crm.example"), ("secret", "short")])
    page = await resp.text()
    assert resp.status == 400
    assert error_of(page, "url") == "must be an http:// or https:// URL"
    assert "at least 1 item" in error_of(page, "events")
    assert "at least 16 characters" in error_of(page, "secret")
    assert input_value(page, "url") == "ftp://crm.example"
    assert "short" not in re.sub(r"<[^>]+>", "", page).split()  # the secret is not echoed
    data = [("url", "https://crm.example/hook"), ("events", "*")]
    assert (await admin.post(f"{BASE}/new", data, csrf=False)).status == 403
    assert await runtime.store.events.all("acme") == []


async def test_edit_keeps_or_rotates_the_secret_and_delete(
    client: Client, admin: Console, runtime: Runtime
) -> None:
    sub_id, secret = await add(admin, "https://crm.example/hook", "*")
    form = await admin.form(f"{BASE}/{sub_id}")
    assert input_value(form, "url") == "https://crm.example/hook"
    assert 'data-testid="secret-secret">set' in form
    data = [("url", "https://crm.example/v2"), ("events", "message.sent"), ("secret", "")]
    resp = await admin.post(f"{BASE}/{sub_id}", data)
    assert resp.status == 303, await resp.text()
    stored = await runtime.store.events.get("acme", sub_id)
    assert stored is not None
    assert (stored.url, stored.events, stored.enabled) == (
        "https://crm.example/v2",
        ("message.sent",),
        False,  # the box was left unticked
    )
    assert stored.secret == secret
    rotated = "rotated-secret-0123456789abcdef"
    resp = await admin.post(f"{BASE}/{sub_id}", [*data[:2], ("secret", rotated)])
    assert resp.status == 303
    stored = await runtime.store.events.get("acme", sub_id)
    assert stored is not None
    assert stored.secret == rotated
    assert rotated not in await admin.page(f"{BASE}/{sub_id}")
    globex = await Console(client).login("root", "globex")
    await globex.page(f"{BASE}/{sub_id}", status=404)
    sue = await Console(client).login("sue")
    await sue.page(BASE, status=403)
    await admin.login()
    confirm = await admin.form(f"{BASE}/{sub_id}/delete")
    assert "Delete the event subscription to https://crm.example/v2?" in confirm
    resp = await admin.post(f"{BASE}/{sub_id}/delete", {})
    assert resp.status == 303
    assert await runtime.store.events.get("acme", sub_id) is None


async def test_the_delivery_log_shows_real_deliveries(
    admin: Console,
    runtime: Runtime,
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> None:
    received: asyncio.Queue[str] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(request.path)
        return web.Response(status=200 if request.path == "/ok" else 400)

    app = web.Application()
    app.router.add_post("/{name}", hook)
    server = await aiohttp_server(app)
    ok, _ = await add(admin, str(server.make_url("/ok")), "agent.state_changed")
    bad, _ = await add(admin, str(server.make_url("/bad")), "agent.state_changed")
    assert 'data-testid="deliveries"' in await admin.page(f"{BASE}/{ok}/deliveries")
    await runtime.events.emit("acme", "agent.state_changed", {"agent": "ann", "state": "ready"})
    assert {await received.get(), await received.get()} == {"/ok", "/bad"}

    async def logged() -> bool:
        return all([await runtime.store.events.attempts("acme", s) for s in (ok, bad)])

    await eventually(logged, "both attempts logged")
    page = await admin.page(f"{BASE}/{ok}/deliveries")
    assert 'data-testid="attempt-1-event">agent.state_changed<' in page
    assert 'data-testid="attempt-1-outcome">delivered<' in page
    assert 'data-testid="attempt-1-status">200<' in page
    page = await admin.page(f"{BASE}/{bad}/deliveries")
    assert 'data-testid="attempt-1-outcome">failed<' in page
    assert 'data-testid="attempt-1-status">400<' in page
