"""CPaaS platform and alert recipient pages through real HTTP: the alert rules (409s shown
on the page), credentials checked with the fake Inteliquent, secrets never rendered."""

from __future__ import annotations

from html import unescape

from channels.cpaas import HeaderVerification
from router.keys import RUNTIME
from router.runtime import Runtime
from tests.admin.conftest import API_KEY, API_SECRET, OUTBOUND_KEY
from tests.admin.console import Console, error_of, input_value
from tests.fakes.inteliquent import FakeInteliquent

BASE = "/admin/cpaas-platforms"
RECIPIENTS = "/admin/alert-recipients"


def platform_form(base: str, **extra: str) -> dict[str, str]:
    return {"name": "Inteliquent", "account_key": API_KEY, "token_secret": API_SECRET,
            "outbound_api_key": OUTBOUND_KEY, "user_confirmation_required": "on",
            "mms_available": "on", "messaging_base_url": base + "/msgbroker/rest",
            "services_base_url": base + "/Services/2.0.0", **extra}  # fmt: skip


async def add_recipient(admin: Console, email: str, *, alerts: bool = True) -> str:
    form = await admin.form(f"{RECIPIENTS}/new")
    assert "Send Alerts" in form
    data = {"name": email.split("@")[0], "email": email}
    if alerts:
        data["send_alerts"] = "on"
    resp = await admin.post(f"{RECIPIENTS}/new", data)
    assert resp.status == 303, await resp.text()
    recipients = await admin.client.app[RUNTIME].store.cpaas.alert_recipients("acme")
    found: str = next(r.id for r in recipients if r.email == email)
    return found


async def add_platform(admin: Console, runtime: Runtime, base: str) -> str:
    await admin.form(f"{BASE}/new")
    resp = await admin.post(f"{BASE}/new", platform_form(base))
    assert (resp.status, resp.headers.get("Location")) == (303, BASE), await resp.text()
    (platform,) = await runtime.store.cpaas.platforms("acme")
    return platform.id


