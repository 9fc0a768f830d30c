"""Creating and deleting media streams at run time through the API: a new stream is served at
once (its customers' messages are filed), validation names the field, a taken id is 409; a
deletion is refused while conversations are open or an account or number routes to the
stream, honours If-Match, is seen by another process, and a restart with the same file does
not bring a deleted stream back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from channels.cpaas import CpaasNumber, StreamTarget
from router import stream_usage
from router.config import Config
from router.errors import ConflictError
from router.keys import RUNTIME
from router.provisioning import apply_config
from router.runtime import Runtime
from router.store import RedisStore
from router.store.memory import MemoryRedis
from router.store.memory.keyspace import Keyspace
from router.store.optimistic import Requirement
from tests.router.conftest import ConnectAgent, ConnectCustomer, session_of
from tests.router.test_stream_editing import _two_runtimes, acme, bearer

Client = TestClient[Any, Any]
STREAMS = "/api/v1/media-streams"
NEW = {"id": "promo", "name": "Promotions", "queue": "billing", "priority": 3,
       "initial_reply": "Hi from {{ stream.name }}"}  # fmt: skip
WAIT = 5.0  # seconds: only bounds a failure


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"tenants": [acme(), acme("globex")]}


async def _create(client: Client, body: dict[str, Any], who: str = "root") -> Any:
    return await client.post(STREAMS, json=body, headers=await bearer(client, who))


async def _ids(client: Client) -> list[str]:
    listing = await client.get(STREAMS, headers=await bearer(client))
    assert listing.status == 200
    return [s["id"] for s in (await listing.json())["items"]]


# -- creating --------------------------------------------------------------------------------


async def test_a_created_stream_is_served_and_its_messages_are_filed(
    client: Client, runtime: Runtime, connect_customer: ConnectCustomer
) -> None:
    resp = await _create(client, NEW)
    assert resp.status == 201, await resp.text()
    assert resp.headers["Location"] == f"{STREAMS}/promo"
    created = await resp.json()
    assert created["queue"] == "billing"
    assert created["availability"]["time_zone"] == "Europe/Dublin"  # the tenant's
    assert created["open_now"] is True

    read = await client.get(f"{STREAMS}/promo", headers=await bearer(client))
    assert read.status == 200
    assert read.headers["ETag"] == resp.headers["ETag"]
    assert await read.json() == created
    assert await _ids(client) == ["web", "tg", "promo"]  # the file's first, then created ones
    # Only the creating tenant has it.
    other = await client.get(f"{STREAMS}/promo", headers=await bearer(client, "root", "globex"))
    assert other.status == 404

    customer = await connect_customer(stream="promo")
    await customer.say("Hello", name="Dana")
    assert (await customer.expect("message"))["message"]["text"] == "Hi from Promotions"
    session_id = await session_of(runtime, customer, stream="promo")
    session = await runtime.conversations.session("acme", session_id)
    assert session.stream == "promo"
    assert session.queue == "billing"
    assert session.priority == 3


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "No id", "queue": "support"}, "id", "Field required"),
        ({"id": "Bad Id", "queue": "support"}, "id", "String should match pattern"),
        ({"id": "x"}, "queue", "Field required"),
        ({"id": "x", "queue": "nowhere"}, "queue", "unknown queue 'nowhere'"),
        ({"id": "x", "queue": "support", "media": "pigeon"}, "media", "Input should be"),
        ({"id": "x", "queue": "support", "after_hours_reply": "{{ customer.phone }}"},
         "after_hours_reply", "reply template failed"),
        ({"id": "x", "queue": "support",
          "availability": {"in_office_profile": {"mon": [["17:00", "09:00"]]}}},
         "availability.in_office_profile", "is not after start"),
        ({"id": "x", "queue": "support", "colour": "red"}, "colour", "Extra inputs"),
    ],
)  # fmt: skip
async def test_an_invalid_stream_is_refused_naming_the_field(
    client: Client, body: dict[str, Any], field: str, words: str
) -> None:
    resp = await _create(client, body)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "invalid"
    assert error["field"] == field
    assert words in error["message"]
    assert await _ids(client) == ["web", "tg"]


async def test_a_taken_id_is_a_conflict(client: Client) -> None:
    clash = await _create(client, {"id": "web", "queue": "billing"})  # the file's stream
    assert clash.status == 409
    assert (await clash.json())["error"]["field"] == "id"
    read = await (await client.get(f"{STREAMS}/web", headers=await bearer(client))).json()
    assert read["queue"] == "support"  # unchanged

    assert (await _create(client, NEW)).status == 201
    again = await _create(client, {**NEW, "name": "Second"})
    assert again.status == 409
    assert "'promo' exists" in (await again.json())["error"]["message"]
    # Another tenant may use the id.
    globex = await client.post(STREAMS, json=NEW, headers=await bearer(client, "root", "globex"))
    assert globex.status == 201


async def test_a_stream_the_file_no_longer_names_can_be_created_again(
    client: Client, runtime: Runtime
) -> None:
    # Seeded by an older file that named "old"; the current file does not.
    old = runtime.conversations.streams.get("acme", "tg").model_copy(update={"id": "old"})
    await runtime.conversations.streams.store.seed("acme", old)
    await runtime.conversations.streams.refresh()
    assert await _ids(client) == ["web", "tg"]
    resp = await _create(client, {"id": "old", "name": "Old again", "queue": "support"})
    assert resp.status == 201, await resp.text()
    assert await _ids(client) == ["web", "tg", "old"]
    assert runtime.conversations.stream("acme", "old").media.value == "webchat"


async def test_only_admins_create_and_delete(client: Client) -> None:
    assert (await _create(client, NEW, who="sue")).status == 403
    refused = await client.delete(f"{STREAMS}/tg", headers=await bearer(client, "sue"))
    assert refused.status == 403
    assert await _ids(client) == ["web", "tg"]
    unknown = await client.delete(f"{STREAMS}/nope", headers=await bearer(client))
    assert unknown.status == 404


# -- deleting --------------------------------------------------------------------------------


async def test_delete_answers_204_and_the_stream_is_unknown_from_then_on(
    client: Client, runtime: Runtime
) -> None:
    auth = await bearer(client)
    assert (await _create(client, NEW)).status == 201
    assert (await client.get("/chat/acme/promo")).status == 200
    resp = await client.delete(f"{STREAMS}/promo", headers=auth)
    assert resp.status == 204
    assert (await client.get(f"{STREAMS}/promo", headers=auth)).status == 404
    assert await _ids(client) == ["web", "tg"]
    # The inbound path answers as for an id nobody ever used.
    assert (await client.get("/chat/acme/promo")).status == 404
    assert (await client.get("/chat/acme/never")).status == 404
    assert (await client.delete(f"{STREAMS}/promo", headers=auth)).status == 404
    # The id may be used again.
    again = await _create(client, {**NEW, "name": "Back"})
    assert again.status == 201
    assert runtime.conversations.stream("acme", "promo").name == "Back"


async def test_delete_honours_if_match(client: Client) -> None:
    auth = await bearer(client)
    read = await client.get(f"{STREAMS}/tg", headers=auth)
    etag = read.headers["ETag"]
    assert (await client.patch(f"{STREAMS}/tg", json={"priority": 2}, headers=auth)).status == 200
    stale = await client.delete(f"{STREAMS}/tg", headers={**auth, "If-Match": etag})
    assert stale.status == 412
    assert "tg" in await _ids(client)
    fresh = (await client.get(f"{STREAMS}/tg", headers=auth)).headers["ETag"]
    done = await client.delete(f"{STREAMS}/tg", headers={**auth, "If-Match": fresh})
    assert done.status == 204
    assert await _ids(client) == ["web"]


async def test_delete_is_refused_while_a_conversation_is_open(
    client: Client,
    runtime: Runtime,
    connect_customer: ConnectCustomer,
    connect_agent: ConnectAgent,
) -> None:
    auth = await bearer(client)
    customer = await connect_customer()
    await customer.say("Hello")
    session_id = await session_of(runtime, customer)
    before = (await client.get(f"{STREAMS}/web", headers=auth)).headers["ETag"]

    refused = await client.delete(f"{STREAMS}/web", headers=auth)
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert error["code"] == "conflict"
    assert "1 open conversation(s)" in error["message"]
    after = await client.get(f"{STREAMS}/web", headers=auth)
    assert after.status == 200
    assert after.headers["ETag"] == before
    assert runtime.conversations.stream("acme", "web").name == "Web"

    assert await runtime.conversations.close("acme", session_id, reason="test")
    assert (await client.delete(f"{STREAMS}/web", headers=auth)).status == 204


async def test_delete_is_refused_while_an_account_or_number_routes_to_it(
    client: Client, runtime: Runtime
) -> None:
    auth = await bearer(client)
    account = await client.post(
        "/api/v1/integration-accounts",
        json={"type": "telegram", "name": "Acme TG", "stream": "tg", "token": "t0ken"},
        headers=auth,
    )
    assert account.status == 201, await account.text()
    account_id = (await account.json())["id"]
    refused = await client.delete(f"{STREAMS}/tg", headers=auth)
    assert refused.status == 409
    assert f"integration account(s) '{account_id}'" in (await refused.json())["error"]["message"]
    assert "tg" in await _ids(client)
    gone = await client.delete(f"/api/v1/integration-accounts/{account_id}", headers=auth)
    assert gone.status == 204
    assert (await client.delete(f"{STREAMS}/tg", headers=auth)).status == 204

    assert (await _create(client, {"id": "sms", "media": "sms", "queue": "support"})).status == 201
    number = CpaasNumber(number="2125550100", tenant="acme", platform="p",
                         target=StreamTarget(stream="sms"))  # fmt: skip
    await runtime.store.cpaas.put_number(number)
    held = await client.delete(f"{STREAMS}/sms", headers=auth)
    assert held.status == 409
    assert "number(s) '2125550100'" in (await held.json())["error"]["message"]
    assert "sms" in await _ids(client)


async def test_a_conversation_filed_just_before_a_deletion_can_still_be_closed(
    client: Client, runtime: Runtime, connect_customer: ConnectCustomer
) -> None:
    """The race the open-conversation check cannot close: a message filed by a process that
    has not yet heard of the deletion. Its conversation goes by the stream's last settings."""
    customer = await connect_customer()
    await customer.say("Hello")
    session_id = await session_of(runtime, customer)
    streams = runtime.conversations.streams
    await streams.delete("acme", streams.get("acme", "web"), checked=False)
    with pytest.raises(Exception, match="unknown media stream"):
        runtime.conversations.stream("acme", "web")
    assert runtime.conversations.filed_stream("acme", "web").name == "Web"
    assert await runtime.conversations.close("acme", session_id, reason="test")
    closed = await runtime.conversations.session("acme", session_id)
    assert closed.state.value == "closed"


