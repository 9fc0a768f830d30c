"""The session-search and audit-log contract, run against every Redis the store talks to.

The test class of each Redis (``tests/store/test_*_store.py``) subclasses it with
``StoreContract`` and overrides ``store`` (an empty ``RedisStore``). Sessions are written only
through the store's own verbs (ingest, offer/accept, transfer, close, outbound open, delete),
so the tests check that the indexes those verbs keep answer every filter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from router.models import ChannelKind, Party
from router.store.audit import SYSTEM_LOG, AuditActor, AuditEntry, AuditFilter, AuditStore
from router.store.search_backfill import (
    DONE_KEY,
    LOCK_KEY,
    BackfillBusy,
    backfill_search_indexes,
)
from router.store.transcripts import SessionFilter
from tests.contracts.store import (
    OTHER_QUEUE,
    QUEUE,
    STREAM,
    WINDOW,
    Clock,
    Desk,
    StoreFixtures,
    reply,
)

if TYPE_CHECKING:
    from router.store import RedisStore


class Sessions:
    """Four sessions of tenant acme, opened one minute apart (``at[name]`` = opening time),
    from four (the oldest) to three.

    - one: party p1 on web, support, assigned to ann, "I want a refund", closed
    - two: party p2 on web, support then transferred to billing, assigned to ann first,
      ann answered "your invoice is attached", open (queued in billing)
    - three: party p3 on shop, billing, assigned to ben, open
    - four: SMS to +15550001 opened outbound on stream sms (support), closed; the oldest
    """

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.at: dict[str, datetime] = {}


async def _ids(
    store: RedisStore, query: SessionFilter, tenant: str = "acme", **page: int
) -> list[str]:
    sessions, total, truncated = await store.search_sessions(
        tenant, query, limit=page.get("limit", 50), offset=page.get("offset", 0)
    )
    assert not truncated
    if not page:
        assert total == len(sessions)
    return [s.id for s in sessions]


async def _drop_indexes(store: RedisStore) -> None:
    """Make the store look as an earlier version, which kept no search indexes (and no open
    sessions per stream), left it."""
    keys = [key async for key in store.client.scan_iter("sb:*:sx:*")]
    keys += [key async for key in store.client.scan_iter("sb:*:so:*")]
    assert keys
    await store.client.delete(*keys)


async def _open_per_stream(store: RedisStore) -> dict[str, int]:
    return {s: await store.transcripts.open_in_stream("acme", s) for s in (STREAM, "shop", "sms")}


class SearchContract(StoreFixtures):
    @pytest.fixture
    async def sessions(self, store: RedisStore, clock: Clock) -> Sessions:
        desk = Desk(store, clock)
        out = Sessions()
        # Opened at the real time (outbound opening reads the wall clock): the oldest.
        out.at["four"] = datetime.now(UTC)
        four, new = await store.sms.open_outbound_session(
            "acme", stream="sms", channel=ChannelKind.SMS, account="num-1",
            party=Party(id="+15550001"), queue=QUEUE, priority=0, skills=(),
            reopen_window_seconds=WINDOW,
        )  # fmt: skip
        assert new
        await desk.agent("ann")
        await desk.agent("ben", queues=[OTHER_QUEUE])

        clock.advance(60)
        out.at["one"] = clock.now()
        one = (await desk.inbound("p1", text="I want a refund")).session_id
        await desk.assign(one, "ann")
        assert await desk.close(one) == "closed"

        clock.advance(60)
        out.at["two"] = clock.now()
        two = (await desk.inbound("p2", text="where is my bill")).session_id
        await desk.assign(two, "ann")
        filing = await store.file_outbound(
            reply(desk, "Your INVOICE is attached"), session_id=two, agent="ann",
            inactivity_seconds=600,
        )  # fmt: skip
        assert filing.outcome == "ok"
        outcome, _, _ = await store.transfer("acme", two, "ann", queue=OTHER_QUEUE, to_agent=None)
        assert outcome == "requeued"

        clock.advance(60)
        out.at["three"] = clock.now()
        three = await desk.inbound("p3", stream="shop", text="hello", queue=OTHER_QUEUE)
        await desk.assign(three.session_id, "ben")

        out.ids = {"one": one, "two": two, "three": three.session_id, "four": four}
        return out

    async def test_every_filter_narrows_the_search(
        self, store: RedisStore, sessions: Sessions
    ) -> None:
        ids = sessions.ids

        def named(*names: str) -> list[str]:
            return [ids[n] for n in names]

        assert await _ids(store, SessionFilter()) == named("three", "two", "one", "four")
        assert await _ids(store, SessionFilter(state="open")) == named("three", "two")
        assert await _ids(store, SessionFilter(state="closed")) == named("one", "four")
        assert await _ids(store, SessionFilter(queue=QUEUE)) == named("two", "one", "four")
        assert await _ids(store, SessionFilter(queue=OTHER_QUEUE)) == named("three", "two")
        assert await _ids(store, SessionFilter(stream=STREAM)) == named("two", "one")
        assert await _ids(store, SessionFilter(stream="shop")) == named("three")
        assert await _ids(store, SessionFilter(agent="ann")) == named("two", "one")
        assert await _ids(store, SessionFilter(agent="ben")) == named("three")
        assert await _ids(store, SessionFilter(agent="nobody")) == []
        assert await _ids(store, SessionFilter(channel="sms")) == named("four")
        assert await _ids(store, SessionFilter(channel="webchat")) == named("three", "two", "one")
        assert await _ids(store, SessionFilter(party="p2")) == named("two")
        assert await _ids(store, SessionFilter(party="+15550001")) == named("four")
        at = sessions.at
        assert await _ids(store, SessionFilter(created_from=at["two"])) == named("three", "two")
        assert await _ids(store, SessionFilter(created_to=at["two"] + timedelta(seconds=30))) == (
            named("two", "one", "four")
        )
        window = SessionFilter(created_from=at["one"], created_to=at["two"] + timedelta(seconds=1))
        assert await _ids(store, window) == named("two", "one")
        # The text search reads every message, both directions, case-insensitively.
        assert await _ids(store, SessionFilter(text="refund")) == named("one")
        assert await _ids(store, SessionFilter(text="invoice")) == named("two")
        assert await _ids(store, SessionFilter(text="HELLO")) == named("three")
        assert await _ids(store, SessionFilter(text="nothing like it")) == []
        # Filters combine: every one must hold.
        both = SessionFilter(agent="ann", queue=OTHER_QUEUE, state="open", text="bill")
        assert await _ids(store, both) == named("two")
        assert await _ids(store, SessionFilter(agent="ann", state="open", stream="shop")) == []

    async def test_pages_share_one_total(self, store: RedisStore, sessions: Sessions) -> None:
        pages = []
        for offset in (0, 3):
            found, total, _ = await store.search_sessions(
                "acme", SessionFilter(), limit=3, offset=offset
            )
            assert total == 4
            pages.append([s.id for s in found])
        assert [len(p) for p in pages] == [3, 1]
        assert pages[0] + pages[1] == await _ids(store, SessionFilter())
        found, total, _ = await store.search_sessions(
            "acme", SessionFilter(queue=QUEUE), limit=2, offset=2
        )
        assert (total, [s.id for s in found]) == (3, [sessions.ids["four"]])
        assert all(s.history == () for s in found)

    async def test_another_tenants_sessions_are_never_found(
        self, store: RedisStore, sessions: Sessions, clock: Clock
    ) -> None:
        other = Desk(store, clock, tenant="globex")
        theirs = (await other.inbound("p1", text="I want a refund")).session_id
        assert await _ids(store, SessionFilter(party="p1"), tenant="globex") == [theirs]
        assert await _ids(store, SessionFilter(text="refund"), tenant="globex") == [theirs]
        assert theirs not in await _ids(store, SessionFilter())
        assert await _ids(store, SessionFilter(party="p1")) == [sessions.ids["one"]]

    async def test_a_deleted_session_leaves_the_indexes(
        self, store: RedisStore, sessions: Sessions
    ) -> None:
        four = sessions.ids["four"]
        assert await store.inbox.delete_session("acme", four, "num-1") == "deleted"
        assert four not in await _ids(store, SessionFilter())
        assert await _ids(store, SessionFilter(channel="sms")) == []
        assert await _ids(store, SessionFilter(queue=QUEUE)) == [
            sessions.ids["two"],
            sessions.ids["one"],
        ]
        keys = [key async for key in store.client.scan_iter("sb:acme:sx:*")]
        for key in keys:
            assert await store.client.zscore(key, four) is None, key

    async def test_a_streams_open_sessions_are_counted_without_reading_its_closed_ones(
        self, store: RedisStore, sessions: Sessions, clock: Clock
    ) -> None:
        ids, desk = sessions.ids, Desk(store, clock)
        expected = {STREAM: 1, "shop": 1, "sms": 0}  # two; three; four is closed
        # Before the store's indexes are built, every session of the stream is read ...
        assert not await store.client.exists(DONE_KEY)
        assert await _open_per_stream(store) == expected
        # ... after, only the stream's open sessions: the stream's search index is not read.
        await backfill_search_indexes(store.client)
        await store.client.delete(f"sb:acme:sx:s:{STREAM}", "sb:acme:sx:s:shop")
        assert await _open_per_stream(store) == expected
        assert await store.client.smembers(f"sb:acme:so:{STREAM}") == {ids["two"]}
        # Closing takes a session out, reopening puts it back.
        assert await desk.close(ids["two"]) == "closed"
        assert await _open_per_stream(store) == {STREAM: 0, "shop": 1, "sms": 0}
        assert await store.client.smembers(f"sb:acme:so:{STREAM}") == set()
        reopened = await desk.inbound("p2", text="one more thing")
        assert (reopened.session_id, reopened.outcome.value) == (ids["two"], "reopened")
        assert await _open_per_stream(store) == expected
        assert await store.client.smembers(f"sb:acme:so:{STREAM}") == {ids["two"]}

    # -- sessions of an earlier version, without indexes ---------------------------------------

    async def test_sessions_written_without_indexes_are_indexed_once(
        self, store: RedisStore, sessions: Sessions
    ) -> None:
        await _drop_indexes(store)
        assert await _ids(store, SessionFilter()) == []
        assert await backfill_search_indexes(store.client) == 4
        ids = sessions.ids

        def named(*names: str) -> list[str]:
            return [ids[n] for n in names]

        assert await _ids(store, SessionFilter()) == named("three", "two", "one", "four")
        assert await _ids(store, SessionFilter(stream="shop")) == named("three")
        assert await _ids(store, SessionFilter(channel="sms")) == named("four")
        assert await _ids(store, SessionFilter(party="p2")) == named("two")
        assert await _ids(store, SessionFilter(party="+15550001")) == named("four")
        # The agent it is or was last assigned to; the queue it is in now (two was
        # transferred from QUEUE to OTHER_QUEUE: an earlier version did not record that).
        assert await _ids(store, SessionFilter(agent="ann")) == named("two", "one")
        assert await _ids(store, SessionFilter(agent="ben")) == named("three")
        assert await _ids(store, SessionFilter(queue=QUEUE)) == named("one", "four")
        assert await _ids(store, SessionFilter(queue=OTHER_QUEUE)) == named("three", "two")
        assert await _ids(store, SessionFilter(created_from=sessions.at["two"])) == named(
            "three", "two"
        )
        assert await _ids(store, SessionFilter(state="open", text="invoice")) == named("two")
        assert await _open_per_stream(store) == {STREAM: 1, "shop": 1, "sms": 0}
        assert await store.client.smembers(f"sb:acme:so:{STREAM}") == {ids["two"]}
        # Once per store: a later start does not scan again.
        assert await store.client.exists(DONE_KEY)
        await _drop_indexes(store)
        assert await backfill_search_indexes(store.client) == 0
        assert await _ids(store, SessionFilter()) == []

    async def test_one_process_indexes_at_a_time(
        self, store: RedisStore, sessions: Sessions
    ) -> None:
        await _drop_indexes(store)
        other = store.client.lock(LOCK_KEY, timeout=60, blocking=False)
        assert await other.acquire()
        with pytest.raises(BackfillBusy):
            await backfill_search_indexes(store.client)
        assert not await store.client.exists(DONE_KEY)
        assert await _ids(store, SessionFilter()) == []
        await other.release()  # it stopped (or its lock expired): the next try takes over
        assert await backfill_search_indexes(store.client) == 4
        assert await store.client.exists(LOCK_KEY) == 0
        assert len(await _ids(store, SessionFilter())) == 4

    # -- audit log --------------------------------------------------------------------------

    async def test_the_audit_log_is_capped_and_filtered(self, store: RedisStore) -> None:
        audit = AuditStore(store.client, max_entries=3)
        start = datetime.now(UTC)

        def entry(n: int, subject: str, object_type: str) -> AuditEntry:
            return AuditEntry(
                at=start + timedelta(seconds=n), tenant="acme",
                actor=AuditActor(subject=subject, role="tenant_admin", name=subject.title()),
                remote="192.0.2.1", method="PATCH", path=f"/api/v1/{object_type}/x{n}",
                object_type=object_type, object_id=f"x{n}", fields=("name",), status=200,
                source="api",
            )  # fmt: skip

        for n in range(5):
            await audit.append(entry(n, "root" if n % 2 else "admin", "numbers"))
        await audit.append(entry(5, "root", "bot-accounts"))
        assert await audit.size("acme") == 3
        items, total = await audit.read("acme", AuditFilter(), limit=10, offset=0)
        assert total == 3
        assert [e.object_id for e in items] == ["x5", "x4", "x3"]
        items, total = await audit.read("acme", AuditFilter(actor="root"), limit=10, offset=0)
        assert [e.object_id for e in items] == ["x5", "x3"]
        items, _ = await audit.read("acme", AuditFilter(actor="Admin"), limit=10, offset=0)
        assert [e.object_id for e in items] == ["x4"]
        items, _ = await audit.read("acme", AuditFilter(object_type="numbers"), limit=1, offset=1)
        assert [e.object_id for e in items] == ["x3"]
        assert (await audit.read("globex", AuditFilter(), limit=10, offset=0)) == ((), 0)
        # Time filters follow the entries' ids (when they were written).
        items, _ = await audit.read("acme", AuditFilter(), limit=10, offset=0)
        assert all(e.id for e in items)
        future = datetime.now(UTC) + timedelta(minutes=5)
        assert (await audit.read("acme", AuditFilter(since=future), limit=10, offset=0))[1] == 0
        past = start - timedelta(minutes=5)
        assert (await audit.read("acme", AuditFilter(until=past), limit=10, offset=0))[1] == 0
        assert (await audit.read("acme", AuditFilter(since=past), limit=10, offset=0))[1] == 3

    async def test_the_system_log_is_apart_from_every_tenant_log(self, store: RedisStore) -> None:
        audit = AuditStore(store.client)
        entry = AuditEntry(
            at=datetime.now(UTC), tenant="acme",
            actor=AuditActor(subject="ops", role="system_admin"), remote=None, method="PATCH",
            path="/api/v1/tenants/acme", object_type="tenants", object_id="acme",
            fields=("name",), status=200, source="api",
        )  # fmt: skip
        await audit.append(entry, SYSTEM_LOG)
        await audit.append(entry)  # the entry's tenant by default
        await audit.append(entry.model_copy(update={"tenant": ""}))
        assert (await audit.size(SYSTEM_LOG), await audit.size("acme")) == (2, 1)
        items, total = await audit.read(SYSTEM_LOG, AuditFilter(), limit=10, offset=0)
        assert (total, [e.tenant for e in items]) == (2, ["", "acme"])
        assert await store.client.exists("sb::audit", "sb:acme:audit") == 2