async def test_a_platform_needs_an_alert_recipient_and_valid_credentials(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    _, base = inteliquent
    listing = await admin.page(BASE)
    assert "CPaaS platforms cannot be added as there are no users" in listing
    assert 'data-testid="add-platform"' not in listing
    page = await admin.page(f"{BASE}/new", status=409)
    assert "at least one user must be alerted" in page
    resp = await admin.post(f"{BASE}/new", platform_form(base))
    assert resp.status == 409
    await add_recipient(admin, "ops@acme.example")
    assert 'data-testid="add-platform"' in await admin.page(BASE)
    # Refused credentials: nothing saved, the provider's reason on the page.
    await admin.form(f"{BASE}/new")
    resp = await admin.post(f"{BASE}/new", platform_form(base, token_secret="wrong-secret"))
    page = await resp.text()
    assert resp.status == 400
    assert "could not connect to the CPaaS platform" in page
    assert "wrong-secret" not in page
    assert OUTBOUND_KEY not in page
    assert input_value(page, "account_key") == API_KEY  # typed values kept
    assert await runtime.store.cpaas.platforms("acme") == []
    resp = await admin.post(f"{BASE}/new", platform_form(base, name="", outbound_api_key=""))
    page = await resp.text()
    assert resp.status == 400
    assert error_of(page, "name") == "Field required"
    assert error_of(page, "outbound_api_key") == "Field required"
    platform_id = await add_platform(admin, runtime, base)
    platform = await runtime.store.cpaas.platform("acme", platform_id)
    assert platform is not None
    assert platform.user_confirmation_required
    assert platform.mms_available
    assert not platform.user_can_block_numbers
    assert isinstance(platform.inbound_verification, HeaderVerification)
    header_value = platform.inbound_verification.header_value.get_secret_value()
    listing = await admin.page(BASE)
    for secret in (API_SECRET, OUTBOUND_KEY, header_value):
        assert secret not in listing
    assert "header (X-Switchboard-Token)" in listing


async def test_edit_keeps_secrets_and_checks_again(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    _, base = inteliquent
    await add_recipient(admin, "ops@acme.example")
    platform_id = await add_platform(admin, runtime, base)
    before = await runtime.store.cpaas.platform("acme", platform_id)
    form = await admin.form(f"{BASE}/{platform_id}")
    assert API_SECRET not in form
    assert OUTBOUND_KEY not in form
    assert 'data-testid="secret-token_secret">set' in form
    data = platform_form(base, name="IQ main", token_secret="", outbound_api_key="")
    del data["user_confirmation_required"]
    resp = await admin.post(f"{BASE}/{platform_id}", data)
    assert resp.status == 303, await resp.text()
    after = await runtime.store.cpaas.platform("acme", platform_id)
    assert after is not None
    assert before is not None
    assert after.name == "IQ main"
    assert not after.user_confirmation_required
    assert after.token_secret.get_secret_value() == API_SECRET
    assert after.inbound_verification == before.inbound_verification
    resp = await admin.post(f"{BASE}/{platform_id}", platform_form(base, token_secret="nope"))
    assert resp.status == 400
    assert "could not connect" in await resp.text()
    stored = await runtime.store.cpaas.platform("acme", platform_id)
    assert stored is not None
    assert stored.token_secret.get_secret_value() == API_SECRET


async def test_the_last_alert_recipient_stays_while_a_platform_exists(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    ops = await add_recipient(admin, "ops@acme.example")
    await add_platform(admin, runtime, inteliquent[1])
    form = await admin.form(f"{RECIPIENTS}/{ops}")
    assert input_value(form, "email") == "ops@acme.example"
    resp = await admin.post(f"{RECIPIENTS}/{ops}", {"email": "ops@acme.example"})
    page = unescape(await resp.text())
    assert resp.status == 409
    assert "This user cannot be updated as they are the only user account" in page
    resp = await admin.post(f"{RECIPIENTS}/{ops}/delete", {})
    assert resp.status == 409
    assert "This user cannot be deleted" in unescape(await resp.text())
    assert len(await runtime.store.cpaas.alert_recipients("acme")) == 1
    # With a second recipient receiving alerts, the first one may go.
    await add_recipient(admin, "boss@acme.example")
    resp = await admin.post(f"{RECIPIENTS}/{ops}", {"email": "ops2@acme.example"})
    assert resp.status == 303
    (changed,) = [r for r in await runtime.store.cpaas.alert_recipients("acme") if r.id == ops]
    assert (changed.email, changed.send_alerts) == ("ops2@acme.example", False)
    resp = await admin.post(f"{RECIPIENTS}/{ops}/delete", {})
    assert resp.status == 303
    emails = [r.email for r in await runtime.store.cpaas.alert_recipients("acme")]
    assert emails == ["boss@acme.example"]
    resp = await admin.post(f"{RECIPIENTS}/new", {"email": "not-an-email"})
    assert resp.status == 400
    assert "should match pattern" in error_of(await resp.text(), "email")


async def test_a_platform_in_use_cannot_be_deleted(
    admin: Console, runtime: Runtime, inteliquent: tuple[FakeInteliquent, str]
) -> None:
    await add_recipient(admin, "ops@acme.example")
    platform_id = await add_platform(admin, runtime, inteliquent[1])
    await admin.form("/admin/numbers/new")
    resp = await admin.post(
        "/admin/numbers/new", {"number": "2015550123", "target": "stream:sms-main"}
    )
    assert resp.status == 303, await resp.text()
    confirm = await admin.form(f"{BASE}/{platform_id}/delete")
    assert "Delete the CPaaS platform 'Inteliquent'?" in unescape(confirm)
    resp = await admin.post(f"{BASE}/{platform_id}/delete", {})
    assert resp.status == 409
    assert "the CPaaS number 2015550123 uses this platform" in await resp.text()
    await runtime.numbers.settled("acme", "2015550123")
    resp = await admin.post("/admin/numbers/2015550123/delete", {})
    assert resp.status == 303
    resp = await admin.post(f"{BASE}/{platform_id}/delete", {})
    assert resp.status == 303
    assert await runtime.store.cpaas.platforms("acme") == []


async def test_supervisors_and_missing_csrf_are_refused(admin: Console, runtime: Runtime) -> None:
    resp = await admin.post(f"{RECIPIENTS}/new", {"email": "ops@acme.example"}, csrf=False)
    assert resp.status == 403
    assert await runtime.store.cpaas.alert_recipients("acme") == []
    sue = await Console(admin.client).login("sue")
    for path in (BASE, f"{BASE}/new", f"{RECIPIENTS}/new"):
        await sue.page(path, status=403)
    resp = await sue.post(f"{RECIPIENTS}/new", {"email": "ops@acme.example"})
    assert resp.status == 403
    assert await runtime.store.cpaas.alert_recipients("acme") == []
