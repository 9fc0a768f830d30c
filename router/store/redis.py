"""``RedisStore``: sessions, agents and timers in Redis, every transition one Lua script.

One code path for both modes: production passes a ``redis.asyncio.Redis`` connected to a
server; the embedded mode passes the in-process store (``router.store.memory``, from
``RedisStore.from_url("memory://")``), which runs the same scripts as Python.
Scripts live in ``scripts/*.lua``; ``lib.lua`` is prepended to each.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import StoreError
from router.models import (
    AgentState,
    AgentStatus,
    ChannelKind,
    Message,
    MessageStatus,
    Offer,
    Party,
    QueueStats,
    Session,
    SessionState,
    SessionTimers,
)
from router.store.accounts import AccountStore
from router.store.audit import AuditStore
from router.store.base import (
    KICK_CHANNEL,
    SCHED_KEY,
    SECRET_KEY,
    AgentStateResult,
    CloseResult,
    Credential,
    IngestOutcome,
    IngestResult,
    OfferResult,
    ReleaseResult,
    Timer,
    epoch_ms,
    now_ms,
    script_source,
    tenant_prefix,
)
from router.store.batching import BatchedScript, ScriptBatcher
from router.store.bots import BotStore
from router.store.consent import ConsentStore
from router.store.cpaas import CpaasStore
from router.store.deliveries import DeliveryStore
from router.store.events import EventSubscriptionStore
from router.store.filing import SEND_OUTBOX_MS, Filing, Recipient, recipient_args
from router.store.inbox import InboxStore
from router.store.memory import MemoryRedis
from router.store.named_cache import NamedCache
from router.store.pool import WaitingConnectionPool
from router.store.sms import SmsStore
from router.store.transcripts import SessionFilter, TranscriptStore

_SCRIPTS = (
    "ingest",
    "offer",
    "accept",
    "release",
    "agent_state",
    "close",
    "transfer",
    "append_outbound",
    "claim_timers",
    "complete_timer",
    "queue_stats",
    "bot_handoff",
)
# A queued session must reach the broker within this time, else the outbox timer re-publishes it.
OUTBOX_DELAY_MS = 5000
DEDUPE_TTL_S = 7 * 24 * 3600
MISSED_OFFER = "Missed offer"


def _dt(ms: str | int | None) -> datetime | None:
    if ms in (None, ""):
        return None
    return datetime.fromtimestamp(int(float(ms)) / 1000, UTC)


def _s(value: Any) -> str | None:
    return None if value in (None, b"", "") else str(value)


class RedisStore:
    """The store of sessions, agents, credentials and timers (see ``router.store.base``)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client
        self.accounts = AccountStore(client)
        # Read on every webhook and every reply: this process's copy (started by the runtime).
        self.account_cache = NamedCache(self.accounts)
        self.deliveries = DeliveryStore(client)
        self.cpaas = CpaasStore(client)
        self.consent = ConsentStore(client)
        self.sms = SmsStore(client)
        self.inbox = InboxStore(client)
        self.bots = BotStore(client)
        self.events = EventSubscriptionStore(client)
        self.transcripts = TranscriptStore(client)
        self.audit = AuditStore(client)
        # The scripts of one event-loop pass share a round trip (router.store.batching).
        self.batcher = ScriptBatcher(client)
        self._scripts: dict[str, BatchedScript] = {
            name: self.batcher.register(script_source(name, lib=True)) for name in _SCRIPTS
        }

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 128) -> RedisStore:
        """The store at ``url``. Concurrent commands share at most ``max_connections``
        connections; a command that finds none free waits for one (up to 10 s, then it fails
        like an unreachable store) instead of failing at once, so a burst of webhooks queues
        up rather than erroring."""
        if url.startswith("memory://"):
            return cls(MemoryRedis())
        pool = WaitingConnectionPool.from_url(
            url, decode_responses=True, max_connections=max_connections, timeout=10
        )
        return cls(aioredis.Redis.from_pool(pool))  # closing the client closes the pool

    @property
    def client(self) -> aioredis.Redis:
        return self._r

    async def _run(self, name: str, args: Sequence[str | int | float]) -> list[Any]:
        try:
            result = await self._scripts[name](args=list(args))
        except RedisError as exc:
            raise StoreError(f"store script {name} failed: {exc}") from exc
        return list(result)

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._r.aclose()

    async def shared_secret(self) -> bytes:
        """A random key shared by every process of the system (created on first use)."""
        await self._r.set(SECRET_KEY, secrets.token_hex(32), nx=True)
        value = await self._r.get(SECRET_KEY)
        return str(value).encode()

    # -- sessions -------------------------------------------------------------------------

    async def ingest(
        self,
        message: Message,
        *,
        new_session_id: str,
        queue: str,
        priority: int,
        skills: Sequence[str],
        reopen: bool,
        inactivity_seconds: float,
        dedupe_key: str | None,
        assign_to: str | None = None,
        hold: bool = False,
        with_bot: bool = False,
    ) -> IngestResult:
        """File an inbound message; see ``scripts/ingest.lua``.

        ``assign_to`` (personal inbox) assigns a new or reopened session to that agent
        directly, outside its capacity; ``hold`` keeps it unrouted in state ``new``;
        ``with_bot`` starts it in state ``with_bot`` (self-service bot, not in the waiting line).
        """
        r = await self._run(
            "ingest",
            [
                tenant_prefix(message.tenant),
                message.tenant,
                message.stream,
                message.remote_party.id,
                dedupe_key or "",
                new_session_id,
                now_ms(),
                _history_json(message),
                message.channel.value,
                message.account,
                message.remote_party.model_dump_json(),
                queue,
                priority,
                ",".join(skills),
                "1" if reopen else "0",
                int(inactivity_seconds * 1000),
                DEDUPE_TTL_S,
                OUTBOX_DELAY_MS,
                assign_to or "",
                "1" if hold else "0",
                "1" if with_bot else "0",
            ],
        )
        return IngestResult(
            outcome=IngestOutcome(r[0]),
            session_id=r[1],
            seq=int(r[2]),
            state=r[3],
            agent=_s(r[4]),
            agent_node=_s(r[5]),
            epoch=int(r[6]),
            last_agent=_s(r[7]),
        )

    async def file_outbound(
        self,
        message: Message,
        *,
        session_id: str,
        agent: str | None,
        inactivity_seconds: float,
        dedupe_key: str | None = None,
        recipient: Recipient | None = None,
        outbox: str | None = None,
    ) -> Filing:
        """Append an agent/bot/system message (``agent`` must hold the session) once
        ``recipient`` passed its checks, with an ``outbox`` timer of that kind
        (``send_timer_kind``) when it is to be sent: one round trip (``router.store.filing``).
        """
        r = await self._run(
            "append_outbound",
            [
                tenant_prefix(message.tenant),
                message.tenant,
                session_id,
                agent or "",
                _history_json(message),
                now_ms(),
                int(inactivity_seconds * 1000),
                dedupe_key or "",
                DEDUPE_TTL_S,
                *recipient_args(recipient, message.id),
                outbox or "",
                SEND_OUTBOX_MS,
            ],
        )
        return Filing.of(r)

    async def offer(
        self, tenant: str, session_id: str, epoch: int, offer_id: str, *, expires: datetime,
        preferred_agent: str | None,
    ) -> OfferResult:  # fmt: skip
        r = await self._run(
            "offer",
            [
                tenant_prefix(tenant), tenant, session_id, str(epoch), offer_id, now_ms(),
                epoch_ms(expires), preferred_agent or "",
            ],
        )  # fmt: skip
        if r[0] == "offered":
            return OfferResult(outcome="offered", agent=r[1], node=r[2])
        return OfferResult(outcome=str(r[0]))

    async def accept(self, tenant: str, session_id: str, agent: str, offer_id: str) -> str:
        r = await self._run(
            "accept", [tenant_prefix(tenant), tenant, session_id, agent, offer_id, now_ms()]
        )
        return str(r[0])

    async def release_offer(
        self, tenant: str, session_id: str, offer_id: str, *, agent: str | None, timed_out: bool
    ) -> ReleaseResult:
        r = await self._run(
            "release",
            [
                tenant_prefix(tenant), tenant, session_id, offer_id, agent or "",
                "1" if timed_out else "0", now_ms(), MISSED_OFFER, OUTBOX_DELAY_MS,
            ],
        )  # fmt: skip
        if r[0] != "requeued":
            return ReleaseResult(outcome=str(r[0]))
        return ReleaseResult(
            outcome="requeued",
            agent=r[1],
            epoch=int(r[2]),
            agent_node=_s(r[3]),
            agent_state=AgentState(r[4]),
            agent_reason=_s(r[5]),
            agent_load=int(r[6]),
            agent_capacity=int(r[7]),
            queue=_s(r[8]),
        )

    async def close_session(
        self, tenant: str, session_id: str, *, reason: str, reopen_window_seconds: float,
        only_agent: str | None = None, only_if_inactive: bool = False,
    ) -> CloseResult:  # fmt: skip
        r = await self._run(
            "close",
            [
                tenant_prefix(tenant), tenant, session_id, reason, now_ms(),
                int(reopen_window_seconds * 1000), only_agent or "",
                "1" if only_if_inactive else "0",
            ],
        )  # fmt: skip
        if r[0] != "closed":
            return CloseResult(outcome=str(r[0]), previous_state=_s(r[1]) if len(r) > 1 else None)
        return CloseResult(
            outcome="closed",
            previous_state=r[1],
            agent=_s(r[2]),
            agent_node=_s(r[3]),
            queue=_s(r[4]),
        )

    async def transfer(
        self, tenant: str, session_id: str, agent: str, *, queue: str, to_agent: str | None
    ) -> tuple[str, int, str | None]:
        r = await self._run(
            "transfer",
            [
                tenant_prefix(tenant), tenant, session_id, agent, queue, to_agent or "",
                now_ms(), OUTBOX_DELAY_MS,
            ],
        )  # fmt: skip
        if r[0] != "requeued":
            return str(r[0]), 0, None
        return "requeued", int(r[1]), _s(r[2])

    async def bot_handoff(self, tenant: str, session_id: str, *, queue: str) -> int | None:
        """with_bot -> queued in ``queue`` (waiting line, outbox timer); the new epoch, or None
        when the session is no longer with the bot."""
        r = await self._run(
            "bot_handoff",
            [tenant_prefix(tenant), tenant, session_id, queue, now_ms(), OUTBOX_DELAY_MS],
        )
        return int(r[1]) if r[0] == "queued" else None

    async def load_session(
        self, tenant: str, session_id: str, *, with_history: bool = True
    ) -> Session | None:
        p = tenant_prefix(tenant)
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.hgetall(p + "s:" + session_id)
                if with_history:
                    pipe.lrange(p + "h:" + session_id, 0, -1)
                    pipe.hgetall(p + "st:" + session_id)
                raw, *rest = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"cannot load session: {exc}") from exc
        if not raw:
            return None
        history = _history(session_id, rest[0], statuses=rest[1]) if with_history else ()
        return _session(tenant, raw, history)

    async def history(
        self, tenant: str, session_id: str, start: int = 1, stop: int | None = None
    ) -> tuple[Message, ...]:
        """Messages ``start`` to ``stop`` (inclusive; None: the last) of a session."""
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.lrange(p + "h:" + session_id, start - 1, -1 if stop is None else stop - 1)
            pipe.hgetall(p + "st:" + session_id)
            raw, statuses = await pipe.execute()
        return _history(session_id, raw, first_seq=start, statuses=statuses)

    async def search_sessions(
        self, tenant: str, query: SessionFilter, *, limit: int, offset: int
    ) -> tuple[tuple[Session, ...], int, bool]:
        """Sessions (without history) matching ``query``, newest first: (page, total,
        truncated); see ``router.store.transcripts``."""
        hits = await self.transcripts.search(tenant, query, limit=limit, offset=offset)
        return tuple(_session(tenant, raw, ()) for raw in hits.page), hits.total, hits.truncated

    async def current_session_id(self, tenant: str, stream: str, party: str) -> str | None:
        value = await self._r.get(f"{tenant_prefix(tenant)}ix:{stream}:{party}")
        return _s(value)

    # -- agents ---------------------------------------------------------------------------

    async def provision_agent(
        self, tenant: str, agent: str, *, name: str, capacity: int, queues: Sequence[str],
        skills: Sequence[str], role: str,
    ) -> None:  # fmt: skip
        """Create or update an agent's static data; live state and load are left alone."""
        p = tenant_prefix(tenant)
        ak = p + "a:" + agent
        dropped = set(str(await self._r.hget(ak, "queues") or "").split(",")) - {"", *queues}
        async with self._r.pipeline(transaction=True) as pipe:
            for queue in dropped:  # leave the ready lines of queues no longer served
                pipe.zrem(p + "r:" + queue, agent)
            pipe.hset(
                ak,
                mapping={
                    "name": name,
                    "capacity": capacity,
                    "queues": ",".join(queues),
                    "role": role,
                },
            )
            pipe.hsetnx(ak, "state", AgentState.LOGGED_OUT.value)
            pipe.hsetnx(ak, "load", 0)
            pipe.hsetnx(ak, "idle_since", 0)
            pipe.delete(p + "ask:" + agent)
            if skills:
                pipe.sadd(p + "ask:" + agent, *skills)
            await pipe.execute()
        await self._run("agent_state", [p, agent, "", "", now_ms()])

    async def set_queue_agents(self, tenant: str, queue: str, agents: Sequence[str]) -> None:
        key = tenant_prefix(tenant) + "qa:" + queue
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if agents:
                pipe.sadd(key, *agents)
            await pipe.execute()

    async def set_agent_state(
        self, tenant: str, agent: str, state: AgentState | None, reason: str | None = None
    ) -> AgentStateResult | None:
        r = await self._run(
            "agent_state",
            [tenant_prefix(tenant), agent, state.value if state else "", reason or "", now_ms()],
        )
        if r[0] != "ok":
            return None
        return AgentStateResult(
            state=AgentState(r[1]),
            reason=_s(r[2]),
            load=int(r[3]),
            capacity=int(r[4]),
            queues=tuple(q for q in str(r[5]).split(",") if q),
            previous=AgentState(r[6]),
        )

    async def agent_status(self, tenant: str, agent: str) -> AgentStatus | None:
        raw = {
            str(k): str(v)
            for k, v in (await self._r.hgetall(tenant_prefix(tenant) + "a:" + agent)).items()
        }
        if not raw:
            return None
        return AgentStatus(
            tenant=tenant,
            agent=agent,
            state=AgentState(raw.get("state", "logged_out")),
            reason=_s(raw.get("reason")),
            capacity=int(raw.get("capacity", 1)),
            load=int(raw.get("load", 0)),
            idle_since=_dt(raw.get("idle_since"))
            if raw.get("idle_since") not in ("0", None)
            else None,
        )

    async def agent_sessions(self, tenant: str, agent: str) -> list[str]:
        return sorted(str(m) for m in await self._r.smembers(tenant_prefix(tenant) + "as:" + agent))

    async def set_presence(self, tenant: str, agent: str, node: str, ttl_seconds: int) -> None:
        await self._r.set(tenant_prefix(tenant) + "on:" + agent, node, ex=ttl_seconds)

    async def refresh_presence(
        self, entries: Sequence[tuple[str, str]], node: str, ttl: int
    ) -> None:
        """Heartbeat for every (tenant, agent) connected to this node, one round trip."""
        if not entries:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for tenant, agent in entries:
                pipe.set(tenant_prefix(tenant) + "on:" + agent, node, ex=ttl)
            await pipe.execute()

    async def clear_presence(self, tenant: str, agent: str, node: str) -> None:
        key = tenant_prefix(tenant) + "on:" + agent
        if await self._r.get(key) == node:
            await self._r.delete(key)

    async def queue_stats(self, tenant: str, queue: str) -> QueueStats:
        r = await self._run("queue_stats", [tenant_prefix(tenant), queue, now_ms()])
        return QueueStats(
            tenant=tenant,
            queue=queue,
            queue_length=int(r[0]),
            longest_waiting_seconds=max(0.0, int(r[1]) / 1000),
            logged_on_agents=int(r[2]),
            ready_idle_agents=int(r[3]),
            not_ready_agents=int(r[4]),
            working_agents=int(r[5]),
            active_agents=int(r[6]),
        )

    # -- web chat presence --------------------------------------------------------------

    async def set_visitor_node(
        self, tenant: str, stream: str, party: str, node: str | None, ttl: int = 60
    ) -> None:
        key = f"{tenant_prefix(tenant)}wc:{stream}:{party}"
        if node is None:
            await self._r.delete(key)
        else:
            await self._r.set(key, node, ex=ttl)

    async def visitor_node(self, tenant: str, stream: str, party: str) -> str | None:
        return _s(await self._r.get(f"{tenant_prefix(tenant)}wc:{stream}:{party}"))

    # -- credentials and tokens -----------------------------------------------------------

    async def put_credential(self, tenant: str, username: str, cred: Credential) -> None:
        await self._r.set(tenant_prefix(tenant) + "cred:" + username, cred.model_dump_json())

    async def get_credential(self, tenant: str, username: str) -> Credential | None:
        raw = await self._r.get(tenant_prefix(tenant) + "cred:" + username)
        return Credential.model_validate_json(raw) if raw else None

    async def put_token(self, token_hash: str, principal_json: str, ttl_seconds: int) -> None:
        await self._r.set("sb:tok:" + token_hash, principal_json, ex=ttl_seconds)

    async def get_token(self, token_hash: str) -> str | None:
        return _s(await self._r.get("sb:tok:" + token_hash))

    async def delete_token(self, token_hash: str) -> None:
        await self._r.delete("sb:tok:" + token_hash)

    # -- timers and kicks -----------------------------------------------------------------

    async def claim_timers(self, *, lease_seconds: float = 30.0, limit: int = 200) -> list[Timer]:
        r = await self._run("claim_timers", [now_ms(), int(lease_seconds * 1000), limit])
        leased = float(r[0])
        timers = []
        for member in r[1]:
            parts = str(member).split("|")
            if len(parts) < 3:
                # Not ours (or corrupted): drop it rather than stall every pass behind it.
                await self._r.zrem(SCHED_KEY, member)
                continue
            kind, tenant, sid, *rest = parts
            timers.append(
                Timer(
                    member=member,
                    kind=kind,
                    tenant=tenant,
                    session_id=sid,
                    token=rest[0] if rest else None,
                    leased_score=leased,
                )
            )
        return timers

    async def complete_timer(self, timer: Timer) -> None:
        await self._run("complete_timer", [timer.member, timer.leased_score])

    async def cancel_timer(self, kind: str, tenant: str, session_id: str, token: str) -> None:
        await self._r.zrem(SCHED_KEY, f"{kind}|{tenant}|{session_id}|{token}")

    async def kick(self, tenant: str, queue: str) -> None:
        """Tell every process that agents may be free for ``queue`` (best effort)."""
        # A lost kick costs at most one tick: the periodic pass covers it.
        with contextlib.suppress(RedisError):
            await self._r.publish(KICK_CHANNEL, f"{tenant}|{queue}")

    async def kicks(self) -> AsyncIterator[tuple[str, str]]:
        pubsub = self._r.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(KICK_CHANNEL)
        try:
            async for item in pubsub.listen():
                tenant, _, queue = str(item["data"]).partition("|")
                yield tenant, queue
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


