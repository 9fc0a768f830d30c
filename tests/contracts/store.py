"""The store contract: ``RedisStore``'s domain verbs, run against every Redis it talks to.

Subclass ``StoreContract`` in a ``test_*.py`` module and override the ``store`` fixture to
give an empty ``RedisStore`` (closing it afterwards if needed). The tests drive the store
only through its public methods.

Nothing sleeps. The store reads time through ``router.store.redis.now_ms``; the suite puts
a ``Clock`` there that never returns the same millisecond twice (so "longest idle" and
"longest waiting" orderings are exact) and can jump forward (so offer expiry, reopen
windows and timers are reached without waiting). Offer deadlines are passed explicitly.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

import router.store.redis as redis_store
from router.models import (
    AgentState,
    AgentStatus,
    ChannelKind,
    Direction,
    Message,
    Party,
    Sender,
    SenderKind,
    Session,
    SessionState,
)
from router.store.base import Credential, IngestOutcome, IngestResult, OfferResult

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from router.store import RedisStore

TENANT = "acme"
QUEUE = "support"
OTHER_QUEUE = "billing"
STREAM = "web"
WINDOW = 60.0  # reopen window (seconds)
INACTIVITY = 600.0  # inactivity timeout (seconds)
OFFER_SECONDS = 30.0  # how long an offer stays open


class Clock:
    """Real time plus an offset, strictly increasing per reading (in milliseconds)."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self.last_ms = 0

    def __call__(self) -> int:
        real = int(datetime.now(UTC).timestamp() * 1000)
        self.last_ms = max(real + self.offset_ms, self.last_ms + 1)
        return self.last_ms

    def now(self) -> datetime:
        return datetime.fromtimestamp(self() / 1000, UTC)

    def advance(self, seconds: float) -> None:
        """Jump forward: the next reading is at least ``seconds`` after the last one."""
        self.offset_ms += int(seconds * 1000)
        self.last_ms += int(seconds * 1000)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class Desk:
    """One tenant of the store, with shorthands for the steps the tests repeat."""

    def __init__(self, store: RedisStore, clock: Clock, tenant: str = TENANT) -> None:
        self.store = store
        self.clock = clock
        self.tenant = tenant
        self._members: dict[str, list[str]] = {}

    # -- agents ---------------------------------------------------------------------------

    async def agent(
        self,
        aid: str,
        *,
        queues: Sequence[str] = (QUEUE,),
        capacity: int = 1,
        skills: Sequence[str] = (),
        state: AgentState = AgentState.READY,
        present: bool = True,
    ) -> None:
        """Provision an agent, add it to its queues, connect it and set its state."""
        await self.provision(aid, queues=queues, capacity=capacity, skills=skills)
        for queue in queues:
            members = self._members.setdefault(queue, [])
            if aid not in members:
                members.append(aid)
            await self.store.set_queue_agents(self.tenant, queue, members)
        if present:
            await self.store.set_presence(self.tenant, aid, f"node-{aid}", 300)
        if state is not AgentState.LOGGED_OUT:
            await self.store.set_agent_state(self.tenant, aid, state)

    async def provision(
        self,
        aid: str,
        *,
        queues: Sequence[str] = (QUEUE,),
        capacity: int = 1,
        skills: Sequence[str] = (),
    ) -> None:
        await self.store.provision_agent(
            self.tenant,
            aid,
            name=aid.title(),
            capacity=capacity,
            queues=list(queues),
            skills=list(skills),
            role="agent",
        )

    async def state(self, aid: str, state: AgentState, reason: str | None = None) -> None:
        assert await self.store.set_agent_state(self.tenant, aid, state, reason) is not None

    async def status(self, aid: str) -> AgentStatus:
        status = await self.store.agent_status(self.tenant, aid)
        assert status is not None
        return status

    async def load(self, aid: str) -> int:
        return (await self.status(aid)).load

    async def idle_since(self, aid: str) -> datetime:
        idle_since = (await self.status(aid)).idle_since
        assert idle_since is not None
        return idle_since

    # -- sessions -------------------------------------------------------------------------

    def message(
        self,
        party: str = "cust-1",
        *,
        stream: str = STREAM,
        text: str = "hello",
        direction: Direction = Direction.INBOUND,
        sender: Sender | None = None,
    ) -> Message:
        return Message(
            id=new_id("msg"),
            tenant=self.tenant,
            channel=ChannelKind.WEBCHAT,
            account="acct-1",
            stream=stream,
            direction=direction,
            remote_party=Party(id=party, name="Casey"),
            sender=sender or Sender(kind=SenderKind.CUSTOMER),
            text=text,
        )

    async def inbound(
        self,
        party: str = "cust-1",
        *,
        stream: str = STREAM,
        text: str = "hello",
        dedupe: str | None = None,
        reopen: bool = True,
        skills: Sequence[str] = (),
        queue: str = QUEUE,
        inactivity: float = INACTIVITY,
        session_id: str | None = None,
    ) -> IngestResult:
        return await self.store.ingest(
            self.message(party, stream=stream, text=text),
            new_session_id=session_id or new_id("ses"),
            queue=queue,
            priority=0,
            skills=skills,
            reopen=reopen,
            inactivity_seconds=inactivity,
            dedupe_key=dedupe,
        )

    async def session(self, sid: str) -> Session:
        session = await self.store.load_session(self.tenant, sid)
        assert session is not None
        return session

    async def offer(
        self,
        sid: str,
        *,
        epoch: int | None = None,
        expires_in: float = OFFER_SECONDS,
        preferred: str | None = None,
    ) -> tuple[OfferResult, str]:
        """Offer the session (at its current epoch unless given); returns (result, offer id)."""
        if epoch is None:
            epoch = (await self.session(sid)).epoch
        offer_id = new_id("off")
        expires = self.clock.now() + timedelta(seconds=expires_in)
        result = await self.store.offer(
            self.tenant, sid, epoch, offer_id, expires=expires, preferred_agent=preferred
        )
        return result, offer_id

    async def assign(self, sid: str, expected: str | None = None) -> str:
        """Offer and accept; returns the agent (``expected`` if given, asserted)."""
        result, offer_id = await self.offer(sid)
        assert result.outcome == "offered", result
        assert result.agent is not None
        if expected is not None:
            assert result.agent == expected
        assert await self.store.accept(self.tenant, sid, result.agent, offer_id) == "assigned"
        return result.agent

    async def new_assigned(self, expected: str, party: str | None = None) -> str:
        """A new session, assigned (to ``expected``); returns its id."""
        sid = (await self.inbound(party or new_id("cust"))).session_id
        await self.assign(sid, expected)
        return sid

    async def close(self, sid: str, *, only_if_inactive: bool = False) -> str:
        result = await self.store.close_session(
            self.tenant,
            sid,
            reason="agent",
            reopen_window_seconds=WINDOW,
            only_if_inactive=only_if_inactive,
        )
        return result.outcome

    async def waiting(self, queue: str = QUEUE) -> int:
        return (await self.store.queue_stats(self.tenant, queue)).queue_length


