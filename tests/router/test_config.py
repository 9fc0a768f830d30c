"""Configuration and settings: errors name the bad field, the CLI stops with exit code 2, the
demo setup works, and applying the configuration again leaves live state alone."""

from __future__ import annotations

import copy
import os
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient

from queues.memory import InMemoryBroker
from router.app import create_app
from router.cli import main
from router.config import DEMO_CREDENTIALS, Config, demo_config
from router.errors import ConfigError
from router.models import AgentState
from router.passwords import verify_password
from router.provisioning import apply_config, check_config
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from tests.router.conftest import PASSWORD, ConnectAgent, ConnectCustomer, agent, tenant

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def valid() -> dict[str, Any]:
    return {
        "tenants": [
            {
                "id": "acme",
                "queues": [{"id": "support"}, {"id": "billing"}],
                "agents": [
                    {"id": "ann", "username": "ann", "password": "pw-ann", "queues": ["support"]},
                    {"id": "ben", "username": "ben", "password": "pw-ben", "queues": ["billing"]},
                ],
                "api_users": [{"client_id": "crm", "client_secret": "0123456789abcdef"}],
                "media_streams": [{"id": "web", "queue": "support"}],
            }
        ]
    }


def acme(data: dict[str, Any]) -> dict[str, Any]:
    tenant_data: dict[str, Any] = data["tenants"][0]
    return tenant_data


def edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(valid())
    change(data)
    return data


# (id, change, text the error must contain)
BAD_CONFIGS: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("capacity-zero", lambda d: acme(d)["agents"][0].update(capacity=0),
     ["tenants[0].agents[0].capacity", "greater than or equal to 1"]),
    ("capacity-not-a-number", lambda d: acme(d)["agents"][1].update(capacity="lots"),
     ["tenants[0].agents[1].capacity"]),
    ("agent-unknown-queue", lambda d: acme(d)["agents"][1].update(queues=["sales"]),
     ["tenants[0]", "agents[1].queues", "unknown queue 'sales'"]),
    ("stream-unknown-queue", lambda d: acme(d)["media_streams"][0].update(queue="sales"),
     ["tenants[0]", "media_streams[0].queue", "unknown queue 'sales'"]),
    ("duplicate-queue", lambda d: acme(d)["queues"].append({"id": "support"}),
     ["tenants[0]", "queues: duplicate id 'support'"]),
    ("duplicate-agent", lambda d: acme(d)["agents"].append(
        {"id": "ann", "username": "ann2", "password": "x"}),
     ["tenants[0]", "agents: duplicate id 'ann'"]),
    ("duplicate-username", lambda d: acme(d)["agents"][1].update(username="ann"),
     ["tenants[0]", "agents (username): duplicate id 'ann'"]),
    ("duplicate-stream", lambda d: acme(d)["media_streams"].append(
        {"id": "web", "queue": "billing"}),
     ["media_streams: duplicate id 'web'"]),
    ("duplicate-tenant", lambda d: d["tenants"].append({"id": "acme"}),
     ["(top level)", "tenants: duplicate id 'acme'"]),
    ("bad-time-zone", lambda d: acme(d).update(time_zone="Mars/Olympus_Mons"),
     ["tenants[0].time_zone", "unknown time zone 'Mars/Olympus_Mons'"]),
    ("both-passwords", lambda d: acme(d)["agents"][0].update(password_hash="scrypt$1$2$3$a$b"),
     ["tenants[0].agents[0]", "exactly one of password or password_hash"]),
    ("no-password", lambda d: acme(d)["agents"][1].pop("password"),
     ["tenants[0].agents[1]", "exactly one of password or password_hash"]),
    ("unknown-field", lambda d: acme(d)["agents"][0].update(colour="blue"),
     ["tenants[0].agents[0].colour", "Extra inputs are not permitted"]),
    ("bad-queue-id", lambda d: acme(d)["queues"][0].update(id="Support Desk"),
     ["tenants[0].queues[0].id"]),
    ("priority-too-high", lambda d: acme(d)["media_streams"][0].update(priority=10),
     ["tenants[0].media_streams[0].priority"]),
    ("short-api-secret", lambda d: acme(d)["api_users"][0].update(client_secret="short"),
     ["tenants[0].api_users[0].client_secret"]),
    ("zero-offer-timeout", lambda d: acme(d)["queues"][1].update(offer_timeout_seconds=0),
     ["tenants[0].queues[1].offer_timeout_seconds"]),
    ("bad-role", lambda d: acme(d)["agents"][0].update(role="root"),
     ["tenants[0].agents[0].role"]),
]  # fmt: skip


