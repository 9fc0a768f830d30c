"""The console's *Add media stream* form and a stream's delete action without a browser: a
new stream is served and opens on its page, errors show next to their inputs, a taken id is
refused, a deletion is confirmed and refused while the stream is in use, CSRF and roles."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from router.runtime import Runtime
from tests.router.conftest import ConnectCustomer, session_of
from tests.router.test_admin_console import csrf_of, signed_in
from tests.router.test_stream_editing import acme

Client = TestClient[Any, Any]
LIST = "/admin/media-streams"


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"tenants": [acme(), acme("globex")]}


async def _add(client: Client, csrf: str, **values: str) -> Any:
    form = {"csrf_token": csrf, "id": "promo", "name": "Promotions", "media": "webchat",
            "queue": "billing", **values}  # fmt: skip
    return await client.post(LIST, data=form, allow_redirects=False)


async def test_the_list_has_the_add_form_and_a_new_stream_is_served(
    client: Client, runtime: Runtime
) -> None:
    csrf = await signed_in(client)
    page = await (await client.get(LIST)).text()
    assert 'data-testid="add-stream-form"' in page
    assert 'data-testid="delete-web"' in page

    resp = await _add(client, csrf)
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == f"{LIST}/promo?created=1"
    opened = await client.get(resp.headers["Location"])
    assert opened.status == 200
    assert 'data-testid="notice"' in await opened.text()
    stream = runtime.conversations.stream("acme", "promo")
    assert (stream.name, stream.queue, stream.media.value) == ("Promotions", "billing", "webchat")
    assert 'data-testid="stream-promo"' in await (await client.get(LIST)).text()
    assert (await client.get("/chat/acme/promo")).status == 200


@pytest.mark.parametrize(
    ("values", "field", "words", "status"),
    [
        ({"id": ""}, "id", "Field required", 400),
        ({"id": "Not An Id"}, "id", "String should match pattern", 400),
        ({"queue": "nowhere"}, "queue", "unknown queue", 400),
        ({"media": "pigeon"}, "media", "Input should be", 400),
        ({"id": "web"}, "id", "media stream &#39;web&#39; exists", 409),
    ],
)
async def test_add_form_errors_show_next_to_their_input(
    client: Client, runtime: Runtime, values: dict[str, str], field: str, words: str, status: int
) -> None:
    csrf = await signed_in(client)
    resp = await _add(client, csrf, **values)
    assert resp.status == status
    text = await resp.text()
    assert f'data-testid="error-{field}"' in text
    assert words in text
    assert 'value="Promotions"' in text  # what was typed is kept
    assert [s.id for s in runtime.conversations.streams.of_tenant("acme")] == ["web", "tg"]


async def test_delete_is_confirmed_then_the_stream_is_gone(
    client: Client, runtime: Runtime
) -> None:
    await signed_in(client)
    confirm = await client.get(f"{LIST}/tg/delete")
    assert confirm.status == 200
    text = await confirm.text()
    assert "Delete the media stream &#39;tg&#39;?" in text
    resp = await client.post(
        f"{LIST}/tg/delete", data={"csrf_token": csrf_of(text)}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == f"{LIST}?deleted=tg"
    listing = await (await client.get(resp.headers["Location"])).text()
    assert "Media stream &#39;tg&#39; deleted." in listing
    assert 'data-testid="stream-tg"' not in listing
    assert runtime.conversations.streams.find("acme", "tg") is None
    assert (await client.get(f"{LIST}/tg")).status == 404


async def test_delete_refused_while_a_conversation_is_open_shows_why(
    client: Client, runtime: Runtime, connect_customer: ConnectCustomer
) -> None:
    customer = await connect_customer()
    await customer.say("Hello")
    await session_of(runtime, customer)
    await signed_in(client)
    confirm = await (await client.get(f"{LIST}/web/delete")).text()
    resp = await client.post(f"{LIST}/web/delete", data={"csrf_token": csrf_of(confirm)})
    assert resp.status == 409
    text = await resp.text()
    assert 'data-testid="form-error"' in text
    assert "1 open conversation(s)" in text
    assert runtime.conversations.streams.find("acme", "web") is not None


async def test_csrf_and_roles(client: Client, runtime: Runtime) -> None:
    await signed_in(client)
    assert (await client.post(LIST, data={"id": "promo", "queue": "billing"})).status == 403
    assert (await client.post(f"{LIST}/tg/delete", data={})).status == 403
    supervisor = await signed_in(client, "sue")
    assert (await _add(client, supervisor)).status == 403
    gone = await client.post(f"{LIST}/tg/delete", data={"csrf_token": supervisor})
    assert gone.status == 403
    assert (await client.get(f"{LIST}/tg/delete")).status == 403
    streams = runtime.conversations.streams
    assert [s.id for s in streams.of_tenant("acme")] == ["web", "tg"]
