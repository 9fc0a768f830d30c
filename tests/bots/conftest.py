from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


@pytest.fixture
async def start_fake(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> Callable[[web.Application], Awaitable[str]]:
    async def start(app: web.Application) -> str:
        server = await aiohttp_server(app)
        return str(server.make_url("")).rstrip("/")

    return start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
