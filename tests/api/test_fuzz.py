"""Fuzzing the API from its own OpenAPI document (schemathesis).

A real Switchboard (fake store and broker) listens on a local port in a thread of its own,
seeded with one object of each kind; its provider calls reach only a fake Inteliquent, any
other host is refused at once (the routes answer 502 or an "unreachable" check, as
documented). For every operation of the document, schemathesis generates requests from the
schema (bounded: ``MAX_EXAMPLES`` each, derandomized; valid requests, and invalid ones where
the document constrains something) and sends them with a tenant admin's
token; every answer must be no 5xx and must match the document: a documented status, JSON
where JSON is documented, documented headers of their documented type, and a body valid
against the documented schema.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from channels.cpaas import AlertRecipient
from queues.memory import InMemoryBroker
from router.app import create_app
from router.auth import Principal
from router.config import Config
from router.keys import RUNTIME
from router.models import ChannelKind
from router.openapi import build_document, routes_of
from router.settings import Settings
from router.store import RedisStore
from router.store.consent import BlockRecord
from router.store.events import StoredSubscription
from router.store.memory import MemoryRedis
from tests.api.test_etag import lex, telegram
from tests.fakes.inteliquent import FakeInteliquent
from tests.sms.conftest import (
    API_KEY,
    API_SECRET,
    CUSTOMER,
    OUR,
    OUTBOUND_KEY,
    number_model,
    platform_model,
    sms_config,
)

# Requests per operation and mode; SWITCHBOARD_FUZZ_EXAMPLES raises it for a deeper run.
MAX_EXAMPLES = int(os.environ.get("SWITCHBOARD_FUZZ_EXAMPLES", "8"))


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> None:
    """No 5xx, except a documented 502 (the provider refused or could not be reached)."""
    status = response.status_code
    documented = case.operation.definition.raw.get("responses", {})
    if status >= 500 and (status != 502 or "502" not in documented):
        raise AssertionError(f"server error {status}: {response.text[:500]}")


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _app() -> web.Application:
    store = RedisStore(MemoryRedis())
    settings_ = Settings(tick_seconds=0.05, partitions=2, public_url="https://sb.example.com")
    return create_app(settings_, Config.parse(sms_config()), store=store, broker=InMemoryBroker())


def _operations() -> list[Any]:
    """(method, path, mode) of every documented operation: valid requests for each, and
    invalid ones where the document constrains something (a body, a bounded or enumerated
    query parameter) that can be violated."""
    doc = build_document(routes_of(_app()))
    cases = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            cases.append(pytest.param(method.upper(), path, GenerationMode.POSITIVE,
                                      id=f"{method.upper()} {path} valid"))  # fmt: skip
            constrained = [
                p for p in op.get("parameters", [])
                if p["in"] == "query" and set(p["schema"]) & {"enum", "minimum", "maximum"}
            ]  # fmt: skip
            if "requestBody" in op or constrained:
                cases.append(pytest.param(method.upper(), path, GenerationMode.NEGATIVE,
                                          id=f"{method.upper()} {path} invalid"))  # fmt: skip
    return cases


class OnlyTo(aiohttp.TCPConnector):
    """Connects only to the given (host, port)s; anything else is refused at once."""

    def __init__(self, allowed: set[tuple[str, int]]) -> None:
        super().__init__()
        self.allowed = allowed

    async def _create_connection(self, req: Any, *args: Any) -> Any:
        if (req.url.host, req.url.port) not in self.allowed:
            raise aiohttp.ClientConnectionError(f"no network in this test: {req.url.host}")
        return await super()._create_connection(req, *args)


class LiveSwitchboard:
    """The app and the fake provider, served from an event loop in their own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.AppRunner] = []
        self.url = ""
        self.token = ""
        self.document: dict[str, Any] = {}

    def __enter__(self) -> LiveSwitchboard:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        return self

    def __exit__(self, *exc: object) -> None:
        future = asyncio.run_coroutine_threadsafe(self._stop(), self.loop)
        try:
            future.result(20)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            if not self.thread.is_alive():
                self.loop.close()

    async def _serve(self, app: web.Application) -> tuple[str, int]:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.runners.append(runner)
        host, port = runner.addresses[0][:2]
        return str(host), int(port)

    async def _start(self) -> None:
        fake = FakeInteliquent(
            outbound_key=OUTBOUND_KEY, api_key=API_KEY, api_secret=API_SECRET, tns=[OUR]
        )
        fake_host, fake_port = await self._serve(fake.app)
        app = _app()
        rt = app[RUNTIME]
        # The registry's shared session (set before start-up, which would create one).
        rt.channels._session = aiohttp.ClientSession(
            connector=OnlyTo({(fake_host, fake_port)}), timeout=aiohttp.ClientTimeout(total=5)
        )
        host, port = await self._serve(app)
        self.url = f"http://{host}:{port}"
        await self._seed(rt, f"http://{fake_host}:{fake_port}")
        admin = Principal(tenant="acme", subject="root", role="tenant_admin")
        self.token = await rt.tokens.issue(admin)
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + "/api/v1/openapi.json") as resp,
        ):
            self.document = await resp.json()

    async def _seed(self, rt: Any, base: str) -> None:
        store = rt.store
        await store.cpaas.put_alert_recipient(
            AlertRecipient(id="ops", tenant="acme", name="Ops", email="ops@acme.example")
        )
        await store.cpaas.put_platform(platform_model(base))
        await store.cpaas.put_number(number_model())
        await store.accounts.put(telegram(), create=True)
        await store.bots.put(lex(), create=True)
        await store.consent.block(
            BlockRecord(tenant="acme", channel=ChannelKind.SMS, account=OUR,
                        party=CUSTOMER.removeprefix("+"), blocked_by="ann",
                        at=datetime.now(UTC))
        )  # fmt: skip
        await store.events.put(
            StoredSubscription(id="sub1", tenant="acme", url="https://hooks.example.com/x",
                               events=("*",), secret="whsec_0123456789abcdef", enabled=False,
                               created_at=datetime.now(UTC).isoformat())
        )  # fmt: skip

    async def _stop(self) -> None:
        for runner in reversed(self.runners):
            await asyncio.wait_for(runner.cleanup(), 10)


# Ids of the seeded objects: half the requests of an operation name one of them in their path,
# so that the handlers past the lookup are fuzzed too (deletes always name random ones).
SEEDED = {
    "queue": "support",
    "stream_id": "sms",
    "platform_id": "iq",
    "recipient_id": "ops",
    "number": OUR,
    "account": OUR,
    "party": CUSTOMER,
    "sub_id": "sub1",
}


def seeded(method: str, path: str) -> dict[str, str] | None:
    """Path parameters naming seeded objects, or None when the path has none to name."""
    if method == "DELETE":
        return None
    names = {**SEEDED, "account_id": "lex" if "/bot-accounts/" in path else "tg"}
    params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    if not params or any(p not in names for p in params):
        return None
    return {p: names[p] for p in params}


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSwitchboard]:
    with LiveSwitchboard() as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(live: LiveSwitchboard) -> Any:
    return schemathesis.openapi.from_dict(live.document)


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_fuzz(
    live: LiveSwitchboard, api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_path(method, path)
    assert operation is not None, (method, path)
    headers = {"Authorization": f"Bearer {live.token}"}
    known = seeded(method, path)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        named = known if known is not None and data.draw(st.booleans()) else None
        case = data.draw(operation.as_strategy(generation_mode=mode, path_parameters=named))
        case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS, timeout=20)

    fuzz()