def reply(desk: Desk, text: str, agent: str | None = "ann") -> Message:
    """An outbound message from ``agent`` (or from a bot)."""
    sender = Sender(kind=SenderKind.AGENT, id=agent) if agent else Sender(kind=SenderKind.BOT)
    return desk.message(text=text, direction=Direction.OUTBOUND, sender=sender)


# Ways for ann (who has been idle longest) to be unable to take a session that needs "en",
# with what ``offer`` answers when she is the queue's only agent: "noagents" when she is
# not in the ready line at all, "none" when she is but cannot take this session.


async def _not_ready(desk: Desk) -> None:
    await desk.agent("ann", skills=["en"], state=AgentState.NOT_READY)


async def _logged_out(desk: Desk) -> None:
    await desk.agent("ann", skills=["en"], state=AgentState.LOGGED_OUT)


async def _at_capacity(desk: Desk) -> None:
    await desk.agent("ann", skills=["en"])
    await desk.new_assigned("ann")


async def _not_present(desk: Desk) -> None:
    await desk.agent("ann", skills=["en"], present=False)


async def _missing_skill(desk: Desk) -> None:
    await desk.agent("ann", skills=["fr"])


BLOCKERS = [
    pytest.param(_not_ready, "noagents", id="not-ready"),
    pytest.param(_logged_out, "noagents", id="logged-out"),
    pytest.param(_at_capacity, "noagents", id="at-capacity"),
    pytest.param(_not_present, "none", id="not-present"),
    pytest.param(_missing_skill, "none", id="missing-skill"),
]


class StoreFixtures:
    """The ``store`` every contract runs on (overridden per Redis) and the store's ``Clock``."""

    @pytest.fixture
    def store(self) -> RedisStore:
        """Override: an empty store (its data removed, the client closed afterwards)."""
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def clock(self, monkeypatch: pytest.MonkeyPatch) -> Clock:
        clock = Clock()
        monkeypatch.setattr(redis_store, "now_ms", clock)
        return clock


