"""The service-script ports (``router.store.memory.service_scripts``): each scenario runs on a
``Keyspace`` against its expected replies and state, and (with ``--redis-url``) the same Lua
scripts on a real Redis must give the same replies and leave the same keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeAlias, cast

import pytest
import redis
from redis.exceptions import ResponseError

from router.store.memory.keyspace import Keyspace
from router.store.memory.lua import Port, Reply, to_reply
from router.store.memory.service_scripts import PORTS

# Each scenario runs a port and, on a real Redis, the script text ``PORTS`` pairs it with.
SCRIPTS: dict[str, tuple[str, Port]] = {port.__name__: (text, port) for text, port in PORTS.items()}

# How far a remaining time read back may be below the one set (the scenario's own run time).
TOLERANCE_MS = 2000
P = "sb:t1:"
WINDOW = 60_000
DAY_S = 172_800


class Near:
    """A remaining time in ms: matches any integer up to ``TOLERANCE_MS`` below ``ms``."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Near):
            return abs(other.ms - self.ms) <= TOLERANCE_MS
        return type(other) is int and self.ms - TOLERANCE_MS <= other <= self.ms

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"Near({self.ms})"


class Failed:
    """A reply that is a script error."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Failed)

    def __hash__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return "Failed()"


FAILED = Failed()
# A reply as Redis gives it, where a remaining time may be a ``Near`` and an error ``FAILED``.
Outcome: TypeAlias = object
# key -> (value, remaining ms or None without expiry); value: str, dict, list, set or zset
# (a list of (member, score)).
State = dict[str, tuple[object, Near | None]]


@dataclass(frozen=True)
class Cmd:
    """A command run before or between scripts (its reply is not compared)."""

    args: tuple[str | int, ...]


@dataclass(frozen=True)
class Run:
    script: str
    keys: tuple[str, ...]
    argv: tuple[str | int, ...]
    expect: Outcome


@dataclass(frozen=True)
class Scenario:
    steps: tuple[Cmd | Run, ...]
    # The keys left at the end; None: only compared between the port and a real Redis.
    state: State | None = field(default=None)


def rl(
    tenant_limit: int,
    party_limit: int,
    expect: Outcome,
    *,
    party: str = "+1555",
    window: str | int = WINDOW,
) -> Run:
    return Run(
        "rate_limit", (P + "rl:t", P + "rl:p:" + party), (tenant_limit, party_limit, window), expect
    )


def quota(cap: str | int, expect: Outcome) -> Run:
    return Run("bot_quota", (P + "botq:b1:2024-05-01",), (cap, DAY_S), expect)


def consent(direction: str, entry: str, expect: Outcome, party: str = "+1555") -> Run:
    return Run(
        "consent_change", (), (P, "sms", "2025550100", party, "k" + party, direction, entry), expect
    )


def outbound(
    sid: str, now: int, expect: Outcome, *, account: str = "2025550100", window: int | str = 1000
) -> Run:
    argv = (P, "st1", "+1555", sid, now, "sms", account, '{"id":"+1555"}', "q1", 5, "a,b", window)
    return Run("open_outbound", (), argv, expect)


def claim(signature: str, hold: int | str, expect: Outcome) -> Run:
    return Run("claim_queue_status", (P + "qsev:q1", P + "qsev-hold:q1"), (signature, hold), expect)


def number(tenant: str, expect: Outcome) -> Run:
    p = f"sb:{tenant}:"
    argv = ("sb:num:2025550100", p + "num:2025550100", p + "nums", tenant, "2025550100", "{}",
            p + "nums:v")  # fmt: skip
    return Run("create_number", (), argv, expect)


def session(sid: str, now: int, window: int, account: str = "2025550100") -> dict[str, str]:
    return {
        "id": sid, "stream": "st1", "channel": "sms", "account": account,
        "party": '{"id":"+1555"}', "state": "closed", "created_at": str(now),
        "updated_at": str(now), "epoch": "0", "queue": "q1", "priority": "5", "skills": "a,b",
        "closed_at": str(now), "close_reason": "outbound", "reopen_until": str(now + window),
    }  # fmt: skip


LEDGER = ("cl", "cl:sms:2025550100", "cl:sms:2025550100:+1555", "clp:k+1555")

SCENARIOS: dict[str, Scenario] = {
    "rate limit: tenant's limit": Scenario(
        (
            rl(2, 5, [0, 0]),
            rl(2, 5, [0, 0]),
            rl(2, 5, [1, Near(WINDOW)]),
            rl(2, 5, [1, Near(WINDOW)], party="+1666"),
        ),
        {P + "rl:t": ("2", Near(WINDOW)), P + "rl:p:+1555": ("2", Near(WINDOW))},
    ),
    "rate limit: party's limit": Scenario(
        (rl(10, 1, [0, 0]), rl(10, 1, [2, Near(WINDOW)]), rl(10, 1, [0, 0], party="+1666")),
        {
            P + "rl:t": ("2", Near(WINDOW)),
            P + "rl:p:+1555": ("1", Near(WINDOW)),
            P + "rl:p:+1666": ("1", Near(WINDOW)),
        },
    ),
    "rate limit: no limits counts nothing": Scenario((rl(0, 0, [0, 0]),), {}),
    "rate limit: a full counter without expiry gets one": Scenario(
        (Cmd(("SET", P + "rl:t", "5")), rl(5, 0, [1, WINDOW])),
        {P + "rl:t": ("5", Near(WINDOW))},
    ),
    "rate limit: a counter without expiry gets one when counted": Scenario(
        (Cmd(("SET", P + "rl:t", "1")), rl(5, 0, [0, 0])),
        {P + "rl:t": ("2", Near(WINDOW))},
    ),
    "rate limit: a counting counter keeps its window": Scenario(
        (Cmd(("SET", P + "rl:t", "1", "PX", "30000")), rl(5, 0, [0, 0])),
        {P + "rl:t": ("2", Near(30_000))},
    ),
    "rate limit: a fractional window is refused by PEXPIRE": Scenario(
        (rl(5, 0, FAILED, window="1500.5"),), {P + "rl:t": ("1", None)}
    ),
    "rate limit: a counter that is not a number": Scenario(
        (Cmd(("SET", P + "rl:t", "many")), rl(5, 0, FAILED)), {P + "rl:t": ("many", None)}
    ),
    "rate limit: an empty counter": Scenario(
        (Cmd(("SET", P + "rl:t", "")), rl(5, 0, FAILED)), {P + "rl:t": ("", None)}
    ),
    "rate limit: a counter of the wrong type": Scenario(
        (Cmd(("HSET", P + "rl:t", "a", "1")), rl(5, 0, FAILED)),
        {P + "rl:t": ({"a": "1"}, None)},
    ),
    "bot quota: up to the cap": Scenario(
        (quota(2, 1), quota(2, 0), quota(2, -1), quota(2, -1)),
        {P + "botq:b1:2024-05-01": ("2", Near(DAY_S * 1000))},
    ),
    "bot quota: a cap of zero": Scenario((quota(0, -1),), {}),
    "bot quota: a counter without expiry keeps none": Scenario(
        (Cmd(("SET", P + "botq:b1:2024-05-01", "1")), quota(3, 1)),
        {P + "botq:b1:2024-05-01": ("2", None)},
    ),
    "bot quota: a fractional cap truncates the calls left": Scenario(
        (quota("2.5", 1), quota("2.5", 0), quota("2.5", 0), quota("2.5", -1)),
        {P + "botq:b1:2024-05-01": ("3", Near(DAY_S * 1000))},
    ),
    "bot quota: a cap that is not a number": Scenario((quota("lots", FAILED),), {}),
    "consent: out, out, in, in": Scenario(
        (
            consent("out", "e1", 1),
            consent("out", "e2", 0),
            consent("in", "e3", 1),
            consent("in", "e4", 0),
        ),
        {P + k: (["e3", "e1"], None) for k in LEDGER},
    ),
    "consent: an opt-out stays in the pair's hash": Scenario(
        (consent("out", "e1", 1), consent("out", "e2", 1, party="+1666")),
        {
            P + "sms:sms:2025550100": ({"o:+1555": "e1", "o:+1666": "e2"}, None),
            P + "cl": (["e2", "e1"], None),
            P + "cl:sms:2025550100": (["e2", "e1"], None),
            P + "cl:sms:2025550100:+1555": (["e1"], None),
            P + "cl:sms:2025550100:+1666": (["e2"], None),
            P + "clp:k+1555": (["e1"], None),
            P + "clp:k+1666": (["e2"], None),
        },
    ),
    "outbound: opened, then found inside its reopen window": Scenario(
        (outbound("s1", 1000, ["new", "s1"]), outbound("s2", 2000, ["existing", "s1"])),
        {
            P + "s:s1": (session("s1", 1000, 1000), None),
            P + "ix:st1:+1555": ("s1", None),
            P + "sa:2025550100": ({"s1"}, None),
            **{
                P + "sx:" + d: ([("s1", 1000.0)], None)
                for d in ("t", "s:st1", "c:sms", "p:+1555", "q:q1")
            },
        },
    ),
    "outbound: past the reopen window a new session": Scenario(
        (
            outbound("s1", 1000, ["new", "s1"]),
            outbound("s2", 2001, ["new", "s2"]),
            outbound("s3", 2500, ["existing", "s2"]),
        ),
        {
            P + "s:s1": (session("s1", 1000, 1000), None),
            P + "s:s2": (session("s2", 2001, 1000), None),
            P + "ix:st1:+1555": ("s2", None),
            P + "sa:2025550100": ({"s1", "s2"}, None),
            **{
                P + "sx:" + d: ([("s1", 1000.0), ("s2", 2001.0)], None)
                for d in ("t", "s:st1", "c:sms", "p:+1555", "q:q1")
            },
        },
    ),
    "outbound: a live session is used at any time": Scenario(
        (
            outbound("s1", 1000, ["new", "s1"]),
            Cmd(("HSET", P + "s:s1", "state", "assigned")),
            outbound("s2", 99_000, ["existing", "s1"]),
        ),
    ),
    "outbound: a session with an empty state is live": Scenario(
        (
            outbound("s1", 1000, ["new", "s1"]),
            Cmd(("HSET", P + "s:s1", "state", "")),
            outbound("s2", 99_000, ["existing", "s1"]),
        ),
    ),
    "outbound: a closed session without a reopen window": Scenario(
        (
            outbound("s1", 1000, ["new", "s1"]),
            Cmd(("HDEL", P + "s:s1", "reopen_until")),
            outbound("s2", 1001, ["new", "s2"]),
        ),
    ),
    "outbound: an index to a deleted session": Scenario(
        (Cmd(("SET", P + "ix:st1:+1555", "gone")), outbound("s1", 1000, ["new", "s1"])),
    ),
    "outbound: an empty index entry": Scenario(
        (Cmd(("SET", P + "ix:st1:+1555", "")), outbound("s1", 1000, ["new", "s1"])),
    ),
    "outbound: no account, no number index": Scenario(
        (outbound("s1", 1000, ["new", "s1"], account=""),),
    ),
    "outbound: a reopen window that is not a number": Scenario(
        (
            outbound("s1", 1000, ["new", "s1"]),
            Cmd(("HSET", P + "s:s1", "reopen_until", "x")),
            outbound("s2", 1500, FAILED),
        ),
    ),
    "outbound: a fractional reopen window": Scenario(
        (
            outbound("s1", 1000, ["new", "s1"], window="0.5"),
            outbound("s2", 1000, ["existing", "s1"]),
            outbound("s3", 1001, ["new", "s3"]),
        ),
    ),
    "claim: new signatures only": Scenario(
        (claim("a", 0, 1), claim("a", 0, 0), claim("b", 0, 1)), {P + "qsev:q1": ("b", None)}
    ),
    "claim: held after an emission": Scenario(
        (claim("a", 60_000, 1), claim("b", 60_000, 0)),
        {P + "qsev:q1": ("a", None), P + "qsev-hold:q1": ("1", Near(60_000))},
    ),
    "claim: a hold that is not a number fails after the signature is set": Scenario(
        (claim("a", "soon", FAILED),), {P + "qsev:q1": ("a", None)}
    ),
    "number: created once per tenant": Scenario(
        (number("t1", 1), number("t1", 0), number("t2", 0)),
        {
            "sb:num:2025550100": ("t1", None),
            "sb:t1:num:2025550100": ("{}", None),
            "sb:t1:nums": ({"2025550100"}, None),
            "sb:t1:nums:v": ("1", None),
        },
    ),
    "number: an empty holder still holds it": Scenario(
        (Cmd(("SET", "sb:num:2025550100", "")), number("t1", 0)),
        {"sb:num:2025550100": ("", None)},
    ),
    "number: recreated by its tenant once deleted": Scenario(
        (number("t1", 1), Cmd(("DEL", "sb:t1:num:2025550100")), number("t1", 1)),
    ),
}


def _pairs(flat: list[str]) -> Iterator[tuple[str, str]]:
    return zip(flat[::2], flat[1::2], strict=True)


def _value(get: Callable[..., object], key: str) -> object:
    kind = get("TYPE", key)
    if kind == "string":
        return get("GET", key)
    if kind == "hash":
        fields = get("HGETALL", key)  # redis-py makes the pairs a dict
        return fields if isinstance(fields, dict) else dict(_pairs(cast(list[str], fields)))
    if kind == "list":
        return get("LRANGE", key, 0, -1)
    if kind == "set":
        return set(cast("list[str] | set[str]", get("SMEMBERS", key)))
    if kind == "zset":
        members = cast(list[str], get("ZRANGE", key, 0, -1))
        return [(m, float(cast(str, get("ZSCORE", key, m)))) for m in members]
    raise AssertionError(f"{key} holds a {kind}")


def dump(get: Callable[..., object]) -> State:
    """Every key with its value and remaining time, read through ``get(*command)``."""
    state: State = {}
    for key in cast(list[str], get("KEYS", "*")):
        left = cast(int, get("PTTL", key))
        state[key] = (_value(get, key), None if left == -1 else Near(left))
    return state


def run_on_keyspace(scenario: Scenario) -> tuple[list[Outcome], State]:
    ks = Keyspace()
    replies: list[Outcome] = []
    for step in scenario.steps:
        if isinstance(step, Cmd):
            ks.call(*step.args)
            continue
        port = SCRIPTS[step.script][1]
        try:
            replies.append(to_reply(port(ks, list(step.keys), [str(a) for a in step.argv])))
        except ResponseError:
            replies.append(FAILED)
    return replies, dump(ks.call)


def run_on_redis(client: redis.Redis, scenario: Scenario) -> tuple[list[Outcome], State]:
    def get(*args: str | int) -> object:
        return client.execute_command(*args)  # type: ignore[no-untyped-call]

    replies: list[Outcome] = []
    for step in scenario.steps:
        if isinstance(step, Cmd):
            get(*step.args)
            continue
        text = SCRIPTS[step.script][0]
        try:
            replies.append(cast(Reply, client.eval(text, len(step.keys), *step.keys, *step.argv)))
        except ResponseError:
            replies.append(FAILED)
    return replies, dump(get)


def test_every_port_has_a_scenario() -> None:
    runs = {step.script for s in SCENARIOS.values() for step in s.steps if isinstance(step, Run)}
    assert runs == set(SCRIPTS)
    assert len(SCRIPTS) == len(PORTS)


def expected(scenario: Scenario) -> list[Outcome]:
    return [step.expect for step in scenario.steps if isinstance(step, Run)]


@pytest.mark.parametrize("name", SCENARIOS)
def test_port_replies_and_state(name: str) -> None:
    scenario = SCENARIOS[name]
    replies, state = run_on_keyspace(scenario)
    assert replies == expected(scenario)
    if scenario.state is not None:
        assert state == scenario.state


@pytest.mark.redis
@pytest.mark.parametrize("name", SCENARIOS)
def test_redis_agrees_with_the_port(name: str, redis_url: str) -> None:
    scenario = SCENARIOS[name]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.flushdb()
        replies, state = run_on_redis(client, scenario)
    finally:
        client.flushdb()
        client.close()
    assert replies == expected(scenario)
    assert state == run_on_keyspace(scenario)[1]
