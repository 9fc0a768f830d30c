"""``If-Match`` on numbers, SMS consent and event subscriptions is compared and written in one
store transaction: a change that lands between the handler's read (with its ``If-Match``
check) and its write answers 412, and that change stays as it was made.

Each test wraps the store read the handler starts with so that another writer's change lands
right after it: the handler's own check passes on what it read, and only the store's
comparison can see the change. The app runs on the in-process store, on fakeredis and (with
``--redis-url``) on a real Redis.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis
from aiohttp import ClientResponse, web

from channels.cpaas import CpaasNumber
from router.models import ChannelKind, utcnow
from router.runtime import Runtime
from router.store import RedisStore
from router.store.consent import ConsentChange
from router.store.events import StoredSubscription
from router.store.memory import MemoryRedis
from tests.api.conftest import Client
from tests.sms.conftest import CUSTOMER, OUR, Mailbox, Sms, sms_app


@pytest.fixture(params=["memory", "fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def client(
    request: pytest.FixtureRequest,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    mailbox: tuple[Mailbox, int],
) -> Client:
    """The CPaaS tests' app (``tests.sms.conftest``) on each kind of store (closed with it)."""
    redis: aioredis.Redis
    if request.param == "memory":
        redis = MemoryRedis()
    elif request.param == "fakeredis":
        redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    else:
        redis = aioredis.Redis.from_url(request.getfixturevalue("redis_url"), decode_responses=True)
        await redis.flushdb()
    return await aiohttp_client(sms_app(RedisStore(redis), mailbox[1]))


def write_after_first_read(
    monkeypatch: pytest.MonkeyPatch,
    store: object,
    read: str,
    write: Callable[[Any], Awaitable[object]],
) -> None:
    """``store.<read>`` runs ``write(what it read)`` right after its first call returns:
    another writer's change between the handler's read and the handler's write."""
    original = getattr(store, read)
    pending = [write]

    async def read_then_write(*args: Any, **kwargs: Any) -> Any:
        found = await original(*args, **kwargs)
        if pending:
            await pending.pop()(found)
        return found

    monkeypatch.setattr(store, read, read_then_write)


async def check_stale(
    client: Client, url: str, headers: dict[str, str], resp: ClientResponse, what: str
) -> dict[str, Any]:
    """``resp`` is the 412 of a change made in between, with the current ETag; the object at
    ``url`` as it is now."""
    assert resp.status == 412, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "precondition_failed"
    assert error["message"].startswith(f"the {what} changed since you read it"), error
    current = await client.get(url, headers=headers)
    assert resp.headers["ETag"] == current.headers["ETag"]
    body: dict[str, Any] = await current.json()
    return body


async def test_a_number_changed_after_the_read_answers_412_and_keeps_the_change(
    client: Client, runtime: Runtime, admin: dict[str, str], sms: Sms,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url = f"/api/v1/numbers/{OUR}"
    etag = (await client.get(url, headers=admin)).headers["ETag"]

    async def other_admin_renames(number: CpaasNumber) -> None:
        def rename(stored: CpaasNumber) -> CpaasNumber:
            return stored.model_copy(update={"friendly_name": "Theirs"})

        await runtime.store.inbox.update_number(number.tenant, number.number, rename)

    write_after_first_read(monkeypatch, runtime.store.cpaas, "number", other_admin_renames)
    resp = await client.patch(
        url, json={"friendly_name": "Mine", "can_block": False}, headers={**admin, "If-Match": etag}
    )
    monkeypatch.undo()
    body = await check_stale(client, url, admin, resp, "number")
    assert body["friendly_name"] == "Theirs", "the change made in between stays"
    assert body["can_block"] is None, "nothing of the refused update was written"


async def test_a_consent_change_after_the_read_answers_412_and_keeps_the_change(
    client: Client, runtime: Runtime, admin: dict[str, str], sms: Sms,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url = f"/api/v1/consent/{OUR}/{CUSTOMER}"
    read = await client.get(url, headers=admin)
    assert (await read.json())["state"] == "none"

    async def customer_texts_stop(_: object) -> None:
        stop = ConsentChange(
            id="stop-1", tenant="acme", channel=ChannelKind.SMS, account=OUR, party=CUSTOMER,
            direction="out", keyword="STOP", source="keyword", at=utcnow(),
        )  # fmt: skip
        assert await runtime.store.consent.record(stop)

    write_after_first_read(monkeypatch, runtime.store.consent, "snapshot", customer_texts_stop)
    resp = await client.put(
        url, json={"state": "opted_in"}, headers={**admin, "If-Match": read.headers["ETag"]}
    )
    monkeypatch.undo()
    body = await check_stale(client, url, admin, resp, "consent state")
    assert (body["state"], body["keyword"], body["source"]) == ("opted_out", "STOP", "keyword")
    entries, total = await runtime.store.consent.ledger("acme")
    assert total == 1, "the refused opt-in is not in the ledger"
    assert entries[0].id == "stop-1"


async def test_a_subscription_changed_after_the_read_answers_412_and_keeps_the_change(
    client: Client, runtime: Runtime, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Disabled: no event delivery reads it (``EventBus._on_job``), only the handler does.
    created = await client.post(
        "/api/v1/event-subscriptions", headers=admin,
        json={"url": "https://crm.example.com/hook", "events": ["*"], "enabled": False},
    )  # fmt: skip
    assert created.status == 201, await created.text()
    url = f"/api/v1/event-subscriptions/{(await created.json())['id']}"
    etag = (await client.get(url, headers=admin)).headers["ETag"]

    async def other_admin_moves_it(sub: StoredSubscription) -> None:
        moved = sub.model_copy(update={"url": "https://other.example.com/hook"})
        await runtime.store.events.put(moved)

    write_after_first_read(monkeypatch, runtime.store.events, "get", other_admin_moves_it)
    resp = await client.patch(url, json={"enabled": True}, headers={**admin, "If-Match": etag})
    monkeypatch.undo()
    body = await check_stale(client, url, admin, resp, "event subscription")
    assert body["url"] == "https://other.example.com/hook", "the change made in between stays"
    assert body["enabled"] is False, "nothing of the refused update was written"
