"""Console pages of users, queues, not-ready reasons and agents: forms post with the CSRF
token, validate next to each field, keep secrets write-only, and change the directory."""

from __future__ import annotations

from router.models import AgentState
from router.passwords import verify_password
from router.runtime import Runtime
from tests.admin.console import Client, Console, error_of


async def test_an_admin_adds_edits_and_deletes_a_user(admin: Console, runtime: Runtime) -> None:
    page = await admin.form("/admin/users/new")
    assert 'name="privileges" value="use_sms_api"' in page
    assert 'name="queues" value="support"' in page
    resp = await admin.post(
        "/admin/users/new",
        [("username", "dora"), ("name", "Dora"), ("role", "agent"), ("capacity", "2"),
         ("queues", "support"), ("skills", "fr, de"), ("password", "dora-password")],
    )  # fmt: skip
    assert resp.status == 303, await resp.text()
    cred = await runtime.store.get_credential("acme", "dora")
    assert cred is not None
    assert verify_password("dora-password", cred.secret_hash)
    listing = await admin.page("/admin/users")
    assert 'data-testid="user-dora-secret">set<' in listing
    assert "dora-password" not in listing
    acme = runtime.config.tenant("acme")
    assert acme is not None
    dora = acme.agent("dora")
    assert dora is not None
    assert (dora.capacity, dora.skills, dora.queues) == (2, ("fr", "de"), ("support",))

    edit = await admin.form("/admin/users/dora")
    assert "dora-password" not in edit
    assert 'data-testid="secret-password">set' in edit
    resp = await admin.edit("/admin/users/dora", {"name": "Dora D", "role": "supervisor",
                                                  "capacity": "3"})  # fmt: skip
    assert resp.status == 303, await resp.text()
    user = await runtime.directory.records.user("acme", "dora")
    assert user is not None
    assert (user.name, user.role, user.capacity, user.queues) == ("Dora D", "supervisor", 3, ())
    cred = await runtime.store.get_credential("acme", "dora")
    assert cred is not None
    assert verify_password("dora-password", cred.secret_hash)  # a blank password keeps it

    await admin.form("/admin/users/dora/delete")
    resp = await admin.post("/admin/users/dora/delete", {})
    assert resp.status == 303
    assert await runtime.store.get_credential("acme", "dora") is None
    assert await runtime.directory.records.user("acme", "dora") is None


async def test_user_form_errors_show_next_to_their_fields(admin: Console) -> None:
    await admin.form("/admin/users/new")
    resp = await admin.post(
        "/admin/users/new",
        {"username": "eve", "role": "agent", "capacity": "0", "password": "short"},
    )
    assert resp.status == 400
    page = await resp.text()
    assert "greater than or equal to 1" in error_of(page, "capacity")
    assert "at least 8" in error_of(page, "password")
    resp = await admin.post("/admin/users/new", {"username": "ann", "role": "agent"})
    assert resp.status == 409
    assert "exists" in error_of(await resp.text(), "username")


async def test_a_post_without_the_csrf_token_is_refused(admin: Console, runtime: Runtime) -> None:
    for path, data in [
        ("/admin/users/new", {"username": "mallory", "role": "agent"}),
        ("/admin/queues/new", {"id": "evil"}),
        ("/admin/not-ready-reasons", {"reasons": "Hacked"}),
        ("/admin/users/ann/delete", {}),
    ]:
        resp = await admin.post(path, data, csrf=False)
        assert resp.status == 403, path
    assert await runtime.directory.records.user("acme", "mallory") is None
    assert "evil" not in await runtime.directory.records.queues("acme")
    assert await runtime.directory.records.user("acme", "ann") is not None


async def test_an_admin_manages_queues(admin: Console, runtime: Runtime) -> None:
    await admin.form("/admin/queues/new")
    resp = await admin.post(
        "/admin/queues/new",
        [("id", "sales"), ("name", "Sales"), ("offer_timeout_seconds", "15"),
         ("members", "ann"), ("members", "bob")],
    )  # fmt: skip
    assert resp.status == 303, await resp.text()
    listing = await admin.page("/admin/queues")
    assert 'data-testid="queue-sales-members">ann, bob<' in listing
    assert ("acme", "sales") in runtime.dispatcher.lines

    resp = await admin.edit("/admin/queues/sales", {"name": "Sales", "offer_timeout_seconds": "-1"})
    assert resp.status == 400
    assert "greater than 0" in error_of(await resp.text(), "offer_timeout_seconds")
    resp = await admin.edit(
        "/admin/queues/sales", {"name": "Sales", "offer_timeout_seconds": "20", "members": "bob"}
    )
    assert resp.status == 303
    assert set(await runtime.store.client.smembers("sb:acme:qa:sales")) == {"bob"}

    # The web stream routes to support: deleting it is refused with the reason.
    await admin.form("/admin/queues/support/delete")
    resp = await admin.post("/admin/queues/support/delete", {})
    assert resp.status == 409
    assert "media stream" in await resp.text()
    await admin.form("/admin/queues/sales/delete")
    resp = await admin.post("/admin/queues/sales/delete", {})
    assert resp.status == 303
    assert "sales" not in await runtime.directory.records.queues("acme")