async def test_a_queue_a_created_stream_routes_to_cannot_be_deleted(client: Client) -> None:
    auth = await bearer(client)
    assert (await _create(client, {"id": "promo", "queue": "support",
                                   "can_escalate": True, "escalation_queue": "billing"})
            ).status == 201  # fmt: skip
    refused = await client.delete("/api/v1/queues/billing", headers=auth)
    assert refused.status == 409
    assert "media stream 'promo'" in (await refused.json())["error"]["message"]


# -- restarts and other processes ------------------------------------------------------------


async def test_a_restart_with_the_same_file_does_not_bring_a_deleted_stream_back(
    config_data: dict[str, Any], client: Client, runtime: Runtime
) -> None:
    auth = await bearer(client)
    assert (await client.delete(f"{STREAMS}/tg", headers=auth)).status == 204
    assert (await _create(client, NEW)).status == 201
    # Apply the unchanged file again, as every process does at start-up.
    await apply_config(runtime.store, Config.parse(config_data))
    await runtime.conversations.streams.refresh()
    assert await _ids(client) == ["web", "promo"]
    assert await runtime.conversations.streams.store.get("acme", "tg") is None
    # A changed file does not bring it back either: only creating it again does.
    changed = acme()
    changed["media_streams"][1]["name"] = "Telegram (new)"
    await apply_config(runtime.store, Config.parse({"tenants": [changed, acme("globex")]}))
    await runtime.conversations.streams.refresh()
    assert await _ids(client) == ["web", "promo"]
    # globex's "tg" was never deleted.
    globex = await client.get(f"{STREAMS}/tg", headers=await bearer(client, "root", "globex"))
    assert globex.status == 200


