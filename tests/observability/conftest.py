"""An in-process Switchboard (in-process store, in-memory broker) built from the ``settings``
fixture, with the channel suites' agent and admin fixtures."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from router.settings import Settings
from tests.channels.conftest import admin, agent, create_account, runtime, start_fake
from tests.observability.harness import AiohttpClient, make_client

__all__ = ["admin", "agent", "create_account", "runtime", "start_fake"]


@pytest.fixture
def settings() -> Settings:
    return Settings(tick_seconds=0.02, partitions=2)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings) -> TestClient[Any, Any]:
    return await make_client(aiohttp_client, settings)
