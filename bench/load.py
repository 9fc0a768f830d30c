"""The load process: signed Messenger webhooks in, agents on WebSockets answering.

Run by ``bench/run.py`` against a running Switchboard (or, with ``--bare``, a server that
counts deliveries itself: the bare stack or the null server, ``bench/receiver.py``); prints
one JSON object of results on stdout. Phases:

1. agents log in over OAuth2, open the agent socket and go ready; each accepts every offer;
2. ``--sessions`` customers write once, and wait until every conversation is assigned;
3. throughput: ``--concurrency`` senders post webhooks back to back for ``--duration``
   seconds; an inbound message counts when an agent's socket receives it; agents answer
   every ``--answer-every``-th message (the reply goes out to the fake Graph API);
4. latency: the same at a fixed rate (``--latency-rate``, default half the measured
   throughput), measuring webhook and webhook-to-agent latency after ``--warmup`` seconds
   at that rate (unmeasured: the broker's one-off stall after the throughput phase's burst
   is not the steady state at that load);
5. memory: agents go not ready and ``--open-sessions`` new customers write once each; the
   orchestrator reads the processes' memory before and after.

Every message carries its send time (``time.time_ns()``, one clock for all processes of
the machine), so a receiver computes the webhook-to-agent latency itself.

The load process must not be what limits the measurement: webhooks go out through the lean
keep-alive client of ``bench/webhook_client.py``, the agents read message frames without
decoding the JSON when the frame's shape allows it, and the event loop is uvloop's when
installed. ``python -m bench.run --modes null`` shows the ceiling this leaves on a machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from bench.event_loop import use_uvloop
from bench.webhook_client import ResponseError, WebhookClient

PAGE_ID = "900000000000001"
APP_SECRET = "bench-app-secret-0123456789abcdef"
PAGE_TOKEN = "EAAbenchpagetoken"
PASSWORD = "bench password 123"
TENANT = "bench"


SHAPE_OPTIONS = (
    "duration",
    "warmup",
    "agents",
    "sessions",
    "concurrency",
    "answer_every",
    "latency_rate",
)


def add_shape_options(parser: argparse.ArgumentParser) -> None:
    """The load's shape (``SHAPE_OPTIONS``), which ``bench/run.py`` passes on as it got it."""
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--answer-every", type=int, default=10)
    # Messages/s of the latency phase; 0: half the throughput phase's.
    parser.add_argument("--latency-rate", type=float, default=0.0)


def shape_argv(args: argparse.Namespace) -> list[str]:
    """The command line options that give a load process the shape in ``args``."""
    argv: list[str] = []
    for name in SHAPE_OPTIONS:
        argv += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    return argv


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


WEBHOOK_TEMPLATE = (
    '{"object":"page","entry":[{"id":"%s","time":%d,"messaging":[{"sender":{"id":"%s"},'
    '"recipient":{"id":"%s"},"timestamp":%d,"message":{"mid":"%s","text":"%s"}}]}]}'
)


def webhook_body(psid: str, text: str, mid: str) -> bytes:
    """A Messenger webhook with one text message, as compact JSON.

    Byte for byte what ``json.dumps(..., separators=(",", ":"))`` makes of the payload, for
    ids and text that need no JSON escaping (the load's own: ASCII letters, digits, spaces,
    ``=`` and ``_``).
    """
    now = int(time.time() * 1000)
    return (WEBHOOK_TEMPLATE % (PAGE_ID, now, psid, PAGE_ID, now, mid, text)).encode()


def stamp(seq: int) -> str:
    return f"bench t={time.time_ns()} n={seq}"


MESSAGE_FRAME = '{"type":"message","session_id":"'
INBOUND = '"direction":"inbound"'
STAMPED_TEXT = '"text":"bench t='


def sent_of(text: str) -> int | None:
    """The send time in a message text stamped by ``stamp``; None for any other text."""
    if not text.startswith("bench "):
        return None
    for part in text.split()[1:]:
        if part.startswith("t="):
            return int(part[2:])
    return None


