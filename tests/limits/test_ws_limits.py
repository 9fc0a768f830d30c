"""WebSocket limits: frame size (close 1009), frame rate (error frames, then close 1008),
and slow readers (closed 1013 instead of holding everyone's frames)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import WSCloseCode
from aiohttp.test_utils import TestClient

from router import agent_ws, delivery, webchat
from router.delivery import LocalSockets
from router.limits import FrameRate
from router.metrics import Metrics
from router.runtime import Runtime
from router.settings import Settings
from tests.clients import AgentClient, CustomerClient, eventually
from tests.observability.harness import rejected

Client = TestClient[Any, Any]


@pytest.fixture
def settings() -> Settings:
    return Settings(tick_seconds=0.02, partitions=2, chat_ws_frames_per_second=1,
                    agent_ws_frames_per_second=1)  # fmt: skip


async def counted(runtime: Runtime, route: str, limit: str) -> None:
    """The server counts once its read loop saw the error (after the client saw the close)."""

    async def seen() -> bool:
        return rejected(runtime, route, limit) == 1

    await eventually(seen, f"{route} {limit} counted")


async def customer(client: Client) -> CustomerClient:
    c = CustomerClient(await client.ws_connect("/chat/acme/chat/ws"))
    await c.expect("welcome")
    return c


async def test_an_oversized_chat_frame_closes_the_socket_1009(
    client: Client, runtime: Runtime
) -> None:
    c = await customer(client)
    await c.send_raw("x" * (webchat.MAX_FRAME + 1))
    assert await c.wait_closed() == WSCloseCode.MESSAGE_TOO_BIG
    await counted(runtime, "webchat_ws", "ws_size")


async def test_an_oversized_agent_frame_closes_the_socket_1009(
    agent: AgentClient, runtime: Runtime
) -> None:
    await agent.send_raw("x" * (agent_ws.MAX_FRAME + 1))
    assert await agent.wait_closed() == WSCloseCode.MESSAGE_TOO_BIG
    await counted(runtime, "agent_ws", "ws_size")


async def test_a_chat_flood_gets_error_frames_then_is_closed_1008(
    client: Client, runtime: Runtime
) -> None:
    c = await customer(client)
    await c.say("first")  # within the burst (2 at 1 frame/s)
    await c.say("second")
    error = await c.expect_error({"type": "message", "id": "m3", "text": "third"})
    assert error["code"] == "rate_limited"
    assert not [f for f in c.of("ack") if f["id"] == "m3"]
    for i in range(10):  # keeps going although told to slow down
        if c.ws.closed:
            break
        await c.send({"type": "message", "id": f"f{i}", "text": "flood"})
    assert await c.wait_closed() == WSCloseCode.POLICY_VIOLATION
    assert rejected(runtime, "webchat_ws", "ws_rate") >= 3


async def test_an_agent_flood_gets_error_frames(agent: AgentClient, runtime: Runtime) -> None:
    await agent.set_state("not_ready")  # the burst's second frame (the fixture's "ready" first)
    error = await agent.expect_error({"type": "set_state", "state": "ready"})
    assert error["code"] == "rate_limited"
    assert rejected(runtime, "agent_ws", "ws_rate") == 1


def test_the_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    rate = FrameRate(2, clock=lambda: now[0])
    assert [rate.allow() for _ in range(5)] == [True] * 4 + [False]
    now[0] += 0.5  # one frame's worth
    assert rate.allow()
    assert not rate.allow()
    assert not rate.abusive
    for _ in range(5):
        rate.allow()
    assert rate.abusive


class StuckSocket:
    """A socket whose client never reads: sending never completes."""

    closed = False

    def __init__(self) -> None:
        self.close_code: int | None = None

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()

    async def close(self, *, code: int, message: bytes) -> bool:
        self.close_code, self.closed = code, True
        return True


async def test_a_socket_that_does_not_read_is_dropped_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery, "SEND_TIMEOUT", 0.01)
    sockets = LocalSockets()
    sockets.metrics = Metrics()
    stuck = StuckSocket()
    ws: Any = stuck
    assert await sockets.send({ws}, "{}") == 0
    assert stuck.close_code == WSCloseCode.TRY_AGAIN_LATER
    assert sockets.metrics.buffer_drops.labels("socket")._value.get() == 1