async def test_queue_form_refuses_unknown_members(admin: Console, runtime: Runtime) -> None:
    """A crafted form naming someone who is not an agent of the tenant saves nothing; the
    message is the API's."""
    await admin.form("/admin/queues/new")
    resp = await admin.post(
        "/admin/queues/new",
        [("id", "sales"), ("name", "Sales"), ("offer_timeout_seconds", "15"),
         ("members", "ann"), ("members", "zed")],
    )  # fmt: skip
    assert resp.status == 400
    page = await resp.text()
    assert error_of(page, "members") == "unknown agent 'zed'"
    assert 'name="members" value="ann" checked' in page  # what was typed is kept
    assert "sales" not in await runtime.directory.records.queues("acme")
    ann = await runtime.directory.records.user("acme", "ann")
    assert ann is not None
    assert ann.queues == ("support",)

    before = set(await runtime.store.client.smembers("sb:acme:qa:support"))
    resp = await admin.edit(
        "/admin/queues/support",
        {"name": "Renamed", "offer_timeout_seconds": "30", "members": ["bob", "zed"]},
    )
    assert resp.status == 400
    assert error_of(await resp.text(), "members") == "unknown agent 'zed'"
    support = (await runtime.directory.records.queues("acme"))["support"]
    assert support.name != "Renamed"
    assert set(await runtime.store.client.smembers("sb:acme:qa:support")) == before
    for agent in ("ann", "bob"):
        user = await runtime.directory.records.user("acme", agent)
        assert user is not None
        assert user.queues == ("support",)


async def test_user_form_refuses_unknown_queues(admin: Console, runtime: Runtime) -> None:
    await admin.form("/admin/users/new")
    resp = await admin.post(
        "/admin/users/new",
        [("username", "dora"), ("role", "agent"), ("capacity", "1"), ("queues", "support"),
         ("queues", "nowhere"), ("password", "dora-password")],
    )  # fmt: skip
    assert resp.status == 400
    assert error_of(await resp.text(), "queues") == "unknown queue 'nowhere'"
    assert await runtime.directory.records.user("acme", "dora") is None
    assert await runtime.store.get_credential("acme", "dora") is None

    resp = await admin.edit(
        "/admin/users/ann", {"name": "Ann A", "role": "agent", "capacity": "1",
                             "queues": ["nowhere"]},
    )  # fmt: skip
    assert resp.status == 400
    assert error_of(await resp.text(), "queues") == "unknown queue 'nowhere'"
    ann = await runtime.directory.records.user("acme", "ann")
    assert ann is not None
    assert (ann.name, ann.queues) == ("Ann Archer", ("support",))


async def test_an_admin_edits_not_ready_reasons(admin: Console, runtime: Runtime) -> None:
    page = await admin.form("/admin/not-ready-reasons")
    assert "Break, Lunch, Meeting, Training" in page
    resp = await admin.post("/admin/not-ready-reasons", {"reasons": "Coffee, Coffee"})
    assert resp.status == 400
    assert "repeat" in error_of(await resp.text(), "reasons")
    resp = await admin.post("/admin/not-ready-reasons", {"reasons": "Coffee, Coaching"})
    assert resp.status == 200
    acme = runtime.config.tenant("acme")
    assert acme is not None
    assert acme.not_ready_reasons == ("Coffee", "Coaching")


async def test_supervisors_see_agents_but_not_user_management(
    client: Client, runtime: Runtime
) -> None:
    await runtime.conversations.set_state("acme", "ann", AgentState.NOT_READY, "Lunch")
    sue = await Console(client).login("sue")
    page = await sue.page("/admin/agents")
    assert 'data-testid="agent-ann-state">not ready (Lunch)<' in page
    assert 'data-testid="nav-users"' not in page
    for path in ("/admin/users", "/admin/queues", "/admin/not-ready-reasons"):
        await sue.page(path, status=403)