async def _wait(runtime: Runtime, done: Any) -> None:
    await asyncio.wait_for(runtime.conversations.streams.wait_until(done), WAIT)


async def _created_and_deleted_through_one_seen_by_other(first: Client, second: Client) -> None:
    other: Runtime = second.app[RUNTIME]
    streams = other.conversations.streams
    assert (await _create(first, NEW)).status == 201
    await _wait(other, lambda: streams.find("acme", "promo") is not None)
    read = await second.get(f"{STREAMS}/promo", headers=await bearer(second))
    assert read.status == 200
    assert (await read.json())["name"] == "Promotions"
    assert other.config.tenant("acme").stream("promo") is not None  # type: ignore[union-attr]

    auth = await bearer(first)
    assert (await first.delete(f"{STREAMS}/promo", headers=auth)).status == 204
    assert (await first.delete(f"{STREAMS}/tg", headers=auth)).status == 204
    await _wait(other, lambda: streams.find("acme", "tg") is None)
    assert streams.find("acme", "promo") is None
    assert (await second.get(f"{STREAMS}/tg", headers=await bearer(second))).status == 404
    assert (await second.get("/chat/acme/promo")).status == 404
    assert other.config.tenant("acme").stream("tg") is None  # type: ignore[union-attr]


async def _restart_keeps_the_deletion(config: Config, make: Any) -> None:
    async for first, _ in _two_runtimes(config, make):
        auth = await bearer(first)
        assert (await first.delete(f"{STREAMS}/tg", headers=auth)).status == 204
        assert (await _create(first, NEW)).status == 201
    # Every process stopped; two start again with the same file on the same store.
    async for first, second in _two_runtimes(config, make):
        for web in (first, second):
            assert await _ids(web) == ["web", "promo"]
            assert (await web.get(f"{STREAMS}/tg", headers=await bearer(web))).status == 404


