"""Editing media streams at run time through the API: ETag / If-Match, validation naming the
field, roles, the reply preview, what a restart with the same file does, and two processes on
one store (an edit made through one is used by the other)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.provisioning import apply_config
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from router.store.memory.keyspace import Keyspace
from tests.clients import eventually
from tests.router.conftest import ConnectCustomer, agent, tenant, token

Client = TestClient[Any, Any]
PATH = "/api/v1/media-streams/web"
FIRST = "Welcome to {{ stream.name }}"


def acme(tid: str = "acme") -> dict[str, Any]:
    agents = [
        agent("ann"),
        agent("sue", role="supervisor"),
        agent("root", role="tenant_admin", queues=[]),
    ]
    streams = [
        {"id": "web", "name": "Web", "queue": "support", "initial_reply": FIRST},
        {"id": "tg", "name": "Telegram", "media": "telegram", "queue": "support"},
    ]
    return tenant(tid, agents=agents, media_streams=streams, time_zone="Europe/Dublin")


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"tenants": [acme(), acme("globex")]}


async def bearer(client: Client, username: str = "root", tenant_id: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {await token(client, tenant_id, username)}"}


async def test_patch_with_if_match_changes_the_stream_and_its_etag(client: Client) -> None:
    auth = await bearer(client)
    read = await client.get(PATH, headers=auth)
    assert read.status == 200
    etag = read.headers["ETag"]
    assert (await read.json())["initial_reply"] == FIRST

    changed = await client.patch(
        PATH,
        json={"initial_reply": "Hi {{ customer.name or 'there' }}!", "priority": 7},
        headers={**auth, "If-Match": etag},
    )
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert body["initial_reply"] == "Hi {{ customer.name or 'there' }}!"
    assert body["priority"] == 7
    assert body["name"] == "Web"  # PATCH keeps what it does not name
    assert changed.headers["ETag"] != etag

    again = await client.get(PATH, headers=auth)
    assert again.headers["ETag"] == changed.headers["ETag"]
    assert (await again.json())["priority"] == 7

    stale = await client.patch(PATH, json={"priority": 1}, headers={**auth, "If-Match": etag})
    assert stale.status == 412
    assert (await stale.json())["error"]["code"] == "precondition_failed"
    assert (await (await client.get(PATH, headers=auth)).json())["priority"] == 7


async def test_put_replaces_the_settings_and_keeps_id_and_media(client: Client) -> None:
    auth = await bearer(client)
    availability = {
        "in_office_profile": {"mon": [["09:00", "12:30"], ["13:30", "17:00"]]},
        "holidays": [{"date": "2030-12-25", "name": "Christmas Day"}],
    }
    resp = await client.put(
        PATH,
        json={"name": "Website", "queue": "billing", "can_escalate": True,
              "escalation_queue": "support", "availability": availability,
              "after_hours_reply": "Closed until {{ next_open.strftime('%H:%M') }}"},
        headers=auth,
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["id"] == "web"
    assert body["media"] == "webchat"
    assert body["queue"] == "billing"
    assert body["initial_reply"] is None  # PUT: omitted fields take their defaults
    # The tenant's time zone, as for a stream of the file.
    assert body["availability"]["time_zone"] == "Europe/Dublin"
    assert body["availability"]["in_office_profile"]["mon"] == [["09:00", "12:30"],
                                                               ["13:30", "17:00"]]  # fmt: skip

    fixed = await client.patch(PATH, json={"media": "telegram"}, headers=auth)
    assert fixed.status == 400
    assert (await fixed.json())["error"]["field"] == "media"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"queue": "nowhere"}, "queue", "unknown queue 'nowhere'"),
        ({"can_escalate": True}, None, "can_escalate needs an escalation_queue"),
        ({"can_escalate": True, "escalation_queue": "gone"}, "escalation_queue",
         "unknown queue 'gone'"),
        ({"priority": 12}, "priority", "less than or equal to 9"),
        ({"initial_reply": "Hi {{ customer.name "}, "initial_reply", "invalid template"),
        ({"after_hours_reply": "{{ customer.phone }}"}, "after_hours_reply",
         "reply template failed"),
        ({"availability": {"in_office_profile": {"mon": [["17:00", "09:00"]]}}},
         "availability.in_office_profile", "is not after start"),
        ({"availability": {"time_zone": "Mars/Olympus_Mons"}}, "availability.time_zone",
         "unknown time zone"),
        ({"inactivity_timeout_seconds": 0}, "inactivity_timeout_seconds", "greater than 0"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)  # fmt: skip
async def test_invalid_edits_name_the_field_and_change_nothing(
    client: Client, change: dict[str, Any], field: str | None, words: str
) -> None:
    auth = await bearer(client)
    before = await client.get(PATH, headers=auth)
    resp = await client.patch(PATH, json=change, headers=auth)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == field
    assert words in error["message"]
    after = await client.get(PATH, headers=auth)
    assert after.headers["ETag"] == before.headers["ETag"]


async def test_roles_and_tenants(client: Client) -> None:
    supervisor = await bearer(client, "sue")
    assert (await client.get(PATH, headers=supervisor)).status == 200
    refused = await client.patch(PATH, json={"priority": 3}, headers=supervisor)
    assert refused.status == 403
    preview = await client.post(PATH + "/reply-preview", json={}, headers=supervisor)
    assert preview.status == 403
    assert (await client.get(PATH, headers=await bearer(client, "ann"))).status == 403
    assert (await client.patch("/api/v1/media-streams/nope", json={},
                               headers=await bearer(client))).status == 404  # fmt: skip

    # globex's admin edits globex's "web", not acme's.
    other = await client.patch(PATH, json={"priority": 5}, headers=await bearer(client, "root",
                               "globex"))  # fmt: skip
    assert other.status == 200
    mine = await (await client.get(PATH, headers=supervisor)).json()
    assert mine["priority"] == 0


async def test_list_is_paged(client: Client) -> None:
    auth = await bearer(client)
    resp = await client.get("/api/v1/media-streams?limit=1&offset=1", headers=auth)
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 2
    assert body["limit"] == 1
    assert [s["id"] for s in body["items"]] == ["tg"]


async def test_reply_preview_renders_sample_values_or_names_the_field(client: Client) -> None:
    auth = await bearer(client)
    resp = await client.post(
        PATH + "/reply-preview",
        json={"initial_reply": "Hi {{ customer.name }} from {{ stream.name }} "
              "[{{ stream.language }}]", "name": "Unsaved name"},
        headers=auth,
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["initial_reply"] == "Hi Jane Doe from Unsaved name [en]"
    assert body["after_hours_reply"] is None  # the stream has none

    closed = await client.post(
        PATH + "/reply-preview",
        json={"after_hours_reply": "We open at {{ next_open.strftime('%H:%M') }}"},
        headers=auth,
    )
    body = await closed.json()
    assert body["after_hours_reply"] == "We open at 09:00"
    assert body["initial_reply"] == "Welcome to Web"  # the saved template

    broken = await client.post(
        PATH + "/reply-preview", json={"after_hours_reply": "{% if %}"}, headers=auth
    )
    assert broken.status == 400
    assert (await broken.json())["error"]["field"] == "after_hours_reply"


async def test_a_new_conversation_gets_the_edited_initial_reply(
    client: Client, connect_customer: ConnectCustomer
) -> None:
    auth = await bearer(client)
    resp = await client.patch(
        PATH, json={"initial_reply": "Edited: hello {{ customer.name }}"}, headers=auth
    )
    assert resp.status == 200
    customer = await connect_customer()
    await customer.say("Hi", name="Dana")
    reply = await customer.expect("message")
    assert reply["message"]["text"] == "Edited: hello Dana"


async def test_restart_with_the_same_file_keeps_an_admins_edit(
    client: Client, runtime: Runtime
) -> None:
    auth = await bearer(client)
    assert (await client.patch(PATH, json={"name": "Edited"}, headers=auth)).status == 200
    # The file still says "Web", and the tg stream was never edited.
    await apply_config(runtime.store, runtime.config)
    streams = runtime.conversations.streams.store
    edited = await streams.get("acme", "web")
    assert edited is not None
    assert edited.name == "Edited"

    # A changed file still applies to a stream no admin edited.
    data = acme()
    data["media_streams"][1]["name"] = "Telegram (new)"
    data["media_streams"][0]["name"] = "From the file"
    changed = Config.parse({"tenants": [data, acme("globex")]})
    await apply_config(runtime.store, changed)
    unedited = await streams.get("acme", "tg")
    assert unedited is not None
    assert unedited.name == "Telegram (new)"
    still = await streams.get("acme", "web")
    assert still is not None
    assert still.name == "Edited"


# -- two processes on one store --------------------------------------------------------------


async def _two_runtimes(
    config: Config, make_client: Callable[[], aioredis.Redis]
) -> AsyncIterator[tuple[Client, Client]]:
    clients: list[Client] = []
    broker = InMemoryBroker()
    try:
        for _ in range(2):
            app = create_app(
                Settings(tick_seconds=0.05, partitions=2),
                config,
                store=RedisStore(make_client()),
                broker=broker,
            )
            web_client: Client = TestClient(TestServer(app))
            await web_client.start_server()
            clients.append(web_client)
        yield clients[0], clients[1]
    finally:
        for c in clients:
            await c.close()


async def _edit_through_one_used_by_other(first: Client, second: Client) -> None:
    auth = await bearer(first)
    resp = await first.patch(
        PATH, json={"initial_reply": "Edited elsewhere", "priority": 4}, headers=auth
    )
    assert resp.status == 200, await resp.text()
    other: Runtime = second.app[RUNTIME]

    async def seen() -> bool:
        stream = other.conversations.stream("acme", "web")
        return stream.initial_reply == "Edited elsewhere" and stream.priority == 4

    await eventually(seen, "the other process to use the edit")
    # And its API shows it with the same ETag.
    read = await second.get(PATH, headers=await bearer(second))
    assert read.headers["ETag"] == resp.headers["ETag"]


@pytest.fixture
def two_config(config_data: dict[str, Any]) -> Config:
    return Config.parse(config_data)


async def test_two_processes_on_one_store_share_an_edit(two_config: Config) -> None:
    keyspace = Keyspace()
    runtimes = _two_runtimes(two_config, lambda: MemoryRedis(keyspace=keyspace))
    async for first, second in runtimes:
        await _edit_through_one_used_by_other(first, second)


@pytest.mark.redis
async def test_two_processes_on_real_redis_share_an_edit(
    two_config: Config, redis_url: str
) -> None:
    flush = aioredis.Redis.from_url(redis_url)
    await flush.flushdb()
    await flush.aclose()
    runtimes = _two_runtimes(
        two_config, lambda: aioredis.Redis.from_url(redis_url, decode_responses=True)
    )
    async for first, second in runtimes:
        await _edit_through_one_used_by_other(first, second)