def test_the_reference_config_is_valid() -> None:
    config = Config.parse(valid())
    check_config(config)
    tenant_cfg = config.tenant("acme")
    assert tenant_cfg is not None
    assert [a.id for a in tenant_cfg.agents] == ["ann", "ben"]


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_config_errors_name_the_bad_field(
    change: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.parse(edit(change), source="switchboard.yaml")
    message = str(caught.value)
    assert message.startswith("switchboard.yaml: ")
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    "change",
    [
        lambda d: acme(d)["agents"][0].update(password_hash="not-a-hash"),
        lambda d: acme(d)["agents"][0].update(capacity=0, colour="blue"),
    ],
    ids=["agent-entry", "sibling-fields"],
)
def test_passwords_are_never_echoed_in_errors(change: Callable[[dict[str, Any]], None]) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.parse(edit(change))
    assert "tenants[0].agents[0]" in str(caught.value)
    assert "pw-ann" not in str(caught.value)


@pytest.mark.parametrize(
    "template",
    ["Hello {{ customer.name ", "{% if customer.name %}no end", "{{ }}"],
    ids=["unclosed-expression", "unclosed-block", "empty-expression"],
)
def test_invalid_initial_reply_template_is_a_config_error(template: str) -> None:
    config = Config.parse(
        edit(lambda d: acme(d)["media_streams"][0].update(initial_reply=template))
    )
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    message = str(caught.value)
    assert "media_streams[0].initial_reply" in message
    assert "acme" in message
    assert "invalid template" in message


def test_valid_initial_reply_template_passes() -> None:
    reply = "Hi{% if customer.name %} {{ customer.name }}{% endif %}, welcome to {{ stream.name }}"
    check_config(
        Config.parse(edit(lambda d: acme(d)["media_streams"][0].update(initial_reply=reply)))
    )


def test_config_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        Config.load(path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("tenants: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Config.load(broken)


# -- the command line -----------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``SWITCHBOARD_*`` variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_env")
def test_cli_refuses_a_bad_config_file_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "switchboard.yaml"
    bad.write_text(yaml.safe_dump(edit(lambda d: acme(d)["agents"][0].update(capacity=0))))
    assert main(["serve", "--config", str(bad)]) == 2
    out = capsys.readouterr()
    assert f"{bad}: tenants[0].agents[0].capacity" in out.err
    assert "greater than or equal to 1" in out.err
    assert "pw-ann" not in out.err + out.out


@pytest.mark.usefixtures("clean_env")
def test_cli_refuses_a_bad_template_and_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text(
        yaml.safe_dump(edit(lambda d: acme(d)["media_streams"][0].update(initial_reply="{{ oops")))
    )
    assert main(["serve", "--config", str(bad)]) == 2
    assert "media_streams[0].initial_reply" in capsys.readouterr().err

    missing = tmp_path / "missing.yaml"
    assert main(["serve", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "cannot read config file" in err


@pytest.mark.usefixtures("clean_env")
def test_cli_refuses_bad_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWITCHBOARD_BROKER_URL", "kafka://localhost:9092")
    assert main(["serve"]) == 2
    assert "SWITCHBOARD_BROKER_URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SWITCHBOARD_BROKER_URL": "http://rabbit:5672"}, "SWITCHBOARD_BROKER_URL"),
        ({"SWITCHBOARD_REDIS_URL": "mongodb://db"}, "SWITCHBOARD_REDIS_URL"),
        ({"SWITCHBOARD_PORT": "eighty"}, "SWITCHBOARD_PORT"),
        ({"SWITCHBOARD_PORT": "70000"}, "SWITCHBOARD_PORT"),
        ({"SWITCHBOARD_PARTITIONS": "0"}, "SWITCHBOARD_PARTITIONS"),
        ({"SWITCHBOARD_TICK_SECONDS": "-1"}, "SWITCHBOARD_TICK_SECONDS"),
    ],
    ids=["broker-scheme", "redis-scheme", "port-text", "port-range", "partitions", "tick"],
)
def test_settings_errors_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    assert str(caught.value).startswith(f"{variable}: ")


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SWITCHBOARD_BROKER_URL": "amqp://guest:guest@rabbit:5672/",
            "SWITCHBOARD_PORT": "9000",
            "SWITCHBOARD_NODE_ID": "node-7",
            "UNRELATED": "ignored",
        },
        port=9100,  # a CLI flag wins over the environment
    )
    assert settings.broker_url == "amqp://guest:guest@rabbit:5672/"
    assert settings.port == 9100
    assert settings.node_id == "node-7"
    assert not settings.embedded


# -- the demo -------------------------------------------------------------------------------


