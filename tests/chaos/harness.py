"""What every chaos scenario runs: switchboard processes on the private services, a fake
Telegram Bot API, a steady stream of signed Telegram webhooks and agents that accept and
answer, and the checks that nothing was lost, duplicated, reordered or assigned twice.

The stream behaves like Telegram: the next update of a chat is posted only once the previous
one got a 2xx, and an update that did not is posted again (same ids, so a duplicate is filed
once). ``STREAM_INTERVAL`` is the pace of that stream, not a wait for an outcome: every
outcome is waited for as a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from queues import names
from queues.base import Envelope
from queues.rabbitmq import RabbitBroker
from router.conversations import NOT_QUEUED
from router.events import OutboundWork
from router.models import Direction, MessageStatus, SenderKind
from router.outbound import OUTCOME_UNKNOWN
from router.store import RedisStore
from tests.clients import AgentClient, Frame, eventually
from tests.distributed.cluster import PASSWORD, Cluster, Node, free_port
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
SECRET = "chaos-webhook-secret"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
ACCOUNT = "acme-telegram"
PARTITIONS = 4
STREAM_INTERVAL = 0.03  # pace of each chat's stream of updates
RETRY_INTERVAL = 0.05  # pace of posting an update again after a non-2xx answer
DEADLINE = 40.0  # bound on waiting for any condition (a failure, never a normal wait)


def chaos_config(fake_url: str, capacity: int = 50) -> dict[str, Any]:
    agents = [
        {"id": name, "username": name, "password": PASSWORD, "capacity": capacity,
         "queues": ["support"]}
        for name in ("ann", "ben")
    ]  # fmt: skip
    return {
        "tenants": [
            {
                "id": "acme",
                "queues": [{"id": "support", "offer_timeout_seconds": 10}],
                "agents": agents,
                "media_streams": [
                    {"id": "telegram", "name": "Telegram", "media": "telegram", "queue": "support"}
                ],
                "integration_accounts": [
                    {
                        "id": ACCOUNT,
                        "type": "telegram",
                        "name": "Acme bot",
                        "stream": "telegram",
                        "api_base_url": fake_url,
                        "token": TOKEN,
                        "secret_token": SECRET,
                        "bot_username": "acme_support_bot",
                    }
                ],
            }
        ]
    }


async def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Re-check ``condition`` (provider or traffic state, which has no notification) until it
    holds; fail after ``deadline`` seconds."""

    async def holds() -> bool:
        return condition()

    print(f"chaos: waiting for {what}", flush=True)
    await eventually(holds, what, deadline)


class FakeBotApi:
    """The fake Telegram Bot API served on a local port for the switchboard processes."""

    def __init__(self) -> None:
        self.fake = FakeTelegram(TOKEN)
        self.port = free_port()
        self._runner = web.AppRunner(self.fake.app, shutdown_timeout=0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        await self._runner.cleanup()

    def texts(self) -> list[str]:
        return [str(p["text"]) for p in self.fake.sent("sendMessage")]


def update(chat: int, k: int) -> bytes:
    """Telegram Update ``k`` of chat ``chat`` (update and message ids are stable per k)."""
    return json.dumps({
        "update_id": chat * 1_000_000 + k,
        "message": {
            "message_id": k + 1, "date": 1_780_000_000 + k,
            "chat": {"id": chat, "type": "private", "first_name": f"C{chat}"},
            "from": {"id": chat, "is_bot": False, "first_name": f"C{chat}"},
            "text": text_of(chat, k),
        },
    }).encode()  # fmt: skip


def text_of(chat: int, k: int) -> str:
    return f"c{chat}-m{k}"


@dataclass
class Traffic:
    """A steady stream of signed webhooks for ``chats`` chats, spread over the live nodes."""

    http: aiohttp.ClientSession
    nodes: list[Node]
    chats: list[int]
    accepted: dict[int, list[str]] = field(default_factory=dict)
    statuses: Counter[int | str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        for chat in self.chats:
            self.accepted[chat] = []
            self._tasks.append(asyncio.create_task(self._chat(chat)))

    def total(self) -> int:
        return sum(len(v) for v in self.accepted.values())

    def answered(self) -> int:
        """Webhooks a process answered (any status)."""
        return sum(n for status, n in self.statuses.items() if isinstance(status, int))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def _live(self) -> list[Node]:
        return [n for n in self.nodes if n.proc is not None and n.proc.returncode is None]

    async def _chat(self, chat: int) -> None:
        k, turn = 0, chat
        while not self._stop.is_set():
            body = update(chat, k)
            while True:  # until a 2xx, like the provider
                live = self._live()
                turn += 1
                node = live[turn % len(live)]
                status = await self._post(node, body)
                self.statuses[status] += 1
                if isinstance(status, int) and 200 <= status < 300:
                    self.accepted[chat].append(text_of(chat, k))
                    break
                if self._stop.is_set():
                    return  # never accepted: nothing was promised for it
                if status not in (503, "refused"):
                    self.unexpected.append(f"{node.name}: {status}")
                await asyncio.sleep(RETRY_INTERVAL)
            k += 1
            await asyncio.sleep(STREAM_INTERVAL)

    async def _post(self, node: Node, body: bytes) -> int | str:
        url = f"{node.url}/webhooks/telegram/{ACCOUNT}"
        headers = {HEADER: SECRET, "Content-Type": "application/json"}
        try:
            async with self.http.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=20)
            ) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientConnectionError, TimeoutError):
            return "refused"


