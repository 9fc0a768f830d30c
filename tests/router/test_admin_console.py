"""The admin console (/admin) through the real app: login, cookie session, CSRF, the live
queue dashboard, bot and integration account pages, and tenant isolation."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from bots.accounts import BotAccount
from channels.base import CheckResult, ConnectionCheck
from router.admin import session
from router.runtime import Runtime
from tests.bots.modes_fixtures import FakeEngine, watson
from tests.clients import eventually
from tests.fakes.telegram import FakeTelegram
from tests.router.conftest import PASSWORD, ConnectCustomer, agent, tenant, token

Client = TestClient[Any, Any]
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def config_data() -> dict[str, Any]:
    def with_admin(tid: str) -> dict[str, Any]:
        agents = [
            agent("ann"),
            agent("sue", role="supervisor"),
            agent("root", role="tenant_admin", name=f"Root of {tid}", queues=[]),
        ]
        return tenant(tid, agents=agents)

    return {"tenants": [with_admin("acme"), with_admin("globex")]}


class CountingEngine(FakeEngine):
    """The scripted fake engine, counting Test Connection calls."""

    def __init__(self) -> None:
        super().__init__()
        self.check = ConnectionCheck(
            result=CheckResult.VALID, detail="Account credentials appear to be valid."
        )
        self.tested = 0

    async def test_connection(self) -> ConnectionCheck:
        self.tested += 1
        return await super().test_connection()


@pytest.fixture
def engine(runtime: Runtime) -> CountingEngine:
    fake = CountingEngine()

    def factory(account: BotAccount) -> CountingEngine:
        return fake

    runtime.bots.engine_factory = factory
    return fake


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def login(
    client: Client, username: str = "root", tenant_id: str = "acme", password: str = PASSWORD
) -> ClientResponse:
    client.session.cookie_jar.clear()
    form = await client.get("/admin/login")
    assert form.status == 200
    return await client.post(
        "/admin/login",
        data={"csrf_token": csrf_of(await form.text()), "tenant": tenant_id,
              "username": username, "password": password},
        allow_redirects=False,
    )  # fmt: skip


async def signed_in(client: Client, username: str = "root", tenant_id: str = "acme") -> str:
    """Sign in and return the dashboard's CSRF token."""
    resp = await login(client, username, tenant_id)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin")
    page = await client.get("/admin")
    assert page.status == 200
    return csrf_of(await page.text())


def set_cookie(resp: ClientResponse, name: str) -> str:
    for header in resp.headers.getall("Set-Cookie", []):
        if header.startswith(name + "="):
            return header
    raise AssertionError(f"no Set-Cookie for {name}")


