"""What the reply path asks of the store, on the in-process store, fakeredis and (with
``--redis-url``) a real Redis: filing an outbound message with the customer's checks in the
same script, a send's reads in one round trip, and recording the send with its claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING

import fakeredis
import pytest

import router.store.deliveries as deliveries_module
from router.models import ChannelKind, MessageStatus
from router.store import RedisStore
from router.store.base import SCHED_KEY
from router.store.consent import BlockRecord, ConsentChange, PairState
from router.store.deliveries import SendCheck, SendClaim
from router.store.filing import SEND_OUTBOX_MS, Filing, Recipient, send_timer, send_timer_kind
from router.store.memory import MemoryRedis
from tests.contracts.store import INACTIVITY, TENANT, Desk, StoreFixtures, reply

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.contracts.store import Clock

ACCOUNT = "acct-1"  # the account and customer of every ``Desk`` message
PARTY = "cust-1"
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def opt_out() -> ConsentChange:
    return ConsentChange(
        id="c1", tenant=TENANT, channel=ChannelKind.SMS, account=ACCOUNT, party=PARTY,
        direction="out", keyword="STOP", source="keyword", at=AT,
    )  # fmt: skip


def block() -> BlockRecord:
    return BlockRecord(
        tenant=TENANT, channel=ChannelKind.SMS, account=ACCOUNT, party=PARTY, blocked_by="ann",
        at=AT,
    )  # fmt: skip


def claim(token: str = "t1") -> SendClaim:
    return SendClaim(key="sb:sending:m1", token=token, seconds=300)


class ReplyStoreContract(StoreFixtures):
    @pytest.fixture
    async def desk(self, store: RedisStore, clock: Clock) -> Desk:
        desk = Desk(store, clock)
        await desk.agent("ann")
        return desk

    async def file(self, desk: Desk, sid: str, recipient: Recipient, agent: str = "ann") -> Filing:
        return await desk.store.file_outbound(
            reply(desk, "hi", agent), session_id=sid, agent=agent,
            inactivity_seconds=INACTIVITY, recipient=recipient,
        )  # fmt: skip

    # -- filing ---------------------------------------------------------------------------

    async def test_filing_refuses_a_party_the_account_cannot_reach(self, desk: Desk) -> None:
        sid = await desk.new_assigned("ann", party=PARTY)
        await desk.store.deliveries.set_unreachable(TENANT, ACCOUNT, PARTY, "blocked the page")
        checked = Recipient(account=ACCOUNT, party=PARTY, check_unreachable=True)
        # Before the assignment: whoever writes learns the customer cannot be reached.
        assert await self.file(desk, sid, checked, agent="ben") == Filing(
            outcome="unreachable", unreachable="blocked the page"
        )
        assert [m.text for m in await desk.store.history(TENANT, sid)] == ["hello"]
        unchecked = Recipient(account=ACCOUNT, party=PARTY)
        assert await self.file(desk, sid, unchecked) == Filing(outcome="ok", seq=2)

    async def test_filing_refuses_a_pair_opted_out_or_blocked(self, desk: Desk) -> None:
        sid = await desk.new_assigned("ann", party=PARTY)
        checked = Recipient(account=ACCOUNT, party=PARTY, consent=ChannelKind.SMS, index=True)
        assert await desk.store.consent.record(opt_out())
        assert await self.file(desk, sid, checked) == Filing(
            outcome="refused", refused=PairState(opted_out=opt_out())
        )
        assert await desk.store.consent.block(block())
        both = PairState(opted_out=opt_out(), blocked=block())
        assert (await self.file(desk, sid, checked)).refused == both
        # Another channel's consent does not apply; the keyword answers skip the check.
        vonage = checked.model_copy(update={"consent": ChannelKind.VONAGE})
        assert (await self.file(desk, sid, vonage)).outcome == "ok"
        compliance = checked.model_copy(update={"consent": None})
        assert (await self.file(desk, sid, compliance)).outcome == "ok"

    async def test_filing_indexes_an_sms_message(self, desk: Desk) -> None:
        sid = await desk.new_assigned("ann", party=PARTY)
        message = reply(desk, "hi")
        filed = await desk.store.file_outbound(
            message, session_id=sid, agent="ann", inactivity_seconds=INACTIVITY,
            recipient=Recipient(account=ACCOUNT, party=PARTY, consent=ChannelKind.SMS, index=True),
        )  # fmt: skip
        assert filed == Filing(outcome="ok", seq=2)
        assert await desk.store.sms.locate(TENANT, message.id) == (sid, 2)
        other = reply(desk, "not indexed")
        await desk.store.file_outbound(
            other, session_id=sid, agent="ann", inactivity_seconds=INACTIVITY
        )
        assert await desk.store.sms.locate(TENANT, other.id) is None

    async def test_filing_into_a_missing_session_is_missing_before_any_check(
        self, desk: Desk
    ) -> None:
        await desk.store.deliveries.set_unreachable(TENANT, ACCOUNT, PARTY, "gone")
        checked = Recipient(account=ACCOUNT, party=PARTY, check_unreachable=True)
        assert await self.file(desk, "ses-x", checked) == Filing(outcome="missing")

    async def test_filing_to_send_sets_an_outbox_timer_a_send_then_drops(self, desk: Desk) -> None:
        sid = await desk.new_assigned("ann", party=PARTY)
        filed = await desk.store.file_outbound(
            reply(desk, "hi"), session_id=sid, agent="ann", inactivity_seconds=INACTIVITY,
            outbox=send_timer_kind(compliance=False),
        )  # fmt: skip
        assert filed == Filing(outcome="ok", seq=2)
        timer = send_timer(TENANT, sid, 2, compliance=False)
        due = await desk.store.client.zscore(SCHED_KEY, timer)
        assert due == desk.clock.last_ms + SEND_OUTBOX_MS  # the filing's time, plus the delay
        # Another message's send, or this one's read without its timer, leaves it.
        other = send_timer(TENANT, sid, 3, compliance=False)
        deliveries = desk.store.deliveries
        await deliveries.check_send(TENANT, sid, 3, claim=None, account=ACCOUNT, party=PARTY,
                                    outbox=other)  # fmt: skip
        await deliveries.check_send(TENANT, sid, 2, claim=None, account=ACCOUNT, party=PARTY)
        assert await desk.store.client.zscore(SCHED_KEY, timer) == due
        check = await deliveries.check_send(
            TENANT, sid, 2, claim=claim(), account=ACCOUNT, party=PARTY, outbox=timer
        )
        assert check == SendCheck(claimed=True)
        assert await desk.store.client.zscore(SCHED_KEY, timer) is None

    # -- sending --------------------------------------------------------------------------

    async def test_a_send_claims_once_and_reads_what_it_must_respect(self, desk: Desk) -> None:
        sid = await desk.new_assigned("ann", party=PARTY)
        deliveries = desk.store.deliveries
        assert (
            await deliveries.check_send(TENANT, sid, 2, claim=None, account=ACCOUNT, party=PARTY)
            == SendCheck()
        )
        await deliveries.set_unreachable(TENANT, ACCOUNT, PARTY, "blocked the page")
        assert await desk.store.consent.record(opt_out())
        first = await deliveries.check_send(
            TENANT, sid, 2, claim=claim(), account=ACCOUNT, party=PARTY,
            consent=ChannelKind.SMS, unreachable=True,
        )  # fmt: skip
        assert first == SendCheck(
            claimed=True, pair=PairState(opted_out=opt_out()), unreachable="blocked the page"
        )
        await deliveries.set_status(TENANT, sid, 2, MessageStatus.FAILED, "no route")
        second = await deliveries.check_send(
            TENANT, sid, 2, claim=claim("t2"), account=ACCOUNT, party=PARTY
        )
        assert second == SendCheck(claimed=False, status=(MessageStatus.FAILED, "no route"))
        assert await desk.store.client.get("sb:sending:m1") == "t1"

    async def test_a_send_takes_a_place_in_the_accounts_window(
        self, desk: Desk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(deliveries_module, "time", SimpleNamespace(time=lambda: 1000.25))
        waits = [
            (await desk.store.deliveries.check_send(
                TENANT, "ses-1", None, claim=None, account=ACCOUNT, party=PARTY, per_second=2
            )).wait
            for _ in range(3)
        ]  # fmt: skip
        assert waits == [0.0, 0.0, 0.75]  # the third waits for the next second
        assert await desk.store.client.ttl(f"sb:rl:{ACCOUNT}:1000") == 2

    async def test_a_send_takes_the_partys_latest_reply_token_once(self, desk: Desk) -> None:
        deliveries = desk.store.deliveries
        soon = datetime.now(UTC) + timedelta(seconds=30)
        assert await deliveries.keep_reply_token(TENANT, ACCOUNT, PARTY, "rt-1", soon)
        assert await deliveries.keep_reply_token(TENANT, ACCOUNT, PARTY, "rt-2", soon)
        assert await deliveries.keep_reply_token(TENANT, ACCOUNT, "cust-2", "rt-other", soon)
        key = f"sb:{TENANT}:rt:{ACCOUNT}:{PARTY}"
        assert 0 < await desk.store.client.pttl(key) <= 30_000

        async def check(*, take: bool) -> SendCheck:
            # With every other read before it: the token's answer is the last one.
            return await deliveries.check_send(
                TENANT, "ses-1", 2, claim=claim(), account=ACCOUNT, party=PARTY,
                consent=ChannelKind.SMS, unreachable=True, per_second=5,
                outbox=send_timer(TENANT, "ses-1", 2, compliance=False), reply_token=take,
            )  # fmt: skip

        assert (await check(take=False)).reply_token is None  # not asked: left alone
        assert (await check(take=True)).reply_token == "rt-2"  # the latest one
        assert (await check(take=True)).reply_token is None  # used once
        # An expired token is not kept at all.
        gone = datetime.now(UTC) - timedelta(milliseconds=1)
        assert not await deliveries.keep_reply_token(TENANT, ACCOUNT, PARTY, "old", gone)
        assert await desk.store.client.exists(key) == 0

    async def test_recording_a_send_drops_its_claim_and_never_moves_a_status_back(
        self, desk: Desk
    ) -> None:
        deliveries = desk.store.deliveries
        await desk.store.client.set("sb:sending:m1", "t1")
        await deliveries.record_sent(TENANT, ACCOUNT, ["p1", "p2"], "ses-1", 2,
                                     release="sb:sending:m1")  # fmt: skip
        assert await desk.store.client.get("sb:sending:m1") is None
        assert (await deliveries.statuses(TENANT, "ses-1")) == {2: (MessageStatus.SENT, None)}
        found = await deliveries.update_by_provider_id(
            TENANT, ACCOUNT, "p2", MessageStatus.DELIVERED, None
        )
        assert found == ("ses-1", 2)
        await deliveries.record_sent(TENANT, ACCOUNT, ["p1"], "ses-1", 2)
        await deliveries.set_status(TENANT, "ses-1", 3, MessageStatus.FAILED, "outcome unknown")
        await deliveries.record_sent(TENANT, ACCOUNT, [], "ses-1", 3)
        assert await deliveries.statuses(TENANT, "ses-1") == {
            2: (MessageStatus.DELIVERED, None),
            3: (MessageStatus.FAILED, "outcome unknown"),
        }


class TestMemoryReplyStore(ReplyStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[RedisStore]:
        store = RedisStore(MemoryRedis())
        yield store
        await store.close()


class TestFakeRedisReplyStore(ReplyStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[RedisStore]:
        store = RedisStore(fakeredis.FakeAsyncRedis(decode_responses=True))
        yield store
        await store.close()


@pytest.mark.redis
class TestRedisReplyStore(ReplyStoreContract):
    @pytest.fixture
    def store(self, redis_store: RedisStore) -> RedisStore:
        return redis_store
