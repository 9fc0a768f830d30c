"""Benchmark orchestrator: Switchboard in embedded and production mode against the bare stack.

    python -m bench.run                       # every mode, defaults below
    python -m bench.run --modes embedded,bare --duration 10

For each mode it starts the server process(es), runs ``bench/load.py`` as a separate load
process, reads the server processes' CPU time around the throughput phase (CPU per
delivered message) and their resident memory around the open-sessions phase, and prints a
Markdown table with each mode's throughput as a ratio of the bare stack's. Mode ``null``
(``bench/null.py``, a server that answers 200 and does nothing) comes first: its
delivered/s are webhooks answered, the load process' own ceiling on the machine.
Production modes use a fresh RabbitMQ virtual host and a flushed Redis database
(``--redis-db``), so run it on a machine where that database holds nothing you need. Raw
results go to ``--json``. ``--profile DIR`` samples each server process with py-spy over the
throughput phase only (``DIR/<mode>-<n>.txt``, collapsed stacks; ``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as redis
import yaml

from bench.load import (
    APP_SECRET,
    PAGE_ID,
    PAGE_TOKEN,
    PASSWORD,
    TENANT,
    add_shape_options,
    shape_argv,
)

ROOT = Path(__file__).resolve().parent.parent
VHOST = "switchboard-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bench_config(agents: int, graph_port: int) -> dict[str, Any]:
    return {
        "tenants": [
            {
                "id": TENANT,
                "queues": [{"id": "support", "offer_timeout_seconds": 120}],
                "agents": [
                    {
                        "id": f"agent{i}",
                        "username": f"agent{i}",
                        "password": PASSWORD,
                        "capacity": 100,
                        "queues": ["support"],
                    }
                    for i in range(agents)
                ],
                "media_streams": [
                    {
                        "id": "messenger",
                        "media": "facebook",
                        "account": "fb",
                        "queue": "support",
                        "inactivity_timeout_seconds": 3600,
                    }
                ],
                "integration_accounts": [
                    {
                        "type": "facebook",
                        "id": "fb",
                        "name": "Bench",
                        "stream": "messenger",
                        "page_username": "bench",
                        "page_id": PAGE_ID,
                        "page_access_token": PAGE_TOKEN,
                        "app_secret": APP_SECRET,
                        "verify_token": "bench-verify-token",
                        "api_base_url": f"http://127.0.0.1:{graph_port}",
                    }
                ],
            }
        ]
    }


def usage(pids: list[int]) -> dict[str, float]:
    """What the processes have used so far, summed: CPU seconds (user plus system), read-
    and write-family system calls, context switches (voluntary and not), resident KiB."""
    total = dict.fromkeys(("cpu", "syscalls", "switches", "rss_kib"), 0.0)
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total["cpu"] += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        total["syscalls"] += int(io["syscr"]) + int(io["syscw"])
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        total["switches"] += int(status["voluntary_ctxt_switches"])
        total["switches"] += int(status["nonvoluntary_ctxt_switches"])
        total["rss_kib"] += int(status.get("VmRSS", "0 kB").split()[0])
    return total


def service_pids(names: str = "beam.smp|redis-server") -> list[int]:
    """RabbitMQ's and Redis' processes on this machine (their CPU is part of each path)."""
    found = subprocess.run(["pgrep", "-x", names], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


class Server:
    """A server process listening on a free loopback port (``--port``)."""

    def __init__(self, argv: list[str], ready: str, env: dict[str, str] | None = None) -> None:
        """``ready`` is the output line's part saying it listens; ``env`` defaults to ours."""
        self.port = free_port()
        self.argv = [*argv, "--port", str(self.port)]
        self.env, self.ready = env, ready
        self.proc: asyncio.subprocess.Process | None = None
        self.drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, env=self.env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        seen: list[str] = []
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode()
            if not line:
                raise SystemExit("server exited before ready:\n" + "".join(seen))
            seen.append(line)
            if self.ready in line:
                break
        self.drain = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async for _ in self.proc.stdout:
            pass

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.drain is not None:
            self.drain.cancel()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=False, capture_output=True, timeout=60)


async def flush_db(url: str) -> None:
    client = redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def redis_memory(url: str) -> int:
    client = redis.from_url(url)
    try:
        info = await client.info("memory")
        return int(info["used_memory"])
    finally:
        await client.aclose()