async def test_login_sets_a_strict_http_only_session_cookie(client: Client) -> None:
    resp = await login(client)
    assert resp.status == 303
    header = set_cookie(resp, "sb_admin")
    morsel = SimpleCookie(header)["sb_admin"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/admin"
    assert not morsel["secure"]  # plain http in tests; Secure is set over https
    assert len(morsel.value) >= 40
    page = await client.get("/admin")
    text = await page.text()
    assert page.status == 200
    assert "Root of acme" in text
    assert 'data-testid="queue-row-support"' in text
    assert page.headers["Cache-Control"] == "no-store"


async def test_wrong_password_and_agent_role_are_refused(client: Client) -> None:
    wrong = await login(client, password="not the password")
    assert wrong.status == 401
    assert "Wrong tenant, username or password." in await wrong.text()
    assert "sb_admin=" not in " ".join(wrong.headers.getall("Set-Cookie", []))
    unknown_tenant = await login(client, tenant_id="nowhere")
    assert unknown_tenant.status == 401
    as_agent = await login(client, username="ann")
    assert as_agent.status == 403
    assert "Only tenant admins and supervisors" in await as_agent.text()
    assert all(c.key != "sb_admin" for c in client.session.cookie_jar)
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_pages_require_a_session(client: Client) -> None:
    for path in ("/admin", "/admin/queues.json", "/admin/bot-accounts",
                 "/admin/integration-accounts"):  # fmt: skip
        resp = await client.get(path, allow_redirects=False)
        assert (resp.status, resp.headers["Location"]) == (303, "/admin/login"), path
    resp = await client.post("/admin/bot-accounts/x/test-connection", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/login")
    # A bearer token in the cookie that belongs to an agent is no console session.
    client.session.cookie_jar.update_cookies({"sb_admin": await token(client, "acme", "ann")})
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_login_needs_the_forms_csrf_token(client: Client) -> None:
    await client.get("/admin/login")
    for extra in ({}, {"csrf_token": "forged"}):
        resp = await client.post(
            "/admin/login",
            data={"tenant": "acme", "username": "root", "password": PASSWORD, **extra},
            allow_redirects=False,
        )
        assert resp.status == 403
        assert all(c.key != "sb_admin" for c in client.session.cookie_jar)


async def test_logout_needs_csrf_and_revokes_the_session(client: Client) -> None:
    csrf = await signed_in(client)
    cookie = next(c.value for c in client.session.cookie_jar if c.key == "sb_admin")
    for data in ({}, {"csrf_token": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")}):
        resp = await client.post("/admin/logout", data=data, allow_redirects=False)
        assert resp.status == 403
    assert (await client.get("/admin", allow_redirects=False)).status == 200
    resp = await client.post("/admin/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/login")
    assert (await client.get("/admin", allow_redirects=False)).status == 303
    # The old cookie value is dead on the server too, not just dropped by the browser.
    client.session.cookie_jar.update_cookies({"sb_admin": cookie})
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_dashboard_reflects_a_queued_conversation(
    client: Client, connect_customer: ConnectCustomer
) -> None:
    await signed_in(client, "sue")  # supervisors see the dashboard
    body = await (await client.get("/admin/queues.json")).json()
    assert body["tenant"] == "acme"
    assert [q["queue"] for q in body["queues"]] == ["support", "billing"]
    assert body["queues"][0]["queue_length"] == 0
    customer = await connect_customer()
    await customer.say("is anyone there?")

    async def queued() -> bool:
        data = await (await client.get("/admin/queues.json")).json()
        return bool(data["queues"][0]["queue_length"] == 1)

    await eventually(queued, "the dashboard JSON to show the queued conversation")
    html = await (await client.get("/admin")).text()
    assert re.search(r'data-testid="queue-support-queue_length" data-field="queue_length">1<', html)
    assert 'src="/static/admin.js"' in html
    script = await client.get("/static/admin.js")
    assert script.status == 200
    assert "/admin" in await script.text()


async def create_bot(client: Client, tenant_id: str, aid: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {await token(client, tenant_id, 'root')}"}
    body = watson(aid, name=f"{tenant_id} bot", max_api_calls_per_day=250)
    resp = await client.post("/api/v1/bot-accounts", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    view: dict[str, Any] = await resp.json()
    return view


async def test_bot_accounts_page_shows_remaining_calls_and_no_secrets(
    client: Client, runtime: Runtime, engine: CountingEngine
) -> None:
    view = await create_bot(client, "acme", "wb")
    assert view["remaining_calls_today"] == 250
    account = await runtime.store.bots.get_in("acme", "wb")
    assert account is not None
    csrf = await signed_in(client)
    page = await client.get("/admin/bot-accounts")
    html = await page.text()
    assert page.status == 200
    remaining = await runtime.bots.remaining_calls_today(account)
    assert f'data-testid="bot-wb-remaining">{remaining}<' in html
    assert 'data-testid="bot-wb-max">250<' in html
    assert "Watson Assistant" in html
    assert "Max API calls per day" in html
    assert "watson-secret-key" not in html
    assert re.search(r"api_key</span>: <span class=\"badge\">set<", html)
    # Test Connection shows the engine's answer, only with the session's CSRF token.
    for data in ({}, {"csrf_token": "nope"}):
        resp = await client.post("/admin/bot-accounts/wb/test-connection", data=data)
        assert resp.status == 403
    assert engine.tested == 0
    resp = await client.post("/admin/bot-accounts/wb/test-connection", data={"csrf_token": csrf})
    html = await resp.text()
    assert resp.status == 200
    assert engine.tested == 1
    assert 'data-testid="check-wb-result">valid<' in html
    assert "Account credentials appear to be valid." in html
    assert "watson-secret-key" not in html


async def test_integration_accounts_page_tests_the_provider_and_hides_secrets(
    client: Client, aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]
) -> None:
    fake = FakeTelegram(TELEGRAM_TOKEN)
    server = await aiohttp_server(fake.app)
    headers = {"Authorization": f"Bearer {await token(client, 'acme', 'root')}"}
    url = str(server.make_url("")).rstrip("/")
    body = {"type": "telegram", "id": "tg", "name": "Acme Telegram", "stream": "web",
            "api_base_url": url, "token": TELEGRAM_TOKEN}  # fmt: skip
    resp = await client.post("/api/v1/integration-accounts", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    csrf = await signed_in(client)
    html = await (await client.get("/admin/integration-accounts")).text()
    assert 'data-testid="account-tg-type">Telegram<' in html
    assert 'data-testid="account-tg-stream" class="mono">web<' in html
    assert re.search(r"token</span>: <span class=\"badge\">set<", html)
    assert re.search(r"secret_token</span>: <span class=\"badge subtle\">not set<", html)
    assert TELEGRAM_TOKEN not in html
    assert TELEGRAM_TOKEN.split(":")[1] not in html
    resp = await client.post("/admin/integration-accounts/tg/test-connection", data={})
    assert resp.status == 403
    resp = await client.post(
        "/admin/integration-accounts/tg/test-connection", data={"csrf_token": csrf}
    )
    html = await resp.text()
    assert resp.status == 200
    assert 'data-testid="check-tg-result">valid<' in html
    assert "connected as @acme_support_bot" in html
    assert TELEGRAM_TOKEN.split(":")[1] not in html


async def test_a_tenant_admin_sees_only_their_tenants_objects(
    client: Client, engine: CountingEngine
) -> None:
    await create_bot(client, "acme", "acme-bot")
    await create_bot(client, "globex", "globex-bot")
    csrf = await signed_in(client, "root", "globex")
    html = await (await client.get("/admin/bot-accounts")).text()
    assert 'data-testid="bot-globex-bot"' in html
    assert "acme-bot" not in html
    assert "acme bot" not in html
    resp = await client.post(
        "/admin/bot-accounts/acme-bot/test-connection", data={"csrf_token": csrf}
    )
    assert resp.status == 404
    assert engine.tested == 0
    body = await (await client.get("/admin/queues.json")).json()
    assert body["tenant"] == "globex"
    assert {q["tenant"] for q in body["queues"]} == {"globex"}
    # A session of acme cannot act with globex's CSRF token either.
    await signed_in(client, "root", "acme")
    resp = await client.post(
        "/admin/bot-accounts/acme-bot/test-connection", data={"csrf_token": csrf}
    )
    assert resp.status == 403


async def test_supervisors_cannot_open_account_pages(client: Client) -> None:
    csrf = await signed_in(client, "sue")
    html = await (await client.get("/admin")).text()
    assert "/admin/bot-accounts" not in html
    assert (await client.get("/admin/bot-accounts")).status == 403
    assert (await client.get("/admin/integration-accounts")).status == 403
    resp = await client.post("/admin/bot-accounts/x/test-connection", data={"csrf_token": csrf})
    assert resp.status == 403


def test_the_cookie_is_secure_over_https() -> None:
    request = make_mocked_request("POST", "/admin/login").clone(scheme="https")
    response = web.Response()
    session.set_cookie(request, response, session.COOKIE, "opaque", 60)
    morsel = response.cookies[session.COOKIE]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
