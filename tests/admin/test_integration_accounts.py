"""Integration account pages through real HTTP: add (type, then its fields), field errors,
edit keeping secrets, delete with confirmation, Test Connection and Set Webhook against the
fake Telegram, "Generate random token" with and without the script's endpoint, CSRF, roles."""

from __future__ import annotations

import re
from html import unescape

from channels.accounts import FacebookAccount, TelegramAccount
from router.keys import RUNTIME
from router.runtime import Runtime
from tests.admin.conftest import TELEGRAM_TOKEN
from tests.admin.console import Client, Console, error_of, input_value
from tests.fakes.telegram import FakeTelegram

BASE = "/admin/integration-accounts"
FB_TOKEN = "EAAG-page-access-token-0123456789"
FB_APP_SECRET = "fb-app-secret-0123456789abcdef"


def telegram_form(base_url: str, **extra: str) -> dict[str, str]:
    return {"type": "telegram", "name": "Acme Telegram", "stream": "web",
            "bot_username": "acme_support_bot", "token": TELEGRAM_TOKEN,
            "api_base_url": base_url, **extra}  # fmt: skip


async def add_telegram(admin: Console, base_url: str) -> TelegramAccount:
    await admin.form(f"{BASE}/new?type=telegram")
    resp = await admin.post(f"{BASE}/new", telegram_form(base_url))
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == BASE
    accounts = await admin.client.app[RUNTIME].store.accounts.list("acme")
    found = [a for a in accounts if a.name == "Acme Telegram"]
    assert len(found) == 1
    assert isinstance(found[0], TelegramAccount)
    return found[0]


async def test_add_a_telegram_account_choosing_the_type_first(
    admin: Console, runtime: Runtime, telegram: tuple[FakeTelegram, str]
) -> None:
    chooser = await admin.page(f"{BASE}/new")
    for label in ("Facebook Messenger", "WhatsApp", "LINE", "Telegram", "Viber", "Vonage"):
        assert f">{label}</a>" in chooser
    form = await admin.form(f"{BASE}/new?type=telegram")
    assert "Bot Username" in form
    assert "The API token for your Telegram bot" in form
    assert 'name="type" value="telegram"' in form
    account = await add_telegram(admin, telegram[1])
    assert account.token.get_secret_value() == TELEGRAM_TOKEN
    assert account.stream == "web"
    assert account.bot_username == "acme_support_bot"
    listing = await admin.page(BASE)
    assert f'data-testid="account-{account.id}-type">Telegram<' in listing
    assert TELEGRAM_TOKEN not in listing
    assert TELEGRAM_TOKEN.split(":")[1] not in listing


async def test_field_errors_are_shown_next_to_each_field(admin: Console, runtime: Runtime) -> None:
    await admin.form(f"{BASE}/new?type=telegram")
    data = telegram_form("ftp://nowhere", name="", token="")
    resp = await admin.post(f"{BASE}/new", data)
    page = await resp.text()
    assert resp.status == 400
    assert error_of(page, "name") == "Field required"
    assert error_of(page, "token") == "Field required"
    assert "should match pattern" in error_of(page, "api_base_url")
    assert input_value(page, "bot_username") == "acme_support_bot"  # kept for the next try
    resp = await admin.post(f"{BASE}/new", telegram_form("https://api.telegram.org",
                                                         stream="nope"))  # fmt: skip
    assert resp.status == 400
    assert error_of(await resp.text(), "stream") == "unknown media stream 'nope'"
    assert await runtime.store.accounts.list("acme") == []


async def test_a_post_without_the_csrf_token_is_refused(
    admin: Console, runtime: Runtime, telegram: tuple[FakeTelegram, str]
) -> None:
    for token in (None, "forged"):
        data = telegram_form(telegram[1])
        if token:
            data["csrf_token"] = token
        resp = await admin.post(f"{BASE}/new", data, csrf=False)
        assert resp.status == 403
    assert await runtime.store.accounts.list("acme") == []
    account = await add_telegram(admin, telegram[1])
    for path in ("", "/delete", "/test-connection", "/set-webhook"):
        resp = await admin.post(f"{BASE}/{account.id}{path}", {"name": "x"}, csrf=False)
        assert resp.status == 403, path
    assert await runtime.store.accounts.get_in("acme", account.id) == account


async def test_edit_keeps_a_secret_left_blank_and_replaces_a_typed_one(
    admin: Console, runtime: Runtime, telegram: tuple[FakeTelegram, str]
) -> None:
    account = await add_telegram(admin, telegram[1])
    form = await admin.form(f"{BASE}/{account.id}")
    assert input_value(form, "name") == "Acme Telegram"
    assert input_value(form, "token") == ""  # never rendered
    assert TELEGRAM_TOKEN.split(":")[1] not in form
    assert re.search(r'data-testid="secret-token">set', form)
    assert re.search(r'data-testid="secret-secret_token">not set', form)
    data = telegram_form(telegram[1], name="Acme Bot", token="")
    resp = await admin.edit(f"{BASE}/{account.id}", data)
    assert resp.status == 303, await resp.text()
    edited = await runtime.store.accounts.get_in("acme", account.id)
    assert isinstance(edited, TelegramAccount)
    assert edited.name == "Acme Bot"
    assert edited.token.get_secret_value() == TELEGRAM_TOKEN
    other = "987654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
    resp = await admin.edit(f"{BASE}/{account.id}", telegram_form(telegram[1], token=other))
    assert resp.status == 303
    edited = await runtime.store.accounts.get_in("acme", account.id)
    assert isinstance(edited, TelegramAccount)
    assert edited.token.get_secret_value() == other


