"""Faults under a steady stream of signed Telegram webhooks and agent replies.

After each fault: every webhook answered 2xx reached an agent exactly once and in order per
session, every agent reply reached the provider exactly once or is dead-lettered / failed with
its reason, no conversation was assigned to two agents, and the processes carried on with no
restart by hand. See docs/operations.md.
"""

from __future__ import annotations

import pytest

from tests.chaos.conftest import Chaos
from tests.chaos.harness import until

pytestmark = [pytest.mark.chaos, pytest.mark.rabbitmq, pytest.mark.redis]

# How much traffic must flow before a fault, and after it to show recovery.
BEFORE, AFTER = 40, 60


async def test_sigkill_of_a_process_mid_stream(chaos: Chaos) -> None:
    traffic = await chaos.start(processes=3)
    await until(lambda: traffic.total() >= BEFORE, "traffic before the kill")
    victim = chaos.nodes[0]  # every partition's active consumer, and ann's process
    await victim.kill()
    mark = traffic.total()
    await until(lambda: traffic.total() >= mark + AFTER, "traffic after the kill")
    result = await chaos.finish()
    assert chaos.agents[0].reconnects >= 1, "ann's socket should have moved to a live process"
    assert result["replies"]


async def test_rabbitmq_stop_app_and_start_app_mid_stream(chaos: Chaos) -> None:
    traffic = await chaos.start(processes=2)
    await until(lambda: traffic.total() >= BEFORE, "traffic before the broker stops")
    await chaos.rabbit.stop_app()
    try:
        await until(lambda: traffic.statuses[503] >= 5, "webhooks answered 503 while it is down")
    finally:
        await chaos.rabbit.start_app()
    accepted_while_down = traffic.total()
    await until(lambda: traffic.total() >= accepted_while_down + AFTER, "traffic afterwards")
    await chaos.finish()


async def test_redis_restart_mid_stream(chaos: Chaos) -> None:
    traffic = await chaos.start(processes=2)
    await until(lambda: traffic.total() >= BEFORE, "traffic before Redis goes away")
    await chaos.redis.kill()
    answered = traffic.answered()
    try:
        # Webhooks are still answered: queued on the broker (200; filed once Redis is back)
        # or 503 (nothing promised, the provider retries); finish() checks every accepted one.
        await until(
            lambda: traffic.answered() >= answered + 5, "webhooks answered while Redis is down"
        )
    finally:
        await chaos.redis.restart()
    mark = traffic.total()
    await until(lambda: traffic.total() >= mark + AFTER, "traffic after the restart")
    await chaos.finish()


async def test_provider_500_then_recovers(chaos: Chaos) -> None:
    traffic = await chaos.start(processes=2)
    await until(lambda: len(chaos.fake.texts()) >= 3, "replies before the outage")
    chaos.fake.fake.fail_next(500, times=8)
    failures = len(chaos.fake.fake.requests) + 8
    await until(lambda: len(chaos.fake.fake.requests) >= failures, "the outage to be seen")
    sent = len(chaos.fake.texts())
    await until(lambda: len(chaos.fake.texts()) >= sent + 5, "replies after the outage")
    mark = traffic.total()
    await until(lambda: traffic.total() >= mark + 10, "traffic after the outage")
    result = await chaos.finish()
    assert not result["failed"], "a retried 500 must not fail the message"


async def test_provider_hangs(chaos: Chaos) -> None:
    traffic = await chaos.start(processes=2)
    await until(lambda: len(chaos.fake.texts()) >= 3, "replies before the hang")
    chaos.fake.fake.hang_next()
    # The fake records a request when it answers: the hanging one never is.
    await until(lambda: not chaos.fake.fake._failures, "a request to hang")
    sent = len(chaos.fake.texts())
    await until(lambda: len(chaos.fake.texts()) >= sent + 5, "other replies meanwhile")
    mark = traffic.total()
    await until(lambda: traffic.total() >= mark + 10, "traffic afterwards")
    await chaos.finish()