async def test_another_process_sees_created_and_deleted_streams() -> None:
    keyspace = Keyspace()
    config = Config.parse({"tenants": [acme(), acme("globex")]})
    async for first, second in _two_runtimes(config, lambda: MemoryRedis(keyspace=keyspace)):
        await _created_and_deleted_through_one_seen_by_other(first, second)


async def test_restarted_processes_keep_a_deletion() -> None:
    keyspace = Keyspace()
    config = Config.parse({"tenants": [acme(), acme("globex")]})
    await _restart_keeps_the_deletion(config, lambda: MemoryRedis(keyspace=keyspace))


async def _flushed(redis_url: str) -> None:
    flush = aioredis.Redis.from_url(redis_url)
    await flush.flushdb()
    await flush.aclose()


@pytest.mark.redis
async def test_on_real_redis_another_process_sees_created_and_deleted_streams(
    redis_url: str,
) -> None:
    await _flushed(redis_url)
    config = Config.parse({"tenants": [acme(), acme("globex")]})
    make = lambda: aioredis.Redis.from_url(redis_url, decode_responses=True)  # noqa: E731
    async for first, second in _two_runtimes(config, make):
        await _created_and_deleted_through_one_seen_by_other(first, second)


@pytest.mark.redis
async def test_on_real_redis_restarted_processes_keep_a_deletion(redis_url: str) -> None:
    await _flushed(redis_url)
    config = Config.parse({"tenants": [acme(), acme("globex")]})
    await _restart_keeps_the_deletion(
        config, lambda: aioredis.Redis.from_url(redis_url, decode_responses=True)
    )


