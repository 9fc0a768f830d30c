"""``python -m tests.bots.quota_worker URL ATTEMPTS MAX``: hammer one bot account's daily cap
and print how many calls were granted (the two-process cap test)."""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from bots.accounts import BOT_ACCOUNT
from bots.quota import BotQuota


async def main(url: str, attempts: int, cap: int) -> int:
    account = BOT_ACCOUNT.validate_python(
        dict(
            type="watson_legacy",
            id="shared",
            name="Shared",
            url="https://w.example/api",
            skill_id="s",
            username="u",
            password="p",
            max_api_calls_per_day=cap,
        )
    )
    client = aioredis.Redis.from_url(url, decode_responses=True)
    quota = BotQuota(client)
    gate = asyncio.Semaphore(16)  # concurrent, within the client's connection pool

    async def attempt() -> bool:
        async with gate:
            return await quota.take(account, "America/New_York")

    granted = await asyncio.gather(*(attempt() for _ in range(attempts)))
    await client.aclose()
    return sum(granted)


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
