"""Bot accounts and per-conversation bot state in the store, shared by every process.

``sb:bot:{id}`` maps a bot account id to its tenant; ``P bot_acct:{id}`` holds the account
with its secrets; ``P bot_accts`` lists a tenant's ids; ``P bot_acctname:{name}`` keeps names
unique within a tenant. ``P bot:{sid}`` is the engine state of one conversation (Watson
context, Lex session state) as JSON, kept for a while after the last turn.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from bots.accounts import BotAccount, dump_bot_account, load_bot_account
from router.store.base import tenant_prefix
from router.store.named import NamedObjects

# Dialog state outlives a pause in the conversation, not the conversation's history.
STATE_TTL_S = 24 * 3600


class BotStore(NamedObjects[BotAccount]):
    def __init__(self, client: aioredis.Redis) -> None:
        super().__init__(
            client,
            what="a bot account",
            keys=("sb:bot:", "bot_acct:", "bot_accts", "bot_acctname:"),
            dump=dump_bot_account,
            load=load_bot_account,
        )

    # -- per-conversation dialog state ----------------------------------------------------

    async def state(self, tenant: str, session_id: str) -> dict[str, Any] | None:
        raw = await self._r.get(f"{tenant_prefix(tenant)}bot:{session_id}")
        if not raw:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    async def set_state(self, tenant: str, session_id: str, state: dict[str, Any] | None) -> None:
        key = f"{tenant_prefix(tenant)}bot:{session_id}"
        if state is None:
            await self._r.delete(key)
        else:
            await self._r.set(key, json.dumps(state, separators=(",", ":")), ex=STATE_TTL_S)