def _history_json(message: Message) -> str:
    return message.model_dump_json(exclude={"session_id", "seq"})


def _history(
    session_id: str,
    raw: Sequence[str],
    first_seq: int = 1,
    statuses: dict[str, str] | None = None,
) -> tuple[Message, ...]:
    out = []
    for seq, item in enumerate(raw, start=first_seq):
        update: dict[str, Any] = {"session_id": session_id, "seq": seq}
        status = (statuses or {}).get(str(seq))
        if status:
            value, _, reason = str(status).partition("|")
            update["status"] = MessageStatus(value)
            update["error"] = reason or None
        out.append(Message.model_validate_json(item).model_copy(update=update))
    return tuple(out)


def _session(tenant: str, raw: dict[str, str], history: tuple[Message, ...]) -> Session:
    offer = None
    if raw.get("offer_id"):
        offer = Offer(
            id=raw["offer_id"],
            agent=raw["offer_agent"],
            expires_at=_dt(raw["offer_expires"]) or datetime.now(UTC),
        )
    created = _dt(raw.get("created_at")) or datetime.now(UTC)
    return Session(
        id=raw["id"],
        tenant=tenant,
        stream=raw["stream"],
        channel=ChannelKind(raw["channel"]),
        account=raw["account"],
        remote_party=Party.model_validate_json(raw["party"]),
        state=SessionState(raw["state"]),
        queue=_s(raw.get("queue")),
        agent=_s(raw.get("agent")),
        last_agent=_s(raw.get("last_agent")),
        pinned_agent=_s(raw.get("pinned_agent")),
        priority=int(raw.get("priority") or 0),
        skills=tuple(s for s in raw.get("skills", "").split(",") if s),
        epoch=int(raw.get("epoch") or 0),
        offer=offer,
        created_at=created,
        updated_at=_dt(raw.get("updated_at")) or created,
        queued_at=_dt(raw.get("queued_at")),
        closed_at=_dt(raw.get("closed_at")),
        close_reason=_s(raw.get("close_reason")),
        timers=SessionTimers(
            inactivity_at=_dt(raw.get("inactivity_at")),
            reopen_until=_dt(raw.get("reopen_until")),
        ),
        history=history,
    )
