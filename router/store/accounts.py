"""Integration accounts in the store, shared by every process (see ``router.store.named``)."""

from __future__ import annotations

import redis.asyncio as aioredis

from channels.accounts import IntegrationAccount, dump_account, load_account
from router.store.named import NamedObjects


class AccountStore(NamedObjects[IntegrationAccount]):
    def __init__(self, client: aioredis.Redis) -> None:
        super().__init__(
            client,
            what="an account",
            keys=("sb:acct:", "acct:", "accts", "acctname:"),
            dump=dump_account,
            load=load_account,
        )
