"""Test clients speaking the agent and customer WebSocket protocols, waiting on frames
(never on time)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

Frame = dict[str, Any]
TIMEOUT = 10.0
# How often ``eventually`` re-checks a condition it cannot be notified of (store state).
POLL = 0.005


class SocketClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.frames.append(json.loads(msg.data))
                    self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def send(self, frame: Frame) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def expect(
        self, kind: str, where: Callable[[Frame], bool] = lambda f: True, *, after: int = 0
    ) -> Frame:
        """The first frame of ``kind`` (from index ``after``) matching ``where``."""

        def find() -> Frame | None:
            for frame in self.frames[after:]:
                if frame.get("type") == kind and where(frame):
                    return frame
            return None

        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: find() is not None or self.ws.closed), TIMEOUT
            )
        found = find()
        assert found is not None, f"socket closed before a {kind} frame: {self.frames}"
        return found

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, re-checking on every frame received."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: condition() or self.ws.closed), TIMEOUT * 3
            )
        assert condition(), f"socket closed first; frames: {self.frames[-5:]}"

    def of(self, kind: str) -> list[Frame]:
        return [f for f in self.frames if f.get("type") == kind]

    async def wait(self, predicate: Callable[[], bool], what: str = "a condition") -> None:
        """Wait until ``predicate()`` holds; it is re-checked whenever a frame arrives."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: predicate() or self.ws.closed), TIMEOUT
            )
        assert predicate(), f"socket closed before {what}: {self.frames}"

    async def wait_closed(self) -> int | None:
        """Wait until the server has closed the socket; its close code."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.ws.closed), TIMEOUT)
        return self.ws.close_code

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame exactly as given (text, or binary for bytes)."""
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def expect_error(self, data: Frame | str | bytes) -> Frame:
        """Send one frame (a dict as JSON, else raw) and wait for the ``error`` it causes."""
        mark = len(self.frames)
        if isinstance(data, dict):
            await self.send(data)
        else:
            await self.send_raw(data)
        return await self.expect("error", after=mark)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class AgentClient(SocketClient):
    async def set_state(self, state: str, reason: str | None = None) -> Frame:
        mark = len(self.frames)
        await self.send({"type": "set_state", "state": state, "reason": reason})
        return await self.expect("state", lambda f: f["state"] == state, after=mark)

    async def accept(self, offer: Frame) -> Frame:
        mark = len(self.frames)
        await self.send(
            {"type": "accept", "session_id": offer["session_id"], "offer_id": offer["offer_id"]}
        )
        return await self.expect(
            "assigned", lambda f: f["session"]["id"] == offer["session_id"], after=mark
        )

    async def reply(self, session_id: str, text: str) -> Frame:
        client_id = uuid.uuid4().hex
        await self.send(
            {"type": "send", "session_id": session_id, "text": text, "client_id": client_id}
        )
        return await self.expect("message", lambda f: f["message"].get("client_id") == client_id)

    def inbound(self, session_id: str) -> list[Frame]:
        """Customer messages of a session as the agent saw them, deduplicated by seq, in order."""
        by_seq: dict[int, Frame] = {}
        for f in self.frames:
            if f.get("type") == "assigned" and f["session"]["id"] == session_id:
                msgs = f["history"]
            elif f.get("type") == "message" and f["session_id"] == session_id:
                msgs = [f["message"]]
            else:
                continue
            for m in msgs:
                if m["direction"] == "inbound":
                    by_seq[m["seq"]] = m
        return [by_seq[s] for s in sorted(by_seq)]

    def texts(self, session_id: str) -> list[str]:
        """Customer texts of a session as the agent saw them, deduplicated by seq, in order."""
        return [m["text"] for m in self.inbound(session_id)]


class CustomerClient(SocketClient):
    async def say(self, text: str, *, msg_id: str | None = None, name: str | None = None) -> Frame:
        msg_id = msg_id or uuid.uuid4().hex
        frame: Frame = {"type": "message", "id": msg_id, "text": text}
        if name:
            frame["name"] = name
        mark = len(self.frames)
        await self.send(frame)
        return await self.expect("ack", lambda f: f["id"] == msg_id, after=mark)

    @property
    def welcome(self) -> Frame:
        return self.of("welcome")[0]

    @property
    def visitor_token(self) -> str:
        """The signed visitor token the server handed out in ``welcome``."""
        return str(self.welcome["visitor"])

    @property
    def visitor_id(self) -> str:
        return self.visitor_token.split(".", 1)[0]

    async def expect_text(self, text: str) -> Frame:
        return await self.expect("message", lambda f: f["message"]["text"] == text)


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, deadline: float = TIMEOUT
) -> None:
    """Re-check ``condition`` until it holds (for state that sends no frame, like the store).

    ``deadline`` (seconds) only bounds a failure; nothing waits for a fixed time.
    """

    async def poll() -> None:
        # The store has no change notification to wait on, so this re-checks.
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(POLL)

    try:
        await asyncio.wait_for(poll(), deadline)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def first_offer(*agents: AgentClient, after: int = 0) -> tuple[AgentClient, Frame]:
    """Whichever agent gets an offer first, and the offer."""
    waits = {asyncio.create_task(a.expect("offer", after=after)): a for a in agents}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    task = done.pop()
    return waits[task], task.result()
