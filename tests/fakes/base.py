"""Base of the in-process fake provider servers.

A fake is an aiohttp app the code under test reaches through the account's ``api_base_url``.
Each provider's fake checks authentication exactly as the provider does (and answers like it
on failure), validates request bodies, records every request, and can be told to fail:
``fail_next(401 | 429 | 500, retry_after=…)`` or ``hang_next()`` (never answers until closed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Failure:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeProvider:
    def __init__(self) -> None:
        self.app = web.Application(middlewares=[self._middleware])
        self.requests: list[Recorded] = []
        self._failures: list[Failure | None] = []  # None = hang
        self._hang = asyncio.Event()  # never set: a hanging request waits forever
        self.received = asyncio.Condition()

    def fail_next(
        self, status: int, *, times: int = 1, retry_after: float | None = None, body: Any = None
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._failures += [Failure(status, body if body is not None else self.error_body(status),
                                   headers)] * times  # fmt: skip

    def hang_next(self, times: int = 1) -> None:
        self._failures += [None] * times

    def error_body(self, status: int) -> Any:
        """The provider's own error body for ``status`` (overridden per provider)."""
        return {"error": f"HTTP {status}"}

    def calls(self, path_suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    async def wait_for(self, path_suffix: str, count: int = 1) -> list[Recorded]:
        async with self.received:
            await asyncio.wait_for(
                self.received.wait_for(lambda: len(self.calls(path_suffix)) >= count), 10.0
            )
        return self.calls(path_suffix)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        recorded = Recorded(
            request.method, request.path, dict(request.query), dict(request.headers), body
        )
        try:
            if self._failures:
                failure = self._failures.pop(0)
                if failure is None:
                    await self._hang.wait()
                    raise AssertionError("unreachable")
                return web.json_response(
                    failure.body, status=failure.status, headers=failure.headers
                )
            return await handler(request)
        finally:
            async with self.received:
                self.requests.append(recorded)
                self.received.notify_all()