@dataclass
class Recorder:
    """What the agents received, and the webhook round trips."""

    window: tuple[float, float] | None = None  # (start, end) of the measured phase
    in_window: int = 0
    agent_latency_ms: list[float] = field(default_factory=list)
    webhook_latency_ms: list[float] = field(default_factory=list)
    webhook_errors: int = 0
    assigned: set[str] = field(default_factory=set)
    assigned_event: asyncio.Event = field(default_factory=asyncio.Event)
    want_assigned: int = 0

    def on_message(self, sent_ns: int) -> None:
        now = time.time_ns()
        if self.window and self.window[0] <= sent_ns / 1e9 and now / 1e9 <= self.window[1] + 5:
            self.in_window += 1
            self.agent_latency_ms.append((now - sent_ns) / 1e6)

    async def refresh(self) -> None:
        """Bring ``in_window`` and the latencies up to date (the agents update them live)."""

    def reset(self, start: float, end: float) -> None:
        self.window = (start, end)
        self.in_window = 0
        self.agent_latency_ms.clear()
        self.webhook_latency_ms.clear()
        self.webhook_errors = 0


class Agent:
    def __init__(self, rec: Recorder, ws: aiohttp.ClientWebSocketResponse, every: int) -> None:
        self.rec, self.ws, self.every = rec, ws, every
        self.count = 0
        self.replies = 0

    async def run(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            data: str = msg.data
            if data.startswith(MESSAGE_FRAME):
                await self._message_frame(data)
                continue
            frame = json.loads(data)
            kind = frame.get("type")
            if kind == "offer":
                await self.ws.send_json(
                    {"type": "accept", "session_id": frame["session_id"],
                     "offer_id": frame["offer_id"]}
                )  # fmt: skip
            elif kind == "assigned":
                self.rec.assigned.add(frame["session"]["id"])
                if len(self.rec.assigned) >= self.rec.want_assigned:
                    self.rec.assigned_event.set()
            elif kind == "message":
                await self._message(frame)

    async def _message_frame(self, data: str) -> None:
        """A ``message`` frame, read without decoding it when it is one of the load's own.

        A string value in compact JSON cannot hold an unescaped ``"``, so ``"text":"bench t=``
        and ``"direction":"inbound"`` only match keys of the frame; the stamp's digits end at
        the space before ``n=``. Any other message frame is decoded.
        """
        at = data.find(STAMPED_TEXT)
        if at < 0 or INBOUND not in data:
            await self._message(json.loads(data))
            return
        start = at + len(STAMPED_TEXT)
        end = data.find(" ", start)
        if end < 0 or not data[start:end].isdecimal():
            await self._message(json.loads(data))
            return
        self.rec.on_message(int(data[start:end]))
        self.count += 1
        if self.every and self.count % self.every == 0:
            id_start = len(MESSAGE_FRAME)
            await self._reply(data[id_start : data.index('"', id_start)])

    async def _message(self, frame: dict[str, Any]) -> None:
        message = frame["message"]
        if message.get("direction") != "inbound":
            return
        sent = sent_of(message.get("text") or "")
        if sent is None:
            return
        self.rec.on_message(sent)
        self.count += 1
        if self.every and self.count % self.every == 0:
            await self._reply(frame["session_id"])

    async def _reply(self, session_id: str) -> None:
        self.replies += 1
        await self.ws.send_json(
            {"type": "send", "session_id": session_id, "text": "on it",
             "client_id": str(uuid.uuid4())}
        )  # fmt: skip

    async def set_state(self, state: str, reason: str | None = None) -> None:
        await self.ws.send_json({"type": "set_state", "state": state, "reason": reason})


async def fake_graph(port: int) -> tuple[web.AppRunner, list[int]]:
    """The Send API the agents' answers go to: checks the token, counts, answers like Graph."""
    sent = [0]

    async def send(request: web.Request) -> web.Response:
        if request.query.get("access_token") != PAGE_TOKEN and (
            request.headers.get("Authorization") != f"Bearer {PAGE_TOKEN}"
        ):
            return web.json_response({"error": {"code": 190, "message": "bad token"}}, status=400)
        body = await request.json()
        sent[0] += 1
        return web.json_response(
            {"recipient_id": body["recipient"]["id"], "message_id": "m_" + uuid.uuid4().hex}
        )

    app = web.Application()
    app.router.add_post("/{version}/me/messages", send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, sent


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.targets: list[str] = args.target
        self.rec = Recorder()
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=30)
        )
        self.agents: list[Agent] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.seq = itertools.count()
        # Customers of this run only: a rerun against the same server opens new sessions.
        self.run_id = uuid.uuid4().hex[:8]
        # Message ids: this run's random half, then the sequence number (32 hex digits).
        self.mid_prefix = "m_" + uuid.uuid4().hex[:16]
        path = "/hook" if args.bare else "/webhooks/facebook/fb"
        self.hooks = [self.hook_client(t, path, args.concurrency) for t in self.targets]

    @staticmethod
    def hook_client(target: str, path: str, limit: int) -> WebhookClient:
        url = URL(target)
        if url.scheme != "http" or url.host is None or url.port is None:
            raise SystemExit(f"--target must be an http:// URL: {target}")
        return WebhookClient(url.host, url.port, path, APP_SECRET.encode(), limit, timeout=30.0)

    async def post(self, i: int, psid: str) -> None:
        seq = next(self.seq)
        body = webhook_body(psid, stamp(seq), f"{self.mid_prefix}{seq:016x}")
        started = time.perf_counter()
        try:
            ok = await self.hooks[i % len(self.hooks)].post(body) == 200
        except (OSError, ResponseError):
            ok = False
        if ok:
            self.rec.webhook_latency_ms.append((time.perf_counter() - started) * 1000)
        else:
            self.rec.webhook_errors += 1

    async def connect_agents(self) -> None:
        for i in range(self.args.agents):
            base = self.targets[i % len(self.targets)]
            form = {"grant_type": "password", "username": f"agent{i}", "password": PASSWORD,
                    "scope": TENANT}  # fmt: skip
            async with self.http.post(base + "/oauth/token", data=form) as resp:
                token = (await resp.json())["access_token"]
            ws = await self.http.ws_connect(
                base + "/agent/ws", headers={"Authorization": f"Bearer {token}"},
                max_msg_size=0,
            )  # fmt: skip
            agent = Agent(self.rec, ws, self.args.answer_every)
            self.agents.append(agent)
            self.tasks.append(asyncio.create_task(agent.run()))
            await agent.set_state("ready")

    async def open_sessions(self, count: int, prefix: str, wait: bool) -> None:
        self.rec.want_assigned = len(self.rec.assigned) + count
        self.rec.assigned_event.clear()
        sem = asyncio.Semaphore(self.args.concurrency)

        async def one(i: int) -> None:
            async with sem:
                await self.post(i, f"{self.run_id}{prefix}{i}")

        await asyncio.gather(*(one(i) for i in range(count)))
        if wait:
            await asyncio.wait_for(self.rec.assigned_event.wait(), 120)

    async def closed_loop(self, seconds: float) -> dict[str, Any]:
        start = time.time()
        end = start + seconds
        self.rec.reset(start, end)
        counter = itertools.count()

        async def sender() -> None:
            while time.time() < end:
                i = next(counter)
                await self.post(i, f"{self.run_id}s{i % self.args.sessions}")

        await asyncio.gather(*(sender() for _ in range(self.args.concurrency)))
        return await self.settle(start, end)

    async def open_loop(self, rate: float, seconds: float) -> dict[str, Any]:
        start = time.time()
        end = start + seconds
        self.rec.reset(start, end)
        pending: set[asyncio.Task[None]] = set()
        interval, i = 1.0 / rate, 0
        while True:
            due = start + i * interval
            if due >= end:
                break
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.post(i, f"{self.run_id}s{i % self.args.sessions}"))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        await asyncio.gather(*pending)
        return await self.settle(start, end, sent=i)

    async def settle(self, start: float, end: float, sent: int | None = None) -> dict[str, Any]:
        """Wait (bounded) until every accepted webhook of the window reached an agent."""
        accepted = len(self.rec.webhook_latency_ms)
        deadline = time.time() + 20
        await self.rec.refresh()
        while self.rec.in_window < accepted and time.time() < deadline:
            await asyncio.sleep(0.05)
            await self.rec.refresh()
        done = time.time()
        lat, hook = self.rec.agent_latency_ms, self.rec.webhook_latency_ms
        return {
            "seconds": round(end - start, 2),
            "webhooks_sent": sent if sent is not None else accepted + self.rec.webhook_errors,
            "webhooks_accepted": accepted,
            "webhook_errors": self.rec.webhook_errors,
            "delivered": self.rec.in_window,
            "delivered_per_s": round(self.rec.in_window / max(end - start, 1e-9), 1),
            "drain_seconds": round(max(0.0, done - end), 2),
            "webhook_p50_ms": round(percentile(hook, 50), 2),
            "webhook_p99_ms": round(percentile(hook, 99), 2),
            "to_agent_p50_ms": round(percentile(lat, 50), 2),
            "to_agent_p99_ms": round(percentile(lat, 99), 2),
        }

    async def run_switchboard(self) -> dict[str, Any]:
        graph, sent = await fake_graph(self.args.graph_port)
        try:
            await self.connect_agents()
            await self.open_sessions(self.args.sessions, "s", wait=True)
            result = await self.measure()
            result["replies_sent"] = sum(a.replies for a in self.agents)
            result["replies_at_provider"] = sent[0]
            if self.args.open_sessions:
                for agent in self.agents:
                    await agent.set_state("not_ready", "Break")
                await self.phase("memory_before")
                await self.open_sessions(self.args.open_sessions, "m", wait=False)
                await self.phase("memory_after")
            return result
        finally:
            for task in self.tasks:
                task.cancel()
            await graph.cleanup()

    async def run_bare(self) -> dict[str, Any]:
        self.rec = BareRecorder(self.http, self.targets[0] + "/stats")
        return await self.measure()

    async def measure(self) -> dict[str, Any]:
        """The throughput phase, then the latency phase at its rate."""
        # The orchestrator reads the servers' CPU time around the throughput phase ...
        await self.phase("throughput_start")
        result: dict[str, Any] = {"throughput": await self.closed_loop(self.args.duration)}
        await self.phase("throughput_end")
        rate = self.args.latency_rate or result["throughput"]["delivered_per_s"] / 2
        if self.args.warmup > 0:
            await self.open_loop(max(rate, 1.0), self.args.warmup)
        # ... and around the measured latency phase: the cost per message below saturation.
        await self.phase("latency_start")
        result["latency"] = await self.open_loop(max(rate, 1.0), self.args.duration)
        await self.phase("latency_end")
        result["latency"]["rate"] = round(rate, 1)
        return result

    async def phase(self, name: str) -> None:
        """Tell the orchestrator a phase boundary was reached; go on once it has measured."""
        print(json.dumps({"phase": name}), flush=True)
        await self.wait_for_line("go")

    async def wait_for_line(self, expected: str) -> None:
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != expected:
            raise SystemExit(f"expected {expected!r} on stdin, got {line!r}")


class BareRecorder(Recorder):
    """The server counts deliveries itself (``bench/receiver.py``); ``settle`` reads them back."""

    def __init__(self, http: aiohttp.ClientSession, stats_url: str) -> None:
        super().__init__()
        self.http, self.stats_url = http, stats_url

    async def refresh(self) -> None:
        assert self.window is not None
        params = {"start": str(self.window[0])}
        async with self.http.get(self.stats_url, params=params) as resp:
            stats = await resp.json()
        self.in_window = stats["delivered"]
        self.agent_latency_ms = stats["latency_ms"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", action="append", required=True, help="base URL (repeat)")
    parser.add_argument("--bare", action="store_true", help="drive bench/bare.py or bench/null.py")
    parser.add_argument("--graph-port", type=int, default=0)
    add_shape_options(parser)
    parser.add_argument("--open-sessions", type=int, default=0)
    args = parser.parse_args()
    load = Load(args)
    try:
        if args.bare:
            result = await load.run_bare()
        else:
            result = await load.run_switchboard()
    finally:
        for hooks in load.hooks:
            hooks.close()
        await load.http.close()
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(main())
