"""Private RabbitMQ and Redis servers for the chaos suite, which stops and restarts them.

The suite never touches the shared services: each module starts its own RabbitMQ node (own
node name, ports, data and log directories, an empty plugin list) and its own Redis server,
and tears them down at the end. RabbitMQ is controlled with ``rabbitmqctl -n <node>``
(``stop_app``/``start_app``); Redis is killed and started again on the same port. Redis keeps
an append-only file synced on every write, as a production Redis would: a restart loses
nothing that was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.distributed.cluster import free_port

START_TIMEOUT = 90.0


def _as_service_user(path: Path) -> None:
    """Let the RabbitMQ service account (the server script switches to it) use ``path``."""
    if os.geteuid() != 0:
        return
    with contextlib.suppress(KeyError, LookupError):
        shutil.chown(path, "rabbitmq", "rabbitmq")
        for child in path.rglob("*"):
            shutil.chown(child, "rabbitmq", "rabbitmq")
    path.chmod(0o755)


@dataclass
class PrivateRabbit:
    """A RabbitMQ node of its own: ``start``, ``stop_app``/``start_app``, ``stop``."""

    base: Path
    node: str = field(default_factory=lambda: f"sbchaos{os.getpid()}x{free_port()}@localhost")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_PID_FILE=str(self.base / "rabbitmq.pid"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
        )
        return env

    def ctl_args(self, *args: str) -> list[str]:
        return ["rabbitmqctl", "-q", "-n", self.node, *args]

    def ctl(self, *args: str) -> None:
        """Run ``rabbitmqctl`` on this node (blocking: only outside the event loop's work)."""
        subprocess.run(
            self.ctl_args(*args), check=True, capture_output=True, env=self._env(),
            timeout=START_TIMEOUT,
        )  # fmt: skip

    async def actl(self, *args: str) -> None:
        """Run ``rabbitmqctl`` on this node without blocking the event loop."""
        proc = await asyncio.create_subprocess_exec(
            *self.ctl_args(*args), env=self._env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), START_TIMEOUT)
        print(out.decode(), flush=True)
        if proc.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} failed: {out.decode()}")

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
        )  # fmt: skip
        (self.base / "enabled_plugins").write_text("[].\n")
        _as_service_user(self.base)
        subprocess.run(
            ["rabbitmq-server", "-detached"], check=True, env=self._env(), timeout=START_TIMEOUT
        )
        self.ctl("wait", "--timeout", str(int(START_TIMEOUT)), str(self.base / "rabbitmq.pid"))

    async def stop_app(self) -> None:
        await self.actl("stop_app")

    async def start_app(self) -> None:
        await self.actl("start_app")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.ctl("stop")


@dataclass
class PrivateRedis:
    """A Redis server of its own, restartable on the same port with its data."""

    base: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _args(self) -> list[str]:
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.base), "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--protected-mode", "no",
        ]  # fmt: skip

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.start_process()
        _wait_port(self.port)

    def start_process(self) -> None:
        self.proc = subprocess.Popen(
            self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def kill(self) -> None:
        """SIGKILL: the server goes away at once, as in a crash."""
        proc = self.proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)

    async def restart(self) -> None:
        """Start again on the same port (after ``kill``); returns once it accepts connections."""
        self.start_process()
        await asyncio.to_thread(_wait_port, self.port)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_port(port: int) -> None:
    """Block until something listens on ``port`` (redis-server starts in milliseconds)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on port {port}")
        time.sleep(0.01)


@contextlib.contextmanager
def private_services() -> Iterator[tuple[PrivateRabbit, PrivateRedis]]:
    """A RabbitMQ node and a Redis server of their own, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="sbchaos-"))
    base.chmod(0o755)
    rabbit, redis = PrivateRabbit(base / "rabbitmq"), PrivateRedis(base / "redis")
    try:
        rabbit.start()
        redis.start()
        yield rabbit, redis
    finally:
        redis.stop()
        rabbit.stop()
        shutil.rmtree(base, ignore_errors=True)