async def test_delete_asks_for_confirmation(
    admin: Console, runtime: Runtime, telegram: tuple[FakeTelegram, str]
) -> None:
    account = await add_telegram(admin, telegram[1])
    confirm = await admin.form(f"{BASE}/{account.id}/delete")
    assert "Delete the Telegram integration account 'Acme Telegram'?" in unescape(confirm)
    assert await runtime.store.accounts.get_in("acme", account.id) is not None
    resp = await admin.post(f"{BASE}/{account.id}/delete", {})
    assert (resp.status, resp.headers["Location"]) == (303, BASE)
    assert await runtime.store.accounts.get_in("acme", account.id) is None
    assert "No integration accounts yet." in await admin.page(BASE)


async def test_test_connection_and_set_webhook_show_the_providers_answer(
    admin: Console, runtime: Runtime, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, url = telegram
    account = await add_telegram(admin, url)
    resp = await admin.post(f"{BASE}/{account.id}/test-connection", {})
    page = await resp.text()
    assert resp.status == 200
    assert f'data-testid="check-{account.id}-result">valid<' in page
    assert "connected as @acme_support_bot" in page
    # The default URL is this server's, over http: Telegram refuses it and says why.
    resp = await admin.post(f"{BASE}/{account.id}/set-webhook", {"url": ""})
    page = await resp.text()
    assert resp.status == 200
    assert f"/webhooks/telegram/{account.id}" in page
    assert "An HTTPS URL must be provided for webhook" in page
    assert f'data-testid="webhook-{account.id}-result">valid<' not in page
    hook = f"https://sb.example.com/webhooks/telegram/{account.id}"
    resp = await admin.post(f"{BASE}/{account.id}/set-webhook", {"url": hook})
    page = await resp.text()
    assert f'data-testid="webhook-{account.id}-result">valid<' in page
    assert "Webhook was set" in page
    stored = await runtime.store.accounts.get_in("acme", account.id)
    assert isinstance(stored, TelegramAccount)
    assert stored.secret_token is not None
    secret = stored.secret_token.get_secret_value()
    assert secret not in page
    assert TELEGRAM_TOKEN.split(":")[1] not in page
    registered = fake.calls("/setWebhook")[-1]
    assert registered.path.endswith("/setWebhook")
    assert re.search(r'secret_token</span>: <span class="badge">set<', page)


async def test_generate_random_token_fills_the_verify_token(
    admin: Console, runtime: Runtime
) -> None:
    form = await admin.form(f"{BASE}/new?type=facebook")
    assert "Webhook Verify Token" in form
    assert 'data-testid="generate-verify_token"' in form
    typed = {"type": "facebook", "name": "Acme Page", "stream": "web", "page_id": "1234567",
             "page_access_token": FB_TOKEN, "app_secret": FB_APP_SECRET}  # fmt: skip
    # Without the script: the button submits the form and nothing is saved yet.
    resp = await admin.post(f"{BASE}/new", {**typed, "action": "generate:verify_token"})
    page = await resp.text()
    assert resp.status == 200
    token = input_value(page, "verify_token")
    assert len(token) >= 24
    assert input_value(page, "page_id") == "1234567"
    assert FB_TOKEN not in page
    assert FB_APP_SECRET not in page
    assert await runtime.store.accounts.list("acme") == []
    resp = await admin.post(f"{BASE}/new", {**typed, "verify_token": token})
    assert resp.status == 303, await resp.text()
    (account,) = await runtime.store.accounts.list("acme")
    assert isinstance(account, FacebookAccount)
    assert account.verify_token.get_secret_value() == token
    assert token not in await admin.page(f"{BASE}/{account.id}")
    # The script's endpoint: a fresh token each time, only with the session's CSRF token.
    assert (await admin.post("/admin/generate-token", {}, csrf=False)).status == 403
    first = await (await admin.post("/admin/generate-token", {})).json()
    second = await (await admin.post("/admin/generate-token", {})).json()
    assert first["token"] != second["token"]
    assert len(first["token"]) >= 24


async def test_supervisors_get_403_and_other_tenants_404(
    client: Client, admin: Console, telegram: tuple[FakeTelegram, str]
) -> None:
    account = await add_telegram(admin, telegram[1])
    globex = await Console(client).login("root", "globex")
    await globex.page(f"{BASE}/{account.id}", status=404)
    resp = await globex.post(f"{BASE}/{account.id}/delete", {})
    assert resp.status == 404
    assert "Acme Telegram" not in await globex.page(BASE)
    sue = await Console(client).login("sue")
    for path in (BASE, f"{BASE}/new", f"{BASE}/{account.id}", f"{BASE}/{account.id}/delete"):
        await sue.page(path, status=403)
    resp = await sue.post(f"{BASE}/{account.id}/delete", {})
    assert resp.status == 403
    assert "/admin/integration-accounts" not in await sue.page("/admin")
