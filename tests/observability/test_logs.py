"""Structured logs: JSON lines with the correlation id of the message at hand, no message
text and no secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from router import logs
from router.settings import Settings
from tests.channels.helpers import send
from tests.clients import AgentClient, eventually
from tests.observability.harness import TOKEN, post, telegram_bot, update

Client = TestClient[Any, Any]
StartFake = Callable[[web.Application], Awaitable[str]]


class Lines(logging.Handler):
    """Every record, formatted as the JSON line the process would write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logs.JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The test servers' access logs (the fake provider's URLs hold its token);
        # ``switchboard serve`` runs without an access log.
        if record.name != "aiohttp.access":
            self.lines.append(self.format(record))

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def captured() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def test_a_record_is_one_json_line_with_context_and_extras() -> None:
    record = logging.LogRecord("router.x", logging.WARNING, __file__, 1, "filed %s", ("new",), None)
    record.seq = 3
    with logs.bound("abc-123", tenant="acme", channel="telegram"):
        line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING"
    assert data["logger"] == "router.x"
    assert data["message"] == "filed new"
    assert data["correlation_id"] == "abc-123"
    assert (data["tenant"], data["channel"], data["session"]) == ("acme", "telegram", None)
    assert data["seq"] == 3
    assert data["time"].endswith("+00:00")
    assert logs.current() is None  # the context ends with the block


def test_only_well_formed_ids_are_taken() -> None:
    assert logs.well_formed("req-42.a:b_c") == "req-42.a:b_c"
    for bad in ("", "a b", "x" * 65, "-leading", "bad\nline", None):
        assert logs.well_formed(bad) is None


def test_production_mode_logs_json_by_default() -> None:
    assert Settings(broker_url="amqp://h/").effective_log_format == "json"
    assert Settings().effective_log_format == "text"
    assert Settings(log_format="json").effective_log_format == "json"


async def test_a_whole_flow_logs_with_its_correlation_id_and_no_text_or_secret(
    client: Client, agent: AgentClient, start_fake: StartFake, captured: Lines
) -> None:
    bot = await telegram_bot(client, start_fake)
    captured.lines.clear()
    customer_text, agent_text = "my card number is 4111 1111", "thanks, we will call you"
    mark = len(agent.frames)
    resp = await post(client, bot, update(1, customer_text), headers={"X-Request-Id": "wh-77"})
    assert resp.status == 200
    assert resp.headers["X-Correlation-Id"] == "wh-77"
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    bot.fake.fail_next(500)  # a retry on the way: more log lines
    await send(agent, offer["session_id"], text=agent_text)
    await bot.fake.wait_for("/sendMessage", count=2)

    async def sent_logged() -> bool:
        return any(r["message"].endswith(" sent") for r in captured.records)

    await eventually(sent_logged, "the send logged")
    records = captured.records
    inbound = [r for r in records if r["message"].startswith(("inbound telegram", "message filed"))]
    assert len(inbound) == 2
    assert all(r["correlation_id"] == "wh-77" for r in inbound)
    assert all(r["tenant"] == "acme" for r in inbound if r["logger"] == "router.pipeline")
    flow = [r for r in records if r["logger"].startswith(("router", "channels", "queues"))]
    assert all(r["correlation_id"] for r in flow), [r for r in flow if not r["correlation_id"]]
    everything = "\n".join(captured.lines)
    for secret in (customer_text, agent_text, TOKEN, bot.secret, "4111"):
        assert secret not in everything


async def test_an_ill_formed_incoming_id_is_replaced(client: Client) -> None:
    resp = await client.get("/healthz", headers={"X-Correlation-Id": "no spaces allowed"})
    cid = resp.headers["X-Correlation-Id"]
    assert cid != "no spaces allowed"
    assert logs.well_formed(cid) == cid
    again = await client.get("/healthz")
    assert again.headers["X-Correlation-Id"] != cid