class StoreContract(StoreFixtures):
    """Behaviour every ``RedisStore`` must have, whatever Redis is behind it."""

    @pytest.fixture
    def desk(self, store: RedisStore, clock: Clock) -> Desk:
        return Desk(store, clock)

    # -- ingest ---------------------------------------------------------------------------

    async def test_first_message_opens_a_queued_session(self, desk: Desk) -> None:
        result = await desk.inbound("cust-1", text="hi there", session_id="ses-1")
        assert result == IngestResult(
            outcome=IngestOutcome.NEW,
            session_id="ses-1",
            seq=1,
            state="queued",
            agent=None,
            agent_node=None,
            epoch=1,
            last_agent=None,
        )
        session = await desk.session("ses-1")
        assert (session.state, session.epoch, session.queue) == (SessionState.QUEUED, 1, QUEUE)
        assert (session.stream, session.channel, session.account) == (
            STREAM,
            ChannelKind.WEBCHAT,
            "acct-1",
        )
        assert session.remote_party == Party(id="cust-1", name="Casey")
        assert session.queued_at is not None
        assert session.timers.inactivity_at is not None
        assert session.agent is None
        assert session.offer is None
        assert [(m.seq, m.session_id, m.text) for m in session.history] == [
            (1, "ses-1", "hi there")
        ]
        assert await desk.store.current_session_id(TENANT, STREAM, "cust-1") == "ses-1"
        assert await desk.waiting() == 1

    async def test_next_message_of_the_party_joins_its_session(self, desk: Desk) -> None:
        first = await desk.inbound("cust-1", text="one")
        second = await desk.inbound("cust-1", text="two")
        assert second.outcome is IngestOutcome.EXISTING
        assert second.session_id == first.session_id
        assert (second.seq, second.epoch, second.state) == (2, 1, "queued")
        history = await desk.store.history(TENANT, first.session_id)
        assert [(m.seq, m.text) for m in history] == [(1, "one"), (2, "two")]
        assert [m.text for m in await desk.store.history(TENANT, first.session_id, 2)] == ["two"]
        assert await desk.waiting() == 1

    async def test_duplicate_dedupe_key_answers_the_original_seq(self, desk: Desk) -> None:
        first = await desk.inbound(text="one", dedupe="prov-1")
        await desk.inbound(text="two", dedupe="prov-2")
        again = await desk.inbound(text="one, redelivered", dedupe="prov-1")
        assert again.outcome is IngestOutcome.DUPLICATE
        assert (again.session_id, again.seq, again.epoch) == (first.session_id, 1, 1)
        assert again.state == "queued"
        history = await desk.store.history(TENANT, first.session_id)
        assert [m.text for m in history] == ["one", "two"]

    async def test_duplicate_of_an_assigned_session_names_its_agent(self, desk: Desk) -> None:
        await desk.agent("ann")
        first = await desk.inbound(dedupe="prov-1")
        await desk.assign(first.session_id, "ann")
        again = await desk.inbound(dedupe="prov-1")
        assert again.outcome is IngestOutcome.DUPLICATE
        assert (again.seq, again.state, again.agent, again.agent_node) == (
            1,
            "assigned",
            "ann",
            "node-ann",
        )

    async def test_other_stream_or_party_opens_another_session(self, desk: Desk) -> None:
        results = [
            await desk.inbound("cust-1", stream="web"),
            await desk.inbound("cust-2", stream="web"),
            await desk.inbound("cust-1", stream="shop"),
        ]
        assert [r.outcome for r in results] == [IngestOutcome.NEW] * 3
        assert [r.seq for r in results] == [1, 1, 1]
        assert len({r.session_id for r in results}) == 3
        assert await desk.waiting() == 3

    async def test_message_to_an_assigned_session_keeps_it_assigned(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = await desk.new_assigned("ann", party="cust-1")
        result = await desk.inbound("cust-1", text="still there?")
        assert result.outcome is IngestOutcome.EXISTING
        assert (result.session_id, result.seq, result.state) == (sid, 2, "assigned")
        assert (result.agent, result.agent_node) == ("ann", "node-ann")
        assert await desk.load("ann") == 1
        assert await desk.waiting() == 0

    async def test_closed_session_reopens_within_the_window(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = await desk.new_assigned("ann", party="cust-1")
        assert await desk.close(sid) == "closed"
        result = await desk.inbound("cust-1", text="one more thing", reopen=True)
        assert result.outcome is IngestOutcome.REOPENED
        assert result.session_id == sid
        # epoch: 1 when opened, 2 when closed, 3 when reopened
        assert (result.seq, result.epoch, result.state) == (2, 3, "queued")
        assert (result.agent, result.last_agent) == (None, "ann")
        session = await desk.session(sid)
        assert session.state is SessionState.QUEUED
        assert (session.closed_at, session.close_reason, session.timers.reopen_until) == (
            None,
            None,
            None,
        )
        assert [m.text for m in session.history] == ["hello", "one more thing"]
        assert await desk.waiting() == 1
        assert await desk.assign(sid) == "ann"

    async def test_closed_session_after_the_window_opens_a_new_one(
        self, desk: Desk, clock: Clock
    ) -> None:
        first = await desk.inbound("cust-1")
        assert await desk.close(first.session_id) == "closed"
        clock.advance(WINDOW + 1)
        result = await desk.inbound("cust-1", reopen=True)
        assert result.outcome is IngestOutcome.NEW
        assert result.session_id != first.session_id
        assert (result.seq, result.epoch) == (1, 1)
        assert (await desk.session(first.session_id)).state is SessionState.CLOSED
        assert await desk.store.current_session_id(TENANT, STREAM, "cust-1") == result.session_id

    async def test_closed_session_without_reopen_opens_a_new_one(self, desk: Desk) -> None:
        first = await desk.inbound("cust-1")
        assert await desk.close(first.session_id) == "closed"
        result = await desk.inbound("cust-1", reopen=False)
        assert result.outcome is IngestOutcome.NEW
        assert result.session_id != first.session_id
        assert (result.seq, result.epoch, result.state) == (1, 1, "queued")

    # -- offer ----------------------------------------------------------------------------

    async def test_offer_picks_the_longest_idle_ready_agent(self, desk: Desk) -> None:
        for aid in ("cat", "ann", "ben"):  # ready in this order: cat has been idle longest
            await desk.agent(aid)
        idle = [await desk.idle_since(aid) for aid in ("cat", "ann", "ben")]
        assert idle[0] < idle[1] < idle[2]
        offered = []
        for _ in range(3):
            sid = (await desk.inbound(new_id("cust"))).session_id
            result, offer_id = await desk.offer(sid)
            assert result.outcome == "offered"
            assert result.node == f"node-{result.agent}"
            session = await desk.session(sid)
            assert session.state is SessionState.OFFERED
            assert session.offer is not None
            assert (session.offer.id, session.offer.agent) == (offer_id, result.agent)
            offered.append(result.agent)
        assert offered == ["cat", "ann", "ben"]
        assert [await desk.load(aid) for aid in ("cat", "ann", "ben")] == [1, 1, 1]

    async def test_agent_with_capacity_left_goes_to_the_back_of_the_line(self, desk: Desk) -> None:
        await desk.agent("ann", capacity=2)
        await desk.agent("ben")
        for expected in ("ann", "ben", "ann"):  # ann, idle longest, is offered, then ben
            await desk.new_assigned(expected)
        assert await desk.load("ann") == 2

    @pytest.mark.parametrize(("block", "alone"), BLOCKERS)
    async def test_offer_skips_an_agent_who_cannot_take_the_session(
        self, desk: Desk, block: Callable[[Desk], Awaitable[None]], alone: str
    ) -> None:
        await block(desk)  # ann, set up first: she would be the longest idle
        sid = (await desk.inbound(new_id("cust"), skills=["en"])).session_id
        result, _ = await desk.offer(sid)
        assert result == OfferResult(outcome=alone)
        assert (await desk.session(sid)).state is SessionState.QUEUED
        await desk.agent("ben", skills=["en", "fr"])
        result, _ = await desk.offer(sid)
        assert (result.outcome, result.agent, result.node) == ("offered", "ben", "node-ben")

    async def test_offer_without_any_agent_is_noagents(self, desk: Desk) -> None:
        sid = (await desk.inbound()).session_id
        result, _ = await desk.offer(sid)
        assert result == OfferResult(outcome="noagents")
        await desk.agent("ann", queues=[OTHER_QUEUE])  # ready, but for another queue
        result, _ = await desk.offer(sid)
        assert result == OfferResult(outcome="noagents")

    async def test_offer_with_a_stale_epoch_is_stale(self, desk: Desk) -> None:
        await desk.agent("ann")
        result = await desk.inbound()
        sid, epoch = result.session_id, result.epoch
        for wrong in (epoch - 1, epoch + 1):
            outcome, _ = await desk.offer(sid, epoch=wrong)
            assert outcome == OfferResult(outcome="stale")
        assert (await desk.session(sid)).state is SessionState.QUEUED
        assert await desk.load("ann") == 0
        first, _ = await desk.offer(sid, epoch=epoch)
        assert first.outcome == "offered"
        again, _ = await desk.offer(sid, epoch=epoch)  # already offered
        assert again == OfferResult(outcome="stale")
        missing, _ = await desk.offer("ses-missing", epoch=1)
        assert missing == OfferResult(outcome="stale")
        assert await desk.load("ann") == 1

    async def test_concurrent_offers_fill_a_slot_once(self, desk: Desk) -> None:
        await desk.agent("ann", capacity=1)
        sids = [(await desk.inbound(f"cust-{n}")).session_id for n in range(20)]
        offers = await asyncio.gather(*(desk.offer(sid, epoch=1) for sid in sids))
        outcomes = [result.outcome for result, _ in offers]
        assert outcomes.count("offered") == 1
        assert set(outcomes) == {"offered", "noagents"}
        winner = sids[outcomes.index("offered")]
        assert await desk.store.agent_sessions(TENANT, "ann") == [winner]
        assert await desk.load("ann") == 1
        states = [(await desk.session(sid)).state for sid in sids]
        assert states.count(SessionState.OFFERED) == 1

    async def test_concurrent_offers_of_one_session_offer_it_once(self, desk: Desk) -> None:
        for aid in ("ann", "ben", "cat"):
            await desk.agent(aid, capacity=3)
        sid = (await desk.inbound()).session_id
        offers = await asyncio.gather(*(desk.offer(sid, epoch=1) for _ in range(10)))
        outcomes = [result.outcome for result, _ in offers]
        assert sorted(outcomes) == ["offered"] + ["stale"] * 9
        assert sum([await desk.load(aid) for aid in ("ann", "ben", "cat")]) == 1

    async def test_preferred_agent_is_offered_first(self, desk: Desk) -> None:
        await desk.agent("ann")
        await desk.agent("cat", queues=[OTHER_QUEUE])
        await desk.agent("dan", state=AgentState.NOT_READY)
        for ignored in ("cat", "dan", "nobody"):  # not in the queue / not ready / unknown
            sid = (await desk.inbound(new_id("cust"))).session_id
            result, _ = await desk.offer(sid, preferred=ignored)
            assert result.agent == "ann"
            assert await desk.close(sid) == "closed"
        await desk.agent("ben")
        assert await desk.idle_since("ann") < await desk.idle_since("ben")
        sid = (await desk.inbound(new_id("cust"))).session_id
        result, _ = await desk.offer(sid, preferred="ben")
        assert (result.agent, result.node) == ("ben", "node-ben")

    # -- accept ---------------------------------------------------------------------------

    async def test_accept_by_the_offered_agent_assigns(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = (await desk.inbound()).session_id
        result, offer_id = await desk.offer(sid)
        assert result.agent == "ann"
        assert await desk.store.accept(TENANT, sid, "ann", offer_id) == "assigned"
        session = await desk.session(sid)
        assert session.state is SessionState.ASSIGNED
        assert (session.agent, session.last_agent, session.offer) == ("ann", "ann", None)
        assert session.epoch == 1
        assert await desk.store.agent_sessions(TENANT, "ann") == [sid]
        assert await desk.load("ann") == 1
        assert await desk.waiting() == 0

    async def test_accept_by_another_agent_or_offer_is_invalid(self, desk: Desk) -> None:
        await desk.agent("ann")
        await desk.agent("ben")
        sid = (await desk.inbound()).session_id
        result, offer_id = await desk.offer(sid)
        assert result.agent == "ann"
        assert await desk.store.accept(TENANT, sid, "ben", offer_id) == "invalid"
        assert await desk.store.accept(TENANT, sid, "ann", "off_other") == "invalid"
        assert await desk.store.accept(TENANT, "ses-missing", "ann", offer_id) == "invalid"
        session = await desk.session(sid)
        assert session.state is SessionState.OFFERED
        assert await desk.load("ben") == 0
        assert await desk.store.accept(TENANT, sid, "ann", offer_id) == "assigned"
        assert await desk.store.accept(TENANT, sid, "ann", offer_id) == "invalid"

    async def test_accept_after_the_offer_expired_is_refused(
        self, desk: Desk, clock: Clock
    ) -> None:
        await desk.agent("ann")
        sid = (await desk.inbound()).session_id
        _, offer_id = await desk.offer(sid, expires_in=OFFER_SECONDS)
        clock.advance(OFFER_SECONDS + 1)
        assert await desk.store.accept(TENANT, sid, "ann", offer_id) == "expired"
        assert (await desk.session(sid)).state is SessionState.OFFERED

    # -- release (reject / offer timeout) ---------------------------------------------------

    async def test_offer_timeout_before_expiry_is_early(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = (await desk.inbound()).session_id
        _, offer_id = await desk.offer(sid, expires_in=OFFER_SECONDS)
        result = await desk.store.release_offer(TENANT, sid, offer_id, agent=None, timed_out=True)
        assert result.outcome == "early"
        session = await desk.session(sid)
        assert session.state is SessionState.OFFERED
        assert session.offer is not None
        assert session.offer.id == offer_id
        assert await desk.load("ann") == 1

    @pytest.mark.parametrize("advance", [False, True], ids=["expires-in-past", "clock-moves"])
    async def test_offer_timeout_requeues_and_sets_agent_not_ready(
        self, desk: Desk, clock: Clock, advance: bool
    ) -> None:
        await desk.agent("ann")
        sid = (await desk.inbound()).session_id
        if advance:
            _, offer_id = await desk.offer(sid, expires_in=OFFER_SECONDS)
            clock.advance(OFFER_SECONDS + 1)
        else:
            _, offer_id = await desk.offer(sid, expires_in=-1)
        result = await desk.store.release_offer(TENANT, sid, offer_id, agent=None, timed_out=True)
        assert result.outcome == "requeued"
        assert (result.agent, result.epoch, result.agent_node, result.queue) == (
            "ann",
            2,
            "node-ann",
            QUEUE,
        )
        assert (result.agent_state, result.agent_reason) == (AgentState.NOT_READY, "Missed offer")
        assert (result.agent_load, result.agent_capacity) == (0, 1)
        status = await desk.status("ann")
        assert (status.state, status.reason, status.load) == (
            AgentState.NOT_READY,
            "Missed offer",
            0,
        )
        assert await desk.store.agent_sessions(TENANT, "ann") == []
        session = await desk.session(sid)
        assert (session.state, session.epoch, session.offer) == (SessionState.QUEUED, 2, None)
        assert await desk.waiting() == 1
        stale, _ = await desk.offer(sid, epoch=1)
        assert stale.outcome == "stale"
        nobody, _ = await desk.offer(sid, epoch=2)
        assert nobody.outcome == "noagents"  # ann is not ready any more
        await desk.agent("ben")
        retry, _ = await desk.offer(sid, epoch=2)
        assert retry.agent == "ben"
        again = await desk.store.release_offer(TENANT, sid, offer_id, agent=None, timed_out=True)
        assert again.outcome == "stale"

    async def test_reject_keeps_agent_ready_and_prefers_another(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = (await desk.inbound()).session_id
        _, offer_id = await desk.offer(sid)
        result = await desk.store.release_offer(TENANT, sid, offer_id, agent="ann", timed_out=False)
        assert result.outcome == "requeued"
        assert (result.agent, result.epoch) == ("ann", 2)
        assert (result.agent_state, result.agent_reason, result.agent_load) == (
            AgentState.READY,
            None,
            0,
        )
        status = await desk.status("ann")
        assert (status.state, status.load) == (AgentState.READY, 0)
        # ben becomes ready after ann's rejection: ann has been idle longer, yet she declined.
        await desk.agent("ben")
        assert await desk.idle_since("ann") < await desk.idle_since("ben")
        retry, _ = await desk.offer(sid, epoch=2)
        assert retry.agent == "ben"
        # ann is still first in line for anything she did not decline.
        other = (await desk.inbound("cust-2")).session_id
        first, _ = await desk.offer(other)
        assert first.agent == "ann"

    async def test_declining_agent_is_offered_again_when_alone(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = (await desk.inbound()).session_id
        _, offer_id = await desk.offer(sid)
        await desk.store.release_offer(TENANT, sid, offer_id, agent="ann", timed_out=False)
        retry, _ = await desk.offer(sid)
        assert retry.agent == "ann"

    async def test_release_of_another_offer_or_agent_is_stale(self, desk: Desk) -> None:
        await desk.agent("ann")
        await desk.agent("ben")
        sid = (await desk.inbound()).session_id
        _, offer_id = await desk.offer(sid)
        store = desk.store
        wrong_offer = await store.release_offer(TENANT, sid, "off_x", agent="ann", timed_out=False)
        wrong_agent = await store.release_offer(TENANT, sid, offer_id, agent="ben", timed_out=False)
        missing = await store.release_offer(TENANT, "ses-x", offer_id, agent=None, timed_out=True)
        assert [wrong_offer.outcome, wrong_agent.outcome, missing.outcome] == ["stale"] * 3
        assert (await desk.session(sid)).state is SessionState.OFFERED
        assert await desk.load("ann") == 1

    # -- capacity -------------------------------------------------------------------------

    async def test_capacity_two_holds_two_sessions(self, desk: Desk) -> None:
        await desk.agent("ann", capacity=2)
        first = await desk.new_assigned("ann")
        second = await desk.new_assigned("ann")
        third = (await desk.inbound("cust-3")).session_id
        result, _ = await desk.offer(third)
        assert result.outcome == "noagents"
        assert await desk.store.agent_sessions(TENANT, "ann") == sorted([first, second])
        status = await desk.status("ann")
        assert (status.load, status.capacity, status.state) == (2, 2, AgentState.READY)
        assert await desk.close(first) == "closed"
        assert await desk.assign(third) == "ann"

    # -- close ----------------------------------------------------------------------------

    async def test_close_releases_the_agent_slot(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = await desk.new_assigned("ann")
        result = await desk.store.close_session(
            TENANT, sid, reason="agent", reopen_window_seconds=WINDOW, only_agent="ann"
        )
        assert (result.outcome, result.previous_state, result.queue) == (
            "closed",
            "assigned",
            QUEUE,
        )
        assert (result.agent, result.agent_node) == ("ann", "node-ann")
        session = await desk.session(sid)
        assert (session.state, session.close_reason, session.agent) == (
            SessionState.CLOSED,
            "agent",
            None,
        )
        assert session.last_agent == "ann"
        assert session.epoch == 2
        assert session.closed_at is not None
        assert session.timers.reopen_until == session.closed_at + timedelta(seconds=WINDOW)
        assert await desk.load("ann") == 0
        assert await desk.store.agent_sessions(TENANT, "ann") == []
        assert await desk.new_assigned("ann")  # her slot is free again

    async def test_close_by_another_agent_is_forbidden(self, desk: Desk) -> None:
        await desk.agent("ann")
        await desk.agent("ben")
        sid = await desk.new_assigned("ann")
        result = await desk.store.close_session(
            TENANT, sid, reason="agent", reopen_window_seconds=WINDOW, only_agent="ben"
        )
        assert (result.outcome, result.previous_state) == ("forbidden", "assigned")
        session = await desk.session(sid)
        assert (session.state, session.agent) == (SessionState.ASSIGNED, "ann")
        assert await desk.load("ann") == 1
        queued = (await desk.inbound("cust-2", skills=["none-has-it"])).session_id
        result = await desk.store.close_session(
            TENANT, queued, reason="agent", reopen_window_seconds=WINDOW, only_agent="ann"
        )
        assert (result.outcome, result.previous_state) == ("forbidden", "queued")

    async def test_close_of_an_offered_session_frees_the_offered_agent(
        self, desk: Desk, clock: Clock
    ) -> None:
        await desk.agent("ann")
        sid = (await desk.inbound()).session_id
        _, offer_id = await desk.offer(sid)
        result = await desk.store.close_session(
            TENANT, sid, reason="customer", reopen_window_seconds=WINDOW
        )
        assert (result.outcome, result.previous_state, result.agent) == ("closed", "offered", "ann")
        assert await desk.load("ann") == 0
        assert await desk.waiting() == 0
        assert await desk.store.accept(TENANT, sid, "ann", offer_id) == "invalid"
        release = await desk.store.release_offer(TENANT, sid, offer_id, agent=None, timed_out=True)
        assert release.outcome == "stale"
        clock.advance(OFFER_SECONDS + 1)
        timers = await desk.store.claim_timers()
        assert [t.kind for t in timers if t.session_id == sid and t.kind == "offer"] == []

    async def test_close_of_a_queued_session_leaves_the_waiting_line(self, desk: Desk) -> None:
        sid = (await desk.inbound()).session_id
        result = await desk.store.close_session(
            TENANT, sid, reason="customer", reopen_window_seconds=WINDOW
        )
        assert (result.outcome, result.previous_state, result.agent) == ("closed", "queued", None)
        assert await desk.waiting() == 0

    async def test_close_missing_or_closed_session(self, desk: Desk) -> None:
        assert await desk.close("ses-missing") == "missing"
        sid = (await desk.inbound()).session_id
        assert await desk.close(sid) == "closed"
        assert await desk.close(sid) == "already"

    async def test_close_only_if_inactive(self, desk: Desk, clock: Clock) -> None:
        sid = (await desk.inbound(inactivity=INACTIVITY)).session_id
        assert await desk.close(sid, only_if_inactive=True) == "active"
        assert (await desk.session(sid)).state is SessionState.QUEUED
        clock.advance(INACTIVITY + 1)
        assert await desk.close(sid, only_if_inactive=True) == "closed"

    # -- transfer -------------------------------------------------------------------------

    async def test_transfer_to_another_queue_requeues(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = await desk.new_assigned("ann")
        await desk.agent("ben")  # support: not a candidate for billing
        await desk.agent("cat", queues=[OTHER_QUEUE])
        outcome = await desk.store.transfer(TENANT, sid, "ann", queue=OTHER_QUEUE, to_agent=None)
        assert outcome == ("requeued", 2, QUEUE)
        session = await desk.session(sid)
        assert (session.state, session.queue, session.epoch, session.agent) == (
            SessionState.QUEUED,
            OTHER_QUEUE,
            2,
            None,
        )
        assert session.pinned_agent is None
        assert await desk.load("ann") == 0
        assert await desk.store.agent_sessions(TENANT, "ann") == []
        assert (await desk.waiting(), await desk.waiting(OTHER_QUEUE)) == (0, 1)
        stale, _ = await desk.offer(sid, epoch=1)
        assert stale.outcome == "stale"
        assert await desk.assign(sid) == "cat"

    async def test_transfer_to_an_agent_pins_it(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = await desk.new_assigned("ann")
        await desk.agent("cat", queues=[OTHER_QUEUE])  # idle longer than dan
        await desk.agent("dan", queues=[OTHER_QUEUE], state=AgentState.NOT_READY)
        outcome = await desk.store.transfer(TENANT, sid, "ann", queue=OTHER_QUEUE, to_agent="dan")
        assert outcome == ("requeued", 2, QUEUE)
        assert (await desk.session(sid)).pinned_agent == "dan"
        waiting, _ = await desk.offer(sid)
        assert waiting.outcome == "none"  # dan is not ready: the session waits for him
        assert await desk.load("cat") == 0
        await desk.state("dan", AgentState.READY)
        assert await desk.assign(sid) == "dan"
        session = await desk.session(sid)
        assert (session.agent, session.pinned_agent) == ("dan", None)

    async def test_transfer_by_an_agent_not_holding_the_session_is_forbidden(
        self, desk: Desk
    ) -> None:
        await desk.agent("ann")
        await desk.agent("ben")
        sid = await desk.new_assigned("ann")
        outcome = await desk.store.transfer(TENANT, sid, "ben", queue=OTHER_QUEUE, to_agent=None)
        assert outcome == ("forbidden", 0, None)
        queued = (await desk.inbound("cust-2", skills=["none-has-it"])).session_id
        outcome = await desk.store.transfer(TENANT, queued, "ann", queue=QUEUE, to_agent=None)
        assert outcome == ("forbidden", 0, None)
        session = await desk.session(sid)
        assert (session.state, session.agent, session.epoch) == (SessionState.ASSIGNED, "ann", 1)

    # -- outbound messages ----------------------------------------------------------------

    async def test_file_outbound_by_the_assigned_agent(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = await desk.new_assigned("ann", party="cust-1")
        filing = await desk.store.file_outbound(
            reply(desk, "how can I help?"),
            session_id=sid,
            agent="ann",
            inactivity_seconds=INACTIVITY,
        )
        assert (filing.outcome, filing.seq) == ("ok", 2)
        await desk.inbound("cust-1", text="thanks")
        history = await desk.store.history(TENANT, sid)
        assert [(m.seq, m.direction, m.sender.kind, m.text) for m in history] == [
            (1, Direction.INBOUND, SenderKind.CUSTOMER, "hello"),
            (2, Direction.OUTBOUND, SenderKind.AGENT, "how can I help?"),
            (3, Direction.INBOUND, SenderKind.CUSTOMER, "thanks"),
        ]

    async def test_file_outbound_by_another_agent_is_forbidden(self, desk: Desk) -> None:
        await desk.agent("ann")
        await desk.agent("ben")
        sid = await desk.new_assigned("ann")
        forbidden = await desk.store.file_outbound(
            reply(desk, "mine now", "ben"),
            session_id=sid,
            agent="ben",
            inactivity_seconds=INACTIVITY,
        )
        assert (forbidden.outcome, forbidden.seq) == ("forbidden", None)
        queued = (await desk.inbound("cust-2", skills=["none-has-it"])).session_id
        on_queued = await desk.store.file_outbound(
            reply(desk, "hi"), session_id=queued, agent="ann", inactivity_seconds=INACTIVITY
        )
        assert (on_queued.outcome, on_queued.seq) == ("forbidden", None)
        bot = await desk.store.file_outbound(
            reply(desk, "an agent will be with you", None),
            session_id=queued,
            agent=None,
            inactivity_seconds=INACTIVITY,
        )
        assert (bot.outcome, bot.seq) == ("ok", 2)
        missing = await desk.store.file_outbound(
            reply(desk, "hi"), session_id="ses-x", agent="ann", inactivity_seconds=INACTIVITY
        )
        assert (missing.outcome, missing.seq) == ("missing", None)
        assert [m.text for m in await desk.store.history(TENANT, sid)] == ["hello"]

    async def test_file_outbound_dedupe_key_answers_dup(self, desk: Desk) -> None:
        await desk.agent("ann")
        sid = await desk.new_assigned("ann")
        first = await desk.store.file_outbound(
            reply(desk, "one"),
            session_id=sid,
            agent="ann",
            inactivity_seconds=INACTIVITY,
            dedupe_key="out:ann:c-1",
        )
        again = await desk.store.file_outbound(
            reply(desk, "one, retried"),
            session_id=sid,
            agent="ann",
            inactivity_seconds=INACTIVITY,
            dedupe_key="out:ann:c-1",
        )
        assert [(f.outcome, f.seq) for f in (first, again)] == [("ok", 2), ("dup", 2)]
        assert [m.text for m in await desk.store.history(TENANT, sid)] == ["hello", "one"]

    # -- agents ---------------------------------------------------------------------------

    async def test_agent_state_changes(self, desk: Desk) -> None:
        await desk.agent(
            "ann", capacity=3, queues=[QUEUE, OTHER_QUEUE], state=AgentState.LOGGED_OUT
        )
        status = await desk.status("ann")
        assert status == AgentStatus(
            tenant=TENANT, agent="ann", state=AgentState.LOGGED_OUT, capacity=3, load=0
        )
        ready = await desk.store.set_agent_state(TENANT, "ann", AgentState.READY)
        assert ready is not None
        assert (ready.state, ready.previous, ready.load, ready.capacity) == (
            AgentState.READY,
            AgentState.LOGGED_OUT,
            0,
            3,
        )
        assert ready.queues == (QUEUE, OTHER_QUEUE)
        assert (await desk.status("ann")).idle_since is not None
        paused = await desk.store.set_agent_state(TENANT, "ann", AgentState.NOT_READY, "Lunch")
        assert paused is not None
        assert (paused.state, paused.reason, paused.previous) == (
            AgentState.NOT_READY,
            "Lunch",
            AgentState.READY,
        )
        assert await desk.store.set_agent_state(TENANT, "nobody", AgentState.READY) is None
        assert await desk.store.agent_status(TENANT, "nobody") is None

    async def test_reprovisioning_keeps_live_state_and_updates_the_ready_line(
        self, desk: Desk
    ) -> None:
        await desk.agent("ann", capacity=1)
        await desk.new_assigned("ann")
        # More capacity: ann, busy but ready, can take another session right away.
        await desk.provision("ann", capacity=2)
        status = await desk.status("ann")
        assert (status.state, status.load, status.capacity) == (AgentState.READY, 1, 2)
        await desk.new_assigned("ann")
        # Moved to another queue: she leaves the old queue's line and joins the new one's.
        await desk.provision("ann", capacity=3, queues=[OTHER_QUEUE])
        await desk.store.set_queue_agents(TENANT, QUEUE, [])
        await desk.store.set_queue_agents(TENANT, OTHER_QUEUE, ["ann"])
        status = await desk.status("ann")
        assert (status.state, status.load, status.capacity) == (AgentState.READY, 2, 3)
        support = (await desk.inbound("cust-s")).session_id
        result, _ = await desk.offer(support)
        assert result.outcome == "noagents"
        billing = (await desk.inbound("cust-b", queue=OTHER_QUEUE)).session_id
        assert await desk.assign(billing) == "ann"

    async def test_presence_decides_who_can_be_offered(self, desk: Desk) -> None:
        await desk.agent("ann")
        await desk.store.clear_presence(TENANT, "ann", "node-other")  # not hers: kept
        sid = (await desk.inbound()).session_id
        await desk.store.clear_presence(TENANT, "ann", "node-ann")
        result, _ = await desk.offer(sid)
        assert result.outcome == "none"
        await desk.store.refresh_presence([(TENANT, "ann")], "node-2", 60)
        result, _ = await desk.offer(sid)
        assert (result.agent, result.node) == ("ann", "node-2")

    # -- queue statistics -----------------------------------------------------------------

    async def test_queue_stats_of_an_empty_queue(self, desk: Desk) -> None:
        stats = await desk.store.queue_stats(TENANT, QUEUE)
        assert stats.model_dump() == {
            "tenant": TENANT,
            "queue": QUEUE,
            "queue_length": 0,
            "longest_waiting_seconds": 0.0,
            "logged_on_agents": 0,
            "ready_idle_agents": 0,
            "not_ready_agents": 0,
            "working_agents": 0,
            "active_agents": 0,
        }

    async def test_queue_stats_count_sessions_and_agents(self, desk: Desk, clock: Clock) -> None:
        await desk.agent("cat")
        await desk.new_assigned("cat")
        await desk.state("cat", AgentState.NOT_READY, "Wrap-up")  # not ready, still busy
        await desk.agent("ben", capacity=2)
        await desk.new_assigned("ben")  # ready, busy
        await desk.agent("ann")  # ready, idle
        await desk.agent("dan", state=AgentState.NOT_READY)  # not ready, idle
        await desk.agent("eve", present=False)  # ready, not connected: not counted
        await desk.agent("fay", state=AgentState.LOGGED_OUT)  # not counted
        await desk.agent("gus", queues=[OTHER_QUEUE])  # another queue: not counted
        await desk.inbound("cust-w1", skills=["none-has-it"])
        clock.advance(5)
        await desk.inbound("cust-w2", skills=["none-has-it"])
        clock.advance(10)
        stats = await desk.store.queue_stats(TENANT, QUEUE)
        assert (stats.tenant, stats.queue) == (TENANT, QUEUE)
        assert stats.queue_length == 2
        assert 15 <= stats.longest_waiting_seconds < 16
        assert stats.logged_on_agents == 4  # ann, ben, cat, dan
        assert stats.ready_idle_agents == 1  # ann
        assert stats.not_ready_agents == 2  # cat, dan
        assert stats.working_agents == 2  # ready: ann, ben
        assert stats.active_agents == 2  # holding sessions: ben, cat
        other = await desk.store.queue_stats(TENANT, OTHER_QUEUE)
        assert (other.queue_length, other.logged_on_agents, other.ready_idle_agents) == (0, 1, 1)

    # -- timers ---------------------------------------------------------------------------

    async def test_due_timers_are_leased_once_across_claimers(
        self, desk: Desk, clock: Clock
    ) -> None:
        sids = [(await desk.inbound(f"cust-{n}")).session_id for n in range(3)]
        assert [t for t in await desk.store.claim_timers() if t.tenant == TENANT] == []
        clock.advance(INACTIVITY + 1)  # inactivity and queue-outbox timers are all due
        first, second = await asyncio.gather(
            desk.store.claim_timers(lease_seconds=30), desk.store.claim_timers(lease_seconds=30)
        )
        mine = [t for t in first + second if t.tenant == TENANT]
        expected = {("inact", sid, None) for sid in sids} | {("queue", sid, "1") for sid in sids}
        assert {(t.kind, t.session_id, t.token) for t in mine} == expected
        assert len(mine) == len(expected)  # nobody got a timer twice
        assert [t for t in await desk.store.claim_timers() if t.tenant == TENANT] == []

    async def test_complete_timer_removes_only_unchanged_timers(
        self, desk: Desk, clock: Clock
    ) -> None:
        sids = [(await desk.inbound(f"cust-{n}")).session_id for n in range(3)]
        clock.advance(INACTIVITY + 1)
        timers = [t for t in await desk.store.claim_timers(lease_seconds=30) if t.tenant == TENANT]
        inactivity = sorted(t.session_id for t in timers if t.kind == "inact")
        assert inactivity == sorted(sids)
        await desk.inbound("cust-0", text="still here")  # re-arms the first session's timer
        for timer in timers:
            if (timer.kind, timer.session_id) != ("inact", sids[2]):  # this one: never done
                await desk.store.complete_timer(timer)
        clock.advance(30 + 1)  # the lease ran out: the uncompleted timer comes back
        again = [t for t in await desk.store.claim_timers() if t.tenant == TENANT]
        assert {(t.kind, t.session_id) for t in again} == {("inact", sids[2])}
        for timer in again:
            await desk.store.complete_timer(timer)
        clock.advance(INACTIVITY)  # and the re-armed one falls due
        later = [t for t in await desk.store.claim_timers() if t.tenant == TENANT]
        assert {(t.kind, t.session_id) for t in later} == {("inact", sids[0])}

    async def test_cancel_timer_and_offer_timer(self, desk: Desk, clock: Clock) -> None:
        await desk.agent("ann")
        sid = (await desk.inbound()).session_id
        _, offer_id = await desk.offer(sid, expires_in=OFFER_SECONDS)
        await desk.store.cancel_timer("queue", TENANT, sid, "1")
        clock.advance(OFFER_SECONDS + 1)
        timers = [t for t in await desk.store.claim_timers() if t.tenant == TENANT]
        assert {(t.kind, t.session_id, t.token) for t in timers} == {("offer", sid, offer_id)}

    # -- tenants --------------------------------------------------------------------------

    async def test_tenants_do_not_see_each_other(self, store: RedisStore, clock: Clock) -> None:
        a, b = Desk(store, clock, "a"), Desk(store, clock, "b")
        await a.agent("ann")
        first = await a.inbound("cust-1", session_id="ses-1", dedupe="prov-1")
        assert first.outcome is IngestOutcome.NEW
        assert await store.load_session("b", "ses-1") is None
        assert await store.history("b", "ses-1") == ()
        assert await store.current_session_id("b", STREAM, "cust-1") is None
        assert await store.agent_status("b", "ann") is None
        assert await store.set_agent_state("b", "ann", AgentState.NOT_READY) is None
        assert await store.agent_sessions("b", "ann") == []
        _, offer_id = await a.offer("ses-1")
        assert await store.accept("b", "ses-1", "ann", offer_id) == "invalid"
        assert (await b.close("ses-1")) == "missing"
        # The same ids under tenant b are b's own: a new session, not a duplicate.
        mirror = await b.inbound("cust-1", session_id="ses-1", dedupe="prov-1")
        assert (mirror.outcome, mirror.seq, mirror.epoch) == (IngestOutcome.NEW, 1, 1)
        offer_b, _ = await b.offer("ses-1")
        assert offer_b.outcome == "noagents"  # a's ann does not work for b
        stats_b = await store.queue_stats("b", QUEUE)
        assert (stats_b.queue_length, stats_b.logged_on_agents) == (1, 0)
        session_a = await a.session("ses-1")
        assert (session_a.state, len(session_a.history)) == (SessionState.OFFERED, 1)
        assert (await a.status("ann")).load == 1

    # -- credentials, tokens, odds and ends -------------------------------------------------

    async def test_credentials_round_trip(self, store: RedisStore) -> None:
        cred = Credential(subject="ann", secret_hash="pbkdf2$abc", role="agent", kind="agent")
        await store.put_credential("a", "ann@example.com", cred)
        assert await store.get_credential("a", "ann@example.com") == cred
        assert await store.get_credential("b", "ann@example.com") is None
        assert await store.get_credential("a", "nobody") is None
        api = Credential(subject="crm", secret_hash="pbkdf2$def", role="api", kind="api")
        await store.put_credential("a", "ann@example.com", api)
        assert await store.get_credential("a", "ann@example.com") == api

    async def test_tokens_round_trip(self, store: RedisStore) -> None:
        await store.put_token("hash-1", '{"tenant": "a", "subject": "ann"}', 60)
        assert await store.get_token("hash-1") == '{"tenant": "a", "subject": "ann"}'
        assert await store.get_token("hash-2") is None

    async def test_shared_secret_is_created_once(self, store: RedisStore) -> None:
        secret = await store.shared_secret()
        assert len(secret) == 64
        assert await store.shared_secret() == secret

    async def test_visitor_node_round_trip(self, store: RedisStore) -> None:
        await store.set_visitor_node("a", STREAM, "cust-1", "node-1")
        assert await store.visitor_node("a", STREAM, "cust-1") == "node-1"
        assert await store.visitor_node("b", STREAM, "cust-1") is None
        await store.set_visitor_node("a", STREAM, "cust-1", None)
        assert await store.visitor_node("a", STREAM, "cust-1") is None

    async def test_ping(self, store: RedisStore) -> None:
        assert await store.ping() is True