class ChaosAgent:
    """An agent who accepts every offer and answers every third customer message, and who
    reconnects to another live process when its socket goes away."""

    def __init__(self, cluster: Cluster, username: str, nodes: list[Node]) -> None:
        self.cluster = cluster
        self.username = username
        self.nodes = nodes
        self.client: AgentClient | None = None
        self.node: Node | None = None
        # session -> seq -> text of the customer messages this agent was shown.
        self.seen: dict[str, dict[int, str]] = {}
        self.assigned: set[str] = set()
        self.replied: set[tuple[str, int]] = set()
        self.reconnects = 0
        self.close_codes: list[int | None] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self, node: Node) -> None:
        await self._connect(node)
        await self.client_or_fail().set_state("ready")
        self._task = asyncio.create_task(self._run())

    def client_or_fail(self) -> AgentClient:
        assert self.client is not None
        return self.client

    async def _connect(self, node: Node) -> None:
        self.client = await self.cluster.agent(node, self.username)
        self.node = node

    async def _run(self) -> None:
        index = 0
        while not self._stopping:
            client = self.client_or_fail()
            async with client._changed:
                await client._changed.wait_for(
                    lambda c=client, i=index: len(c.frames) > i or c.ws.closed  # type: ignore[misc]
                )
            for frame in client.frames[index:]:
                await self._on(client, frame)
            index = len(client.frames)
            if client.ws.closed and not self._stopping:
                self.close_codes.append(client.ws.close_code)
                await self._reconnect()
                index = 0

    async def _reconnect(self) -> None:
        self.reconnects += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while True:
            live = [n for n in self.nodes if n.proc is not None and n.proc.returncode is None
                    and n is not self.node] or [n for n in self.nodes if n.proc is not None
                                               and n.proc.returncode is None]  # fmt: skip
            for node in live:
                with contextlib.suppress(Exception):
                    await self._connect(node)
                    return
            assert loop.time() < deadline, f"{self.username} could not reconnect"
            await asyncio.sleep(RETRY_INTERVAL)

    async def _on(self, client: AgentClient, frame: Frame) -> None:
        kind = frame.get("type")
        with contextlib.suppress(ConnectionError, RuntimeError):
            if kind == "offer":
                await client.send({"type": "accept", "session_id": frame["session_id"],
                                   "offer_id": frame["offer_id"]})  # fmt: skip
            elif kind == "assigned":
                sid = frame["session"]["id"]
                self.assigned.add(sid)
                for m in frame["history"]:
                    await self._customer_message(client, sid, m)
            elif kind == "message":
                await self._customer_message(client, frame["session_id"], frame["message"])

    async def _customer_message(self, client: AgentClient, sid: str, m: dict[str, Any]) -> None:
        if m["direction"] != "inbound":
            return
        seq, text = int(m["seq"]), str(m["text"])
        self.seen.setdefault(sid, {})[seq] = text
        if int(text.rsplit("m", 1)[1]) % 3 == 0 and (sid, seq) not in self.replied:
            self.replied.add((sid, seq))
            await client.send({"type": "send", "session_id": sid, "text": f"re:{text}",
                               "client_id": uuid.uuid4().hex})  # fmt: skip

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def seen_by_agents(agents: list[ChaosAgent]) -> dict[str, list[str]]:
    """Customer texts of each session as the agents saw them (deduplicated by seq, in order)."""
    merged: dict[str, dict[int, str]] = {}
    for agent in agents:
        for sid, by_seq in agent.seen.items():
            merged.setdefault(sid, {}).update(by_seq)
    return {sid: [by_seq[s] for s in sorted(by_seq)] for sid, by_seq in merged.items()}


def chat_of(texts: list[str]) -> int:
    return int(texts[0].split("-", 1)[0][1:])


async def dead_letters(broker_url: str) -> list[Envelope]:
    broker = RabbitBroker(broker_url)
    await broker.start()
    try:
        found: list[Envelope] = []
        for i in range(PARTITIONS):
            with contextlib.suppress(Exception):
                found += await broker.dead_letters(names.outbound(i))
        return found
    finally:
        await broker.close()


