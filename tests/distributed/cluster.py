"""Several real ``switchboard serve`` processes on real RabbitMQ and Redis.

Each test gets its own RabbitMQ virtual host and a flushed Redis database, so runs never see
each other's queues or keys. Processes announce readiness on stdout; tests wait for that line.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import yaml

from tests.clients import AgentClient, CustomerClient

PASSWORD = "correct horse battery"
READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def vhost_url(base_url: str, vhost: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + vhost, "", ""))


def cluster_config(agent_capacity: int = 5) -> dict[str, Any]:
    return {
        "tenants": [
            {
                "id": "acme",
                "queues": [{"id": "support", "offer_timeout_seconds": 5}],
                "agents": [
                    {
                        "id": "ann",
                        "username": "ann",
                        "password": PASSWORD,
                        "capacity": agent_capacity,
                        "queues": ["support"],
                    }
                ],
                "media_streams": [{"id": "web", "name": "Web", "queue": "support"}],
            }
        ]
    }


@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    config: Path
    proc: asyncio.subprocess.Process | None = None
    output: list[str] = field(default_factory=list)
    drainer: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router", "serve", "--config", str(self.config),
            "--host", "127.0.0.1", "--port", str(self.port),
            env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        await asyncio.wait_for(self._until_ready(), READY_TIMEOUT)

    async def _until_ready(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        while True:
            line = (await self.proc.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"{self.name} exited before ready:\n{''.join(self.output)}")
            self.output.append(line)
            if "switchboard: ready" in line:
                self.drainer = asyncio.create_task(self._drain())
                return

    async def _drain(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.output.append(raw.decode())

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        if self.drainer is not None:
            await self.drainer

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Cluster:
    def __init__(self, tmp: Path, rabbitmq_url: str, redis_url: str, vhost: str) -> None:
        self.tmp = tmp
        self.broker_url = vhost_url(rabbitmq_url, vhost)
        self.redis_url = redis_url
        self.nodes: dict[str, Node] = {}
        self.http = aiohttp.ClientSession()
        self._sockets: list[AgentClient | CustomerClient] = []

    def add(self, name: str, config: dict[str, Any]) -> Node:
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        env = dict(os.environ)
        env.update(
            SWITCHBOARD_BROKER_URL=self.broker_url,
            SWITCHBOARD_REDIS_URL=self.redis_url,
            SWITCHBOARD_NODE_ID=name,
            SWITCHBOARD_TICK_SECONDS="0.05",
            SWITCHBOARD_PARTITIONS="4",
            SWITCHBOARD_LOG_LEVEL="WARNING",
            # Bursts from one socket are what these tests are about, not the abuse limits.
            SWITCHBOARD_CHAT_WS_FRAMES_PER_SECOND="1000",
            PYTHONUNBUFFERED="1",
        )
        node = Node(name=name, port=free_port(), env=env, config=path)
        self.nodes[name] = node
        return node

    async def agent(self, node: Node, username: str, tenant: str = "acme") -> AgentClient:
        form = {"grant_type": "password", "username": username, "password": PASSWORD,
                "scope": tenant}  # fmt: skip
        async with self.http.post(node.url + "/oauth/token", data=form) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["access_token"]
        ws = await self.http.ws_connect(
            node.url + "/agent/ws", headers={"Authorization": f"Bearer {token}"}
        )
        client = AgentClient(ws)
        self._sockets.append(client)
        await client.expect("hello")
        await client.expect("state")
        return client

    async def customer(
        self, node: Node, visitor: str | None = None, stream: str = "web"
    ) -> CustomerClient:
        url = f"{node.url}/chat/acme/{stream}/ws" + (f"?visitor={visitor}" if visitor else "")
        client = CustomerClient(await self.http.ws_connect(url))
        self._sockets.append(client)
        await client.expect("welcome")
        return client

    async def close(self) -> None:
        for client in self._sockets:
            await client.close()
        await self.http.close()
        for node in self.nodes.values():
            await node.stop()
