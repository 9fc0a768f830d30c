"""The console's media stream pages without a browser: the list, the form's save (and what the
next conversation gets), business hours, field errors next to their inputs, the preview
(server-side button and the live-preview endpoint), a stale form, CSRF and roles."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from router.runtime import Runtime
from tests.router.conftest import ConnectCustomer
from tests.router.test_admin_console import csrf_of, signed_in
from tests.router.test_stream_editing import acme

Client = TestClient[Any, Any]
FORM = "/admin/media-streams/web"
ETAG = re.compile(r'name="etag" value="([^"]*)"')


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"tenants": [acme(), acme("globex")]}


async def form_values(client: Client) -> dict[str, str]:
    """The form as the browser would post it unchanged (checkboxes that are on, radio chosen)."""
    page = await client.get(FORM)
    assert page.status == 200
    text = await page.text()
    values = {
        "csrf_token": csrf_of(text),
        "etag": html.unescape(ETAG.search(text).group(1)),  # type: ignore[union-attr]
        "name": "Web", "language": "en", "queue": "support", "priority": "0",
        "can_transfer": "on", "escalation_queue": "", "reopen_on_reply": "on",
        "reopen_window_seconds": "60", "inactivity_timeout_seconds": "600",
        "time_zone": "Europe/Dublin", "profile": "always_online", "holidays": "",
        "initial_reply": "Welcome to {{ stream.name }}", "after_hours_reply": "",
        "action": "save",
    }  # fmt: skip
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        values[f"hours_{day}"] = ""
    return values


async def test_list_and_form_show_the_streams_fields(client: Client) -> None:
    await signed_in(client)
    listing = await client.get("/admin/media-streams")
    assert listing.status == 200
    text = await listing.text()
    assert 'data-testid="stream-web"' in text
    assert 'data-testid="stream-tg"' in text
    form = await (await client.get(FORM)).text()
    for label in ("Conversation Can Be Transferred", "Use Last Agent If Available",
                  "Reopen Conversation On Reply", "In Office Profile",
                  "Initial reply within business hours"):  # fmt: skip
        assert label in form
    assert "Welcome to Web" in form  # the preview of the saved initial reply


async def test_saving_the_form_changes_what_a_new_customer_gets(
    client: Client, runtime: Runtime, connect_customer: ConnectCustomer
) -> None:
    await signed_in(client)
    values = await form_values(client)
    values.update(
        initial_reply="Hello {{ customer.name }}, this is {{ stream.name }}",
        name="Website",
        profile="weekly",
        hours_mon="09:00-12:30, 13:30-17:30",
        hours_sat="10:00 \u2013 12:00",  # an en dash, as word processors write it
        holidays="2030-12-25 Christmas Day\n2030-12-26",
        can_escalate="on",
        escalation_queue="billing",
    )
    resp = await client.post(FORM, data=values, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == FORM + "?saved=1"
    stream = runtime.conversations.stream("acme", "web")
    assert stream.name == "Website"
    assert stream.escalation_queue == "billing"
    weekly = stream.availability.weekly
    assert weekly is not None
    assert [(r.start, r.end) for r in weekly.mon] == [("09:00", "12:30"), ("13:30", "17:30")]
    assert [(r.start, r.end) for r in weekly.sat] == [("10:00", "12:00")]
    assert [(h.date.isoformat(), h.name) for h in stream.availability.holidays] == [
        ("2030-12-25", "Christmas Day"), ("2030-12-26", ""),
    ]  # fmt: skip
    page = await (await client.get(FORM + "?saved=1")).text()
    assert "Saved." in page
    assert "09:00-12:30, 13:30-17:30" in page

    # Back to always online so the test's customer is within business hours.
    values = await form_values(client)
    values.update(initial_reply="Hello {{ customer.name }}, this is {{ stream.name }}",
                  name="Website")  # fmt: skip
    assert (await client.post(FORM, data=values, allow_redirects=False)).status == 303
    customer = await connect_customer()
    await customer.say("Hi", name="Dana")
    reply = await customer.expect("message")
    assert reply["message"]["text"] == "Hello Dana, this is Website"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"hours_mon": "9 to 5", "profile": "weekly"}, "hours_mon", "use HH:MM-HH:MM"),
        ({"hours_tue": "17:00-09:00", "profile": "weekly"}, "profile", "is not after start"),
        ({"priority": "high"}, "priority", "is not a number"),
        ({"priority": "10"}, "priority", "less than or equal to 9"),
        ({"time_zone": "Mars/Base"}, "time_zone", "unknown time zone"),
        ({"holidays": "2030-12-25"}, "profile", "holidays need weekly hours"),
        ({"holidays": "someday", "profile": "weekly", "hours_mon": "09:00-17:00"},
         "holidays", "date"),
        ({"can_escalate": "on"}, "form", "can_escalate needs an escalation_queue"),
        ({"initial_reply": "{{ oops"}, "initial_reply", "invalid template"),
    ],
)  # fmt: skip
async def test_errors_are_shown_next_to_their_fields(
    client: Client, runtime: Runtime, change: dict[str, str], field: str, words: str
) -> None:
    await signed_in(client)
    values = await form_values(client)
    values.update(change)
    resp = await client.post(FORM, data=values, allow_redirects=False)
    assert resp.status == 400
    text = html.unescape(await resp.text())
    found = re.search(rf'data-testid="error-{field}"[^>]*>([^<]*)<', text)
    assert found, f"no error shown for {field}"
    assert words in found.group(1)
    # What the admin typed is kept, and nothing was saved.
    for value in change.values():
        if value != "on":
            assert value in text
    assert runtime.conversations.stream("acme", "web").initial_reply == FIRST_TEMPLATE


FIRST_TEMPLATE = "Welcome to {{ stream.name }}"


async def test_preview_button_and_live_preview_endpoint(client: Client, runtime: Runtime) -> None:
    csrf = await signed_in(client)
    values = await form_values(client)
    values.update(action="preview", initial_reply="Dear {{ customer.name }} ({{ customer.email }})",
                  after_hours_reply="Back {{ next_open.strftime('%A at %H:%M') }}")  # fmt: skip
    resp = await client.post(FORM, data=values)
    assert resp.status == 200
    text = html.unescape(await resp.text())
    assert "Dear Jane Doe (jane.doe@example.com)" in text
    assert re.search(r"Back \w+day at 09:00", text)
    assert runtime.conversations.stream("acme", "web").initial_reply == FIRST_TEMPLATE

    live = await client.post(
        FORM + "/reply-preview",
        data={"csrf_token": csrf, "name": "Typed name", "initial_reply": "To {{ stream.name }}",
              "after_hours_reply": "{% if %}"},
    )  # fmt: skip
    assert live.status == 200
    body = await live.json()
    assert body["previews"] == {"initial_reply": "To Typed name"}
    assert "after_hours_reply" in body["errors"]
    refused = await client.post(FORM + "/reply-preview", data={"initial_reply": "x"})
    assert refused.status == 403  # no CSRF token


async def test_a_stale_form_does_not_overwrite_a_newer_edit(
    client: Client, runtime: Runtime
) -> None:
    await signed_in(client)
    values = await form_values(client)
    newer = runtime.conversations.stream("acme", "web").model_copy(update={"priority": 9})
    await runtime.conversations.streams.save("acme", newer)
    values.update(name="Mine")
    resp = await client.post(FORM, data=values, allow_redirects=False)
    assert resp.status == 409
    assert "Someone else saved this media stream" in await resp.text()
    stream = runtime.conversations.stream("acme", "web")
    assert (stream.name, stream.priority) == ("Web", 9)


async def test_csrf_and_roles(client: Client) -> None:
    await signed_in(client)
    values = await form_values(client)
    del values["csrf_token"]
    assert (await client.post(FORM, data=values)).status == 403
    await signed_in(client, "sue")
    assert (await client.get("/admin/media-streams")).status == 403
    assert (await client.get(FORM)).status == 403
    await signed_in(client, "root", "globex")
    assert (await client.get("/admin/media-streams/nope")).status == 404