async def verify(
    traffic: Traffic, agents: list[ChaosAgent], fake: FakeBotApi, redis_url: str,
    broker_url: str,
) -> dict[str, Any]:  # fmt: skip
    """Every accepted update reached an agent once, in order; every agent reply reached the
    provider once or was dead-lettered/failed with its reason; no session had two agents."""
    assert not traffic.unexpected, f"unexpected webhook answers: {traffic.unexpected[:5]}"
    wanted = {chat: texts for chat, texts in traffic.accepted.items() if texts}
    await _all_delivered(agents, wanted)
    owners: dict[str, set[str]] = {}
    for agent in agents:
        for sid in agent.assigned:
            owners.setdefault(sid, set()).add(agent.username)
    assert all(len(o) == 1 for o in owners.values()), f"assigned twice: {owners}"

    store = RedisStore.from_url(redis_url)
    try:
        for sid in seen_by_agents(agents):
            session = await store.load_session("acme", sid)
            assert session is not None
            inbound = [m.text for m in session.history if m.direction is Direction.INBOUND]
            chat = chat_of([t for t in inbound if t])
            assert inbound == wanted[chat], f"session of chat {chat} filed {inbound[-8:]}"
            assert session.agent in owners.get(sid, set()), "store and agents disagree"
        return await _replies_settled(store, list(seen_by_agents(agents)), fake, broker_url)
    finally:
        await store.close()


async def _all_delivered(agents: list[ChaosAgent], wanted: dict[int, list[str]]) -> None:
    def delivered() -> bool:
        seen = {chat_of(t): t for t in seen_by_agents(agents).values() if t}
        return all(seen.get(chat) == texts for chat, texts in wanted.items())

    try:
        await until(delivered, "every accepted message at an agent")
    except AssertionError:
        seen = {chat_of(t): t for t in seen_by_agents(agents).values() if t}
        for agent in agents:
            print(f"chaos: {agent.username} reconnects={agent.reconnects} {agent.close_codes}")
        for chat, texts in wanted.items():
            got = seen.get(chat, [])
            at = next((i for i, (x, y) in enumerate(zip(got, texts, strict=False)) if x != y),
                      min(len(got), len(texts)))  # fmt: skip
            assert got == texts, (
                f"chat {chat}: from #{at} agents saw {got[at : at + 5]}, accepted "
                f"{texts[at : at + 5]} (missing {sorted(set(texts) - set(got))[:5]})"
            )
        raise


Reply = tuple[str, str, str, MessageStatus, str | None]  # session, id, text, status, error


async def _filed_replies(store: RedisStore, sessions: list[str]) -> list[Reply]:
    out: list[Reply] = []
    for sid in sessions:
        s = await store.load_session("acme", sid)
        assert s is not None
        for m in s.history:
            if m.direction is Direction.OUTBOUND and m.sender.kind is SenderKind.AGENT:
                assert m.text is not None
                out.append((sid, m.id, m.text, m.status, m.error))
    return out


async def _replies_settled(
    store: RedisStore, sessions: list[str], fake: FakeBotApi, broker_url: str
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        filed = await _filed_replies(store, sessions)
        sent = Counter(fake.texts())
        dead = {
            OutboundWork.model_validate_json(e.body).message.id: e.dead_letter_reason
            for e in await dead_letters(broker_url)
        }
        pending = [r for r in filed if sent[r[2]] == 0 and r[3] is not MessageStatus.FAILED]
        if not pending or loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert not pending, (
        f"replies neither sent nor failed (session, id, text, status, error): {pending[:5]}; "
        f"dead-lettered: {[dead.get(r[1]) for r in pending[:5]]}"
    )
    twice = [text for text, n in sent.items() if n > 1]
    assert not twice, "sent more than once: " + "; ".join(
        f"{text!r} sent {sent[text]}x, filed as {[r[1:] for r in filed if r[2] == text]}"
        for text in twice[:5]
    )
    failed = [r for r in filed if r[3] is MessageStatus.FAILED]
    for r in failed:
        # Failed with "outcome unknown" (its sender died mid-call) it may have gone out once.
        assert sent[r[2]] == 0 or r[4] == OUTCOME_UNKNOWN, f"{r[2]} failed but was sent"
        assert r[4], f"{r[2]} failed without a reason"
        if r[4] != NOT_QUEUED:  # queued, then given up: dead-lettered with the reason
            assert dead.get(r[1]), f"{r[2]} failed but is not dead-lettered with a reason"
    return {"replies": len(filed), "sent": sum(sent.values()), "failed": failed,
            "dead_letters": dead}  # fmt: skip