async def test_a_file_account_routing_to_a_deleted_stream_is_reported_at_start_up(
    client: Client, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    auth = await bearer(client)
    data = acme()
    data["integration_accounts"] = [
        {"id": "acme-tg", "type": "telegram", "name": "TG", "stream": "tg", "token": "t0ken"}
    ]
    config = Config.parse({"tenants": [data, acme("globex")]})
    await apply_config(runtime.store, config)
    assert (await client.delete(f"{STREAMS}/tg", headers=auth)).status == 409
    assert (await client.delete("/api/v1/integration-accounts/acme-tg", headers=auth)).status == 204
    assert (await client.delete(f"{STREAMS}/tg", headers=auth)).status == 204
    with caplog.at_level("WARNING", logger="router.provisioning"):
        await apply_config(runtime.store, config)  # the file puts the account back
    assert "integration account 'acme-tg' routes to media stream 'tg'" in caplog.text
    await runtime.conversations.streams.refresh()
    assert "tg" not in await _ids(client)


async def test_an_edit_racing_a_deletion_elsewhere_is_404_and_does_not_bring_it_back(
    client: Client, runtime: Runtime
) -> None:
    """The stream was deleted through another process that this one has not heard from."""
    tg = runtime.conversations.streams.get("acme", "tg")
    await runtime.conversations.streams.store.delete("acme", tg)  # the store only
    resp = await client.patch(f"{STREAMS}/tg", json={"priority": 4}, headers=await bearer(client))
    assert resp.status == 404
    record = await runtime.conversations.streams.store.record("acme", "tg")
    assert record is not None
    assert record.deleted


# -- deleting while an account is pointed at the stream -------------------------------------


TG_ACCOUNT = {"type": "telegram", "name": "Acme TG", "stream": "tg", "token": "t0ken"}


def using_after_first_check(
    monkeypatch: pytest.MonkeyPatch, start_using: Callable[[], Awaitable[None]]
) -> list[str | None]:
    """Have another admin ``start_using`` the stream right after the deletion's first check
    that nothing uses it; what each check answered."""
    checks: list[str | None] = []
    original = stream_usage.deletion_refusal

    async def racing(store: RedisStore, tenant: str, stream_id: str) -> str | None:
        found = await original(store, tenant, stream_id)
        checks.append(found)
        if len(checks) == 1:
            await start_using()
        return found

    monkeypatch.setattr(stream_usage, "deletion_refusal", racing)
    return checks


async def refused_after_first_check(
    client: Client, monkeypatch: pytest.MonkeyPatch, stream: str,
    start_using: Callable[[], Awaitable[None]],
) -> str:  # fmt: skip
    """Delete ``stream`` while another admin ``start_using`` it right after the first check:
    the deletion must check again and be refused, the stream stay. The refusal's message."""
    checks = using_after_first_check(monkeypatch, start_using)
    refused = await client.delete(f"{STREAMS}/{stream}", headers=await bearer(client))
    assert refused.status == 409
    assert checks[0] is None  # nothing used it at first ...
    assert checks[1] is not None  # ... and it was checked again once it was used
    assert stream in await _ids(client)
    return str((await refused.json())["error"]["message"])


async def test_an_account_pointed_at_the_stream_during_its_deletion_stops_the_deletion(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another admin adds an account for the stream right after the deletion checked that
    nothing uses it: the deletion checks again and is refused, naming the account."""
    auth = await bearer(client)

    async def add_account() -> None:
        added = await client.post("/api/v1/integration-accounts", json=TG_ACCOUNT, headers=auth)
        assert added.status == 201, await added.text()

    refused = await refused_after_first_check(client, monkeypatch, "tg", add_account)
    assert "integration account(s)" in refused
    record = await runtime.conversations.streams.store.record("acme", "tg")
    assert record is None or not record.deleted


async def test_a_conversation_opened_during_its_deletion_stops_the_deletion(
    client: Client,
    runtime: Runtime,
    connect_customer: ConnectCustomer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A customer's conversation opens on the stream right after the deletion counted none:
    the deletion counts again and is refused."""

    async def open_conversation() -> None:
        customer = await connect_customer()
        await customer.say("Hello")
        await session_of(runtime, customer)

    refused = await refused_after_first_check(client, monkeypatch, "web", open_conversation)
    assert "1 open conversation(s)" in refused


def deleting_on_check(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make each save's "stream not deleted" check delete the stream (as another process
    would) right after the check found it there, once per stream; the streams so deleted."""
    store = runtime.conversations.streams.store
    original = store.not_deleted
    deleting: list[str] = []

    def racing(tenant: str, stream_id: str) -> Requirement:
        requirement = original(tenant, stream_id)

        async def check() -> None:
            await requirement.check()  # the stream is there ...
            if stream_id not in deleting:  # ... and now another process deletes it
                deleting.append(stream_id)
                await store.delete(tenant, runtime.conversations.streams.get(tenant, stream_id))

        return Requirement(keys=requirement.keys, check=check)

    monkeypatch.setattr(store, "not_deleted", racing)
    return deleting


async def test_an_account_saved_while_its_stream_is_deleted_elsewhere_is_refused(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream is deleted (through another process) right after the account's save found
    it there: the save checks again and answers 409, and no account is stored."""
    deleting_on_check(runtime, monkeypatch)
    auth = await bearer(client)
    resp = await client.post("/api/v1/integration-accounts", json=TG_ACCOUNT, headers=auth)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "stream_deleted"
    assert error["field"] == "stream"
    listed = await client.get("/api/v1/integration-accounts", headers=auth)
    assert (await listed.json())["items"] == []


# -- deleting while a number is pointed at the stream ---------------------------------------


def _sms_number(stream: str) -> CpaasNumber:
    return CpaasNumber(number="2125550100", tenant="acme", platform="p",
                       target=StreamTarget(stream=stream))  # fmt: skip


async def test_a_number_pointed_at_the_stream_during_its_deletion_stops_the_deletion(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another admin assigns a number to the stream right after the deletion checked that
    nothing uses it: the deletion checks again and is refused, naming the number."""
    assert (await _create(client, {"id": "sms", "media": "sms", "queue": "support"})).status == 201

    async def assign_number() -> None:
        assert await runtime.store.inbox.create_number(_sms_number("sms"))

    refused = await refused_after_first_check(client, monkeypatch, "sms", assign_number)
    assert "number(s) '2125550100'" in refused


async def test_a_number_saved_while_its_stream_is_deleted_elsewhere_is_refused(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream is deleted (through another process) right after a number's save found it
    there: the save checks again and is refused with ``stream_deleted``, and nothing of the
    number changes (a new one is not stored, an existing one keeps its stream)."""
    for stream_id in ("sms", "sms2", "sms3"):
        body = {"id": stream_id, "media": "sms", "queue": "support"}
        assert (await _create(client, body)).status == 201
    store = runtime.conversations.streams.store
    deleting = deleting_on_check(runtime, monkeypatch)
    number = _sms_number("sms")
    with pytest.raises(ConflictError) as created:
        await runtime.store.inbox.create_number(number, requires=store.not_deleted("acme", "sms"))
    assert created.value.code == "stream_deleted"
    assert deleting == ["sms"]
    assert await runtime.store.cpaas.number("acme", number.number) is None

    stored = number.model_copy(update={"target": StreamTarget(stream="sms2")})
    assert await runtime.store.inbox.create_number(stored)
    moved = await client.patch(
        f"/api/v1/numbers/{number.number}", json={"target": {"kind": "stream", "stream": "sms3"}},
        headers=await bearer(client),
    )  # fmt: skip
    assert moved.status == 409, await moved.text()
    error = (await moved.json())["error"]
    assert error["code"] == "stream_deleted"
    assert error["field"] == "target.stream"
    assert deleting == ["sms", "sms3"]
    kept = await runtime.store.cpaas.number("acme", number.number)
    assert kept is not None
    assert kept.target == StreamTarget(stream="sms2")
