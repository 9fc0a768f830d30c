"""Shared pytest configuration: URLs of the real backing services, opt-in per marker."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from router.store.memory import MemoryRedis

# marker -> (command-line option, environment variable with its default)
_SERVICES = {
    "rabbitmq": ("--rabbitmq-url", "SWITCHBOARD_TEST_RABBITMQ_URL"),
    "redis": ("--redis-url", "SWITCHBOARD_TEST_REDIS_URL"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--rabbitmq-url`` / ``--redis-url``: run the tests that need that service."""
    group = parser.getgroup("switchboard", "Switchboard backing services")
    for marker, (option, env_var) in _SERVICES.items():
        group.addoption(
            option,
            default=os.environ.get(env_var) or None,
            help=f"URL of a real {marker} for tests marked '{marker}' (default: ${env_var})",
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``rabbitmq`` / ``redis`` unless that service's URL was given."""
    for marker, (option, env_var) in _SERVICES.items():
        if config.getoption(option):
            continue
        skip = pytest.mark.skip(reason=f"needs {option} (or ${env_var})")
        for item in items:
            if item.get_closest_marker(marker) is not None:
                item.add_marker(skip)


def _service_url(request: pytest.FixtureRequest, marker: str) -> str:
    option, env_var = _SERVICES[marker]
    url: str | None = request.config.getoption(option)
    if not url:
        pytest.skip(f"needs {option} (or ${env_var})")
    return url


@pytest.fixture
def rabbitmq_url(request: pytest.FixtureRequest) -> str:
    """URL of the real RabbitMQ given with ``--rabbitmq-url`` (skips the test otherwise)."""
    return _service_url(request, "rabbitmq")


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """URL of the real Redis given with ``--redis-url`` (skips the test otherwise)."""
    return _service_url(request, "redis")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def redis_client(request: pytest.FixtureRequest) -> AsyncIterator[aioredis.Redis]:
    """A Redis client, once on the in-process store and once on the real Redis of
    ``--redis-url`` (its database flushed first)."""
    if request.param == "memory":
        client: aioredis.Redis = MemoryRedis()
    else:
        url = request.getfixturevalue("redis_url")
        client = aioredis.Redis.from_url(url, decode_responses=True)
        await client.flushdb()
    yield client
    await client.aclose()
