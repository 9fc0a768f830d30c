"""Sessions by our number (account), held personal-inbox sessions, and atomic number writes.

``ingest.lua`` adds every new session to ``P sa:{account}``, so all sessions of one of our
numbers (or any integration account) are found without scanning. A personal-inbox session
is marked ``direct`` in its hash: it is assigned to its agent outside the agent's capacity,
or held in state ``new`` while the user has not accepted SMS on the number.
"""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from channels.cpaas import CpaasNumber
from router.errors import StoreError
from router.store.base import script_source, tenant_prefix
from router.store.cpaas import numbers_version_key
from router.store.named import StaleObject
from router.store.optimistic import Requirement, watched

# ARGV: 1 global number key, 2 tenant's number key, 3 tenant's number set, 4 tenant,
#       5 number, 6 number json, 7 the tenant's numbers' change counter. A number belongs to
#       one tenant, and is created once.
CREATE_NUMBER_SCRIPT = """
local holder = redis.call("GET", ARGV[1])
if holder and holder ~= ARGV[4] then return 0 end
if redis.call("EXISTS", ARGV[2]) == 1 then return 0 end
redis.call("SET", ARGV[1], ARGV[4])
redis.call("SET", ARGV[2], ARGV[6])
redis.call("SADD", ARGV[3], ARGV[5])
redis.call("INCR", ARGV[7])
return 1
"""


class InboxStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client
        self._assign = client.register_script(script_source("assign_held", lib=True))
        self._delete = client.register_script(script_source("delete_session", lib=True))
        self._create = client.register_script(CREATE_NUMBER_SCRIPT)

    async def session_ids(self, tenant: str, account: str) -> list[str]:
        """Every stored session of ``account`` (for SMS: our 10-digit number)."""
        members = await self._r.smembers(tenant_prefix(tenant) + "sa:" + account)
        return sorted(str(m) for m in members)

    async def agent_node(self, tenant: str, agent: str) -> str | None:
        """The process the agent is connected to, if any."""
        node = await self._r.get(tenant_prefix(tenant) + "on:" + agent)
        return None if node in (None, "") else str(node)

    async def assign_held(
        self, tenant: str, session_id: str, agent: str, *, now_ms: int, inactivity_seconds: float
    ) -> tuple[bool, str | None]:
        """Assign a held (``new``, direct) session to ``agent``: (assigned?, agent's node)."""
        args: list[str | int] = [
            tenant_prefix(tenant), tenant, session_id, agent, now_ms,
            int(inactivity_seconds * 1000),
        ]  # fmt: skip
        try:
            r = list(await self._assign(args=args))
        except RedisError as exc:
            raise StoreError(f"store script assign_held failed: {exc}") from exc
        if r[0] != "assigned":
            return False, None
        return True, (str(r[1]) or None)

    async def delete_session(self, tenant: str, session_id: str, account: str) -> str:
        """Delete a closed session with its history: ``deleted``, ``missing`` or ``open``."""
        try:
            r = list(await self._delete(args=[tenant_prefix(tenant), tenant, session_id, account]))
        except RedisError as exc:
            raise StoreError(f"store script delete_session failed: {exc}") from exc
        return str(r[0])

    async def create_number(
        self, number: CpaasNumber, *, requires: Requirement | None = None
    ) -> bool:
        """Store a new number; False when it exists already (in this or another tenant).
        ``requires``: checked in the same transaction (e.g. that the number's media stream is
        not deleted), which is made again when its keys changed meanwhile."""
        p = tenant_prefix(number.tenant)
        args = [
            "sb:num:" + number.number, p + "num:" + number.number, p + "nums", number.tenant,
            number.number, number.model_dump_json(), numbers_version_key(number.tenant),
        ]  # fmt: skip
        try:
            if requires is None:
                return bool(await self._create(args=args))

            async def attempt(pipe: Pipeline) -> bool:
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.eval(CREATE_NUMBER_SCRIPT, 0, *args)
                (created,) = await pipe.execute()
                return bool(created)

            return await watched(self._r, (), attempt, requires=requires)
        except RedisError as exc:
            raise StoreError(f"cannot create number: {exc}") from exc

    async def update_number(
        self, tenant: str, number: str, change: Callable[[CpaasNumber], CpaasNumber | None],
        *, expected: CpaasNumber | None = None, requires: Requirement | None = None,
    ) -> tuple[CpaasNumber, CpaasNumber] | None:  # fmt: skip
        """Read-modify-write one number atomically (optimistic, retried on conflict).

        ``change`` gets the stored number and returns the new one (``None``: leave it).
        Returns (before, after), or ``None`` when the number does not exist. With
        ``expected``, the change is made only while the stored number still equals it
        (compared and written in one transaction): else ``StaleObject``. ``requires`` is
        checked in the same transaction, before ``change`` is applied (e.g. that the media
        stream the number is pointed at is not deleted).
        """
        key = tenant_prefix(tenant) + "num:" + number

        async def attempt(pipe: Pipeline) -> tuple[CpaasNumber, CpaasNumber] | None:
            raw = await pipe.get(key)
            before = None if raw is None else CpaasNumber.model_validate_json(raw)
            if expected is not None and before != expected:
                raise StaleObject("the number changed since it was read")
            if before is None:
                return None
            after = change(before)
            if after is None or after == before:
                return before, before
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, after.model_dump_json())
            pipe.incr(numbers_version_key(tenant))
            await pipe.execute()
            return before, after

        return await watched(self._r, [key], attempt, requires=requires)
