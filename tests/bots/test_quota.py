"""The hard daily cap, the circuit breaker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from bots.accounts import BOT_ACCOUNT
from bots.base import BotTurn
from bots.breaker import BreakerEngine, BreakerState, CircuitBreaker
from bots.errors import BotQuotaExceeded, BotUnavailable
from bots.quota import BotQuota, QuotaLimitedEngine
from bots.registry import build_engine
from router.store.memory import MemoryRedis
from tests.fakes import lex as fake_lex


class Now:
    def __init__(self, value: datetime) -> None:
        self.value = value

    def __call__(self) -> datetime:
        return self.value


async def test_burst_never_exceeds_the_cap(
    start_fake: Callable[[web.Application], Awaitable[str]], http: aiohttp.ClientSession
) -> None:
    fake = fake_lex.FakeLex(access_key="AK", secret_key="sk")
    account = BOT_ACCOUNT.validate_python(
        dict(
            type="lex",
            id="lex1",
            tenant="t1",
            name="Lex",
            bot_id="BOT1234567",
            bot_alias_id="TSTALIASID",
            region="us-east-1",
            access_key="AK",
            secret_key="sk",
            max_api_calls_per_day=37,
            endpoint_url=await start_fake(fake.app),
        )
    )
    quota = BotQuota(MemoryRedis())
    engine = QuotaLimitedEngine(build_engine(account, http), quota, account, "Europe/Paris")
    results = await asyncio.gather(
        *(engine.converse(BotTurn(conversation_id=f"c{i}", text="hi")) for i in range(200)),
        return_exceptions=True,
    )
    assert {type(r).__name__ for r in results} == {"BotReply", "BotQuotaExceeded"}
    assert sum(isinstance(r, BotQuotaExceeded) for r in results) == 163
    assert len(fake.calls("/text")) == 37
    assert await quota.remaining(account, "Europe/Paris") == 0


async def test_count_resets_at_tenant_midnight() -> None:
    account = BOT_ACCOUNT.validate_python(
        dict(
            type="watson_legacy",
            id="w",
            tenant="t1",
            name="W",
            url="https://w.example/api",
            skill_id="s",
            username="u",
            password="p",
            max_api_calls_per_day=2,
        )
    )
    now = Now(datetime(2026, 1, 10, 4, 59, tzinfo=UTC))  # 23:59 in New York
    client = MemoryRedis()
    quota = BotQuota(client, clock=now)
    tz = "America/New_York"
    assert quota.key(account, tz) == "sb:t1:botq:w:2026-01-09"
    assert [await quota.take(account, tz) for _ in range(3)] == [True, True, False]
    assert await quota.remaining(account, tz) == 0
    assert await quota.remaining(account, "UTC") == 2  # another day in UTC
    now.value = datetime(2026, 1, 10, 5, 0, tzinfo=UTC)  # midnight in New York
    assert await quota.remaining(account, tz) == 2
    assert await quota.take(account, tz)
    assert 0 < await client.ttl("sb:t1:botq:w:2026-01-10") <= 2 * 24 * 3600


async def test_zero_cap_never_calls() -> None:
    account = BOT_ACCOUNT.validate_python(
        dict(
            type="watson_legacy",
            id="w",
            name="W",
            url="https://w.example/api",
            skill_id="s",
            username="u",
            password="p",
            max_api_calls_per_day=0,
        )
    )
    quota = BotQuota(MemoryRedis())
    assert not await quota.take(account)


class _Failing:
    kind = "lex"

    def __init__(self) -> None:
        self.calls = 0
        self.fail = True

    async def converse(self, turn: BotTurn) -> object:
        self.calls += 1
        if self.fail:
            raise BotUnavailable("down")
        return "ok"


async def test_circuit_breaker_opens_and_half_opens() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=lambda: clock[0])
    inner = _Failing()
    engine = BreakerEngine(inner, breaker)  # type: ignore[arg-type]
    turn = BotTurn(conversation_id="c", text="hi")
    for _ in range(3):
        with pytest.raises(BotUnavailable, match="down"):
            await engine.converse(turn)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BotUnavailable, match="circuit breaker open"):
        await engine.converse(turn)
    assert inner.calls == 3
    clock[0] = 10
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(BotUnavailable, match="down"):  # the probe fails: open again
        await engine.converse(turn)
    assert breaker.state is BreakerState.OPEN
    clock[0] = 20
    inner.fail = False
    assert await engine.converse(turn) == "ok"
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.redis
async def test_cap_across_two_processes(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    cmd = [sys.executable, "-m", "tests.bots.quota_worker", redis_url, "300", "250"]
    procs = [await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE) for _ in range(2)]
    outputs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    granted = [int(out.decode()) for out, _ in outputs]
    assert sum(granted) == 250
