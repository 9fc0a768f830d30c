"""The ``cluster`` fixture: processes on their own RabbitMQ virtual host and a flushed Redis
database, stopped and removed after the test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.distributed.cluster import Cluster, rabbitmqctl


@pytest.fixture
async def cluster(tmp_path: Path, rabbitmq_url: str, redis_url: str) -> AsyncIterator[Cluster]:
    vhost = f"sbtest-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    c = Cluster(tmp_path, rabbitmq_url, redis_url, vhost)
    try:
        yield c
    finally:
        await c.close()
        rabbitmqctl("delete_vhost", vhost)