def summarize(
    result: dict[str, Any], readings: dict[str, dict[str, float]], open_sessions: int
) -> None:
    """Add the per-message and per-session figures of the phases' ``readings`` to ``result``:
    the throughput phase's (saturated) unsuffixed, the latency phase's (half load)
    ``_at_half_load``."""
    for phase, suffix in (("throughput", ""), ("latency", "_at_half_load")):
        delivered = result.get(phase, {}).get("delivered")
        if delivered and f"{phase}_end" in readings:
            start, end = readings[f"{phase}_start"], readings[f"{phase}_end"]
            for key, value in per_message(start, end, delivered).items():
                result[f"{key}{suffix}"] = value
    if "memory_after" in readings:
        before, after = readings["memory_before"], readings["memory_after"]
        per = 10_000 / max(open_sessions, 1)
        rss = after["rss_kib"] - before["rss_kib"]
        result["memory_per_10k_sessions_mib"] = round(rss * per / 1024, 1)
        if "redis_bytes" in after:  # production mode
            red = after["redis_bytes"] - before["redis_bytes"]
            result["redis_per_10k_sessions_mib"] = round(red * per / 2**20, 1)


def per_message(start: dict[str, float], end: dict[str, float], delivered: int) -> dict[str, Any]:
    """What the processes used between two readings, per message delivered."""

    def each(key: str) -> float:
        return (end[key] - start[key]) / delivered

    # CPU time rather than wall time: it moves less than messages/s with what else the
    # machine runs (on a shared virtual machine, a lot).
    return {
        "server_cpu_us_per_message": round(each("cpu") * 1e6),
        "services_cpu_us_per_message": round(each("services_cpu") * 1e6),
        "rabbitmq_cpu_us_per_message": round(each("rabbitmq_cpu") * 1e6),
        "server_syscalls_per_message": round(each("syscalls"), 1),
        "server_switches_per_message": round(each("switches"), 2),
    }


async def run_load(
    args: argparse.Namespace, targets: list[str], options: list[str], pids: list[int],
    redis_url: str | None,
) -> dict[str, Any]:  # fmt: skip
    """One load process against ``targets``, reading the processes' use at its phases."""
    argv = [sys.executable, "-m", "bench.load", *shape_argv(args), *options]
    for target in targets:
        argv += ["--target", target]
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    # What the servers (and RabbitMQ and Redis) had used when the load reached each phase.
    readings: dict[str, dict[str, float]] = {}
    profilers: list[asyncio.subprocess.Process] = []
    result: dict[str, Any] = {}
    async for raw in proc.stdout:
        msg = json.loads(raw)
        if "phase" in msg:
            reading = usage(pids)
            reading["services_cpu"] = usage(service_pids())["cpu"]
            reading["rabbitmq_cpu"] = usage(service_pids("beam.smp"))["cpu"]
            if redis_url:
                reading["redis_bytes"] = await redis_memory(redis_url)
            readings[msg["phase"]] = reading
            if msg["phase"] == "throughput_start" and args.profile:
                profilers = await start_profilers(args, pids)
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        elif "result" in msg:
            result = msg["result"]
    for profiler in profilers:
        await profiler.wait()
    if await proc.wait() != 0:
        raise SystemExit("load process failed")
    summarize(result, readings, args.open_sessions)
    return result


async def start_profilers(
    args: argparse.Namespace, pids: list[int]
) -> list[asyncio.subprocess.Process]:
    """py-spy on each server process for the throughput phase's duration."""
    args.profile.mkdir(parents=True, exist_ok=True)
    beside = Path(sys.executable).parent / "py-spy"  # installed in the same environment
    spy = str(beside) if beside.exists() else "py-spy"
    out = []
    for n, pid in enumerate(pids):
        path = args.profile / f"{args.current_mode}-{n}.txt"
        argv = [spy, "record", "--rate", "200", "--format", "raw", "--nonblocking",
                "--duration", str(round(args.duration)), "--pid", str(pid),
                "--output", str(path)]  # fmt: skip
        out.append(
            await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
        )
    return out