class Links(HTMLParser):
    """Collects the links of a page, and the text of each ``data-testid`` element."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: dict[str, str | None] = {}
        self.rows: list[list[str]] = []
        self._in_row = False
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.hrefs[str(attributes["href"])] = attributes.get("data-testid")
        if tag == "tr" and attributes.get("data-testid") == "demo-agent":
            self._in_row = True
            self.rows.append([])
        if tag == "td" and self._in_row:
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._in_row = False
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell and data.strip():
            self.rows[-1].append(data.strip())


def demo_app(demo: bool) -> web.Application:
    return create_app(
        Settings(tick_seconds=0.05, partitions=2),
        demo_config(),
        store=RedisStore(MemoryRedis()),
        broker=InMemoryBroker(),
        demo=demo,
    )


def test_demo_config_is_valid() -> None:
    config = demo_config()
    check_config(config)
    demo = config.tenant("demo")
    assert demo is not None
    assert [s.id for s in demo.media_streams] == ["web"]
    usernames = {a.username for a in demo.agents}
    assert {c["username"] for c in DEMO_CREDENTIALS} <= usernames


async def test_demo_index_links_chat_desktop_docs_and_credentials(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await aiohttp_client(demo_app(demo=True))
    resp = await client.get("/")
    assert resp.status == 200
    page = Links()
    page.feed(await resp.text())
    assert page.hrefs["/chat/demo/web"] == "chat-link"
    assert page.hrefs["/agent"] == "agent-link"
    assert page.hrefs["/docs/api"] == "docs-link"
    assert sorted(page.rows) == sorted(
        [c["tenant"], c["username"], c["password"]] for c in DEMO_CREDENTIALS
    )
    for href in ("/chat/demo/web", "/agent", "/docs/api"):
        assert (await client.get(href)).status == 200, href

    # The listed credentials really log in.
    for cred in DEMO_CREDENTIALS:
        resp = await client.post(
            "/oauth/token",
            data={"grant_type": "password", "username": cred["username"],
                  "password": cred["password"], "scope": cred["tenant"]},
        )  # fmt: skip
        assert resp.status == 200, cred


async def test_index_shows_no_credentials_outside_demo_mode(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await aiohttp_client(demo_app(demo=False))
    html = await (await client.get("/")).text()
    page = Links()
    page.feed(html)
    assert "/chat/demo/web" in page.hrefs
    assert page.rows == []
    for cred in DEMO_CREDENTIALS:
        assert cred["password"] not in html


# -- applying the configuration again -------------------------------------------------------


async def test_applying_the_config_again_keeps_live_state(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    ben = await connect_agent("ben", ready=False)
    await ben.set_state("not_ready", "Lunch")
    customer = await connect_customer()
    await customer.say("hello")
    offer = await ann.expect("offer")
    await ann.accept(offer)
    session_id = offer["session_id"]

    agents = ("ann", "ben", "cat", "sue")
    store = runtime.store
    statuses = {a: await store.agent_status("acme", a) for a in agents}
    credentials = {u: await store.get_credential("acme", u) for u in ("ann", "crm")}
    session = await store.load_session("acme", session_id)

    await apply_config(store, runtime.config)
    await apply_config(store, runtime.config)

    assert {a: await store.agent_status("acme", a) for a in agents} == statuses
    ann_status = statuses["ann"]
    assert ann_status is not None
    assert (ann_status.state, ann_status.load) == (AgentState.READY, 1)
    ben_status = statuses["ben"]
    assert ben_status is not None
    assert (ben_status.state, ben_status.reason) == (AgentState.NOT_READY, "Lunch")
    # Unchanged passwords are not hashed again, and still work.
    assert {u: await store.get_credential("acme", u) for u in ("ann", "crm")} == credentials
    assert await store.load_session("acme", session_id) == session
    assert await store.agent_sessions("acme", "ann") == [session_id]

    # Routing carries on as before: Ann (ready) gets the next one once she is free, Ben not.
    mark = len(ann.frames)
    await ann.send({"type": "close", "session_id": session_id})
    await ann.expect("session_closed", after=mark)
    other = await connect_customer()
    await other.say("next")
    nxt = await ann.expect("offer", after=mark)
    assert nxt["session_id"] != session_id
    assert ben.of("offer") == []


async def test_a_changed_config_updates_static_data_but_not_live_state(
    connect_agent: ConnectAgent, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    await ann.set_state("not_ready", "Break")
    before = await runtime.store.agent_status("acme", "ann")
    assert before is not None

    changed = Config.parse(
        {
            "tenants": [
                tenant(
                    "acme",
                    agents=[
                        {"id": "ann", "username": "ann", "password": "a new password",
                         "capacity": 3, "queues": ["support"]},
                    ],
                )
            ]
        }
    )  # fmt: skip
    await apply_config(runtime.store, changed)
    after = await runtime.store.agent_status("acme", "ann")
    assert after is not None
    assert after.capacity == 3
    assert (after.state, after.reason, after.load) == (before.state, before.reason, before.load)
    cred = await runtime.store.get_credential("acme", "ann")
    assert cred is not None
    assert verify_password("a new password", cred.secret_hash)
    assert not verify_password(PASSWORD, cred.secret_hash)


async def test_raising_capacity_frees_a_busy_agent_for_more_conversations(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")  # capacity 1
    await connect_agent("ben", ready=False)
    await (await connect_customer()).say("first")
    first = await ann.expect("offer")
    await ann.accept(first)

    data = tenant("acme")
    data["agents"] = [agent("ann", capacity=2), *data["agents"][1:]]
    await apply_config(runtime.store, Config.parse({"tenants": [data]}))
    status = await runtime.store.agent_status("acme", "ann")
    assert status is not None
    assert (status.state, status.load, status.capacity) == (AgentState.READY, 1, 2)

    mark = len(ann.frames)
    await (await connect_customer()).say("second")
    second = await ann.expect("offer", after=mark)
    assert second["session_id"] != first["session_id"]