async def drive(
    args: argparse.Namespace, servers: list[Server], options: list[str],
    redis_url: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Start the servers, run one load process against them with ``options``, stop them."""
    try:
        for server in servers:
            await server.start()
        pids = [s.proc.pid for s in servers if s.proc is not None]
        return await run_load(args, [s.url for s in servers], options, pids, redis_url)
    finally:
        for server in servers:
            await server.stop()


async def switchboard(args: argparse.Namespace, processes: int) -> dict[str, Any]:
    graph_port = free_port()
    # The inbound rate limits stay on (their Redis call is part of the path) but far above
    # the load; the load's agents accept offers faster than a person clicks.
    env = dict(
        os.environ,
        SWITCHBOARD_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        SWITCHBOARD_TENANT_MESSAGES_PER_WINDOW="100000000",
        SWITCHBOARD_PARTY_MESSAGES_PER_WINDOW="100000000",
        SWITCHBOARD_AGENT_WS_FRAMES_PER_SECOND="100000",
        # Production with two processes: the partitions are spread over both within seconds,
        # while the setup phase runs, so the measured phases see the steady state.
        SWITCHBOARD_PARTITION_BALANCE_SECONDS="1",
    )
    redis_url: str | None = None
    if processes:
        rabbitmqctl("delete_vhost", VHOST)
        rabbitmqctl("add_vhost", VHOST)
        rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
        redis_url = f"{args.redis}/{args.redis_db}"
        await flush_db(redis_url)
        env.update(SWITCHBOARD_BROKER_URL=f"{args.amqp.rstrip('/')}/{VHOST}",
                   SWITCHBOARD_REDIS_URL=redis_url)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(yaml.safe_dump(bench_config(args.agents, graph_port)))
        argv = [sys.executable, "-m", "router", "serve", "--config", str(config),
                "--host", "127.0.0.1"]  # fmt: skip
        servers = [
            Server(argv, "switchboard: ready", dict(env, SWITCHBOARD_NODE_ID=f"bench{i}"))
            for i in range(max(processes, 1))
        ]
        options = ["--graph-port", str(graph_port), "--open-sessions", str(args.open_sessions)]
        return await drive(args, servers, options, redis_url)


async def receiver(args: argparse.Namespace, name: str, *options: str) -> dict[str, Any]:
    """``bench/<name>.py``, a server that counts deliveries itself, under a ``--bare`` load."""
    server = Server([sys.executable, "-m", f"bench.{name}", *options], f"{name}: ready")
    return await drive(args, [server], ["--bare"])


async def null(args: argparse.Namespace) -> dict[str, Any]:
    return await receiver(args, "null")


async def bare(args: argparse.Namespace) -> dict[str, Any]:
    redis_url = f"{args.redis}/{args.redis_db}"
    await flush_db(redis_url)
    return await receiver(args, "bare", "--amqp", args.amqp, "--redis", redis_url)


MODES: dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]] = {
    "null": null,
    "bare": bare,
    "embedded": lambda a: switchboard(a, 0),
    "production-1": lambda a: switchboard(a, 1),
    "production-2": lambda a: switchboard(a, 2),
}


def cpu_text(r: dict[str, Any], suffix: str) -> str:
    cpu = r.get(f"server_cpu_us_per_message{suffix}")
    services = r.get(f"services_cpu_us_per_message{suffix}")
    return "n/a" if cpu is None else f"{cpu} + {services} µs"


def table(results: dict[str, dict[str, Any]]) -> str:
    base = results.get("bare", {}).get("throughput", {}).get("delivered_per_s")
    rows = [
        "| mode | delivered/s | ratio to bare | CPU per message: server + RabbitMQ and Redis "
        "| the same at half load | webhook p50 / p99 ms | to agent p50 / p99 ms (at rate) "
        "| memory per 10k sessions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, r in results.items():
        t, lat = r["throughput"], r["latency"]
        ratio = f"{t['delivered_per_s'] / base:.0%}" if base else "n/a"
        mem = r.get("memory_per_10k_sessions_mib")
        mem_text = "n/a" if mem is None else f"{mem} MiB RSS"
        if r.get("redis_per_10k_sessions_mib") is not None:
            mem_text += f" + {r['redis_per_10k_sessions_mib']} MiB Redis"
        rows.append(
            f"| {mode} | {t['delivered_per_s']} | {ratio} | {cpu_text(r, '')} "
            f"| {cpu_text(r, '_at_half_load')} | {t['webhook_p50_ms']} / "
            f"{t['webhook_p99_ms']} | {lat['to_agent_p50_ms']} / {lat['to_agent_p99_ms']} "
            f"({lat['rate']}/s) | {mem_text} |"
        )
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default=",".join(MODES))
    add_shape_options(parser)
    parser.add_argument("--open-sessions", type=int, default=10_000)
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--profile", type=Path, help="py-spy the throughput phase into this folder")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    for mode in args.modes.split(","):
        print(f"bench: {mode} ...", file=sys.stderr, flush=True)
        args.current_mode = mode
        results[mode] = await MODES[mode](args)
        print(json.dumps({mode: results[mode]}), file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
