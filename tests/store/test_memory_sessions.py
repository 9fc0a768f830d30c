"""The session scripts' Python ports (``router.store.memory.session_scripts``) on the
in-process keyspace: the corners the store contract reaches only indirectly (dedupe, reopen
windows, the ready line's order, declines, reply shapes), Lua's ``tonumber``/``tostring``,
and, with ``--redis-url``, the same calls answered alike by the Lua scripts on a real Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import redis

from router.store.memory import session_scripts
from router.store.memory.keyspace import Keyspace
from router.store.memory.lib import tonumber, tostring
from router.store.memory.lua import Reply, registry, script_source, sha1, to_reply

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

P = "sb:{acme}:"
T = "acme"
NOW = 1_700_000_000_000
SCRIPTS = ("ingest", "offer", "accept", "release", "transfer")


class Desk:
    """Runs the ported scripts on a keyspace with the argument lists ``RedisStore`` passes."""

    def __init__(self, ks: Keyspace) -> None:
        self.ks = ks

    def run(self, name: str, argv: list[str | int]) -> Reply:
        port = registry()[sha1(script_source(name, lib=True))]
        return to_reply(port(self.ks, [], [str(arg) for arg in argv]))

    def agent(
        self, aid: str, *, idle_since: int, queues: str = "q1", capacity: int = 1,
        skills: tuple[str, ...] = (), online: bool = True,
    ) -> None:  # fmt: skip
        self.ks.call(
            "HSET", P + "a:" + aid, "state", "ready", "load", 0, "capacity", capacity,
            "queues", queues, "idle_since", idle_since,
        )  # fmt: skip
        for queue in queues.split(","):
            self.ks.call("SADD", P + "qa:" + queue, aid)
            self.ks.call("ZADD", P + "r:" + queue, idle_since, aid)
        for skill in skills:
            self.ks.call("SADD", P + "ask:" + aid, skill)
        if online:
            self.ks.call("SET", P + "on:" + aid, "node-" + aid)

    def ingest(
        self, sid: str, now: int, *, party: str = "p1", dedupe: str = "", reopen: bool = True,
        queue: str = "q1", skills: str = "", assign_to: str = "", hold: bool = False,
        with_bot: bool = False,
    ) -> Reply:  # fmt: skip
        return self.run(
            "ingest",
            [
                P, T, "web", party, dedupe, sid, now, f'{{"at":{now}}}', "chat", "acc",
                f'{{"id":"{party}"}}', queue, 0, skills, "1" if reopen else "0", 600000,
                604800, 5000, assign_to, "1" if hold else "0", "1" if with_bot else "0",
            ],
        )  # fmt: skip

    def offer(self, sid: str, epoch: int, offer_id: str, now: int, preferred: str = "") -> Reply:
        return self.run("offer", [P, T, sid, epoch, offer_id, now, now + 30000, preferred])

    def release(
        self, sid: str, offer_id: str, now: int, *, agent: str = "", timeout: bool = False
    ) -> Reply:
        return self.run(
            "release",
            [P, T, sid, offer_id, agent, "1" if timeout else "0", now, "Missed offer", 5000],
        )

    def close(self, sid: str, reopen_until: int) -> None:
        self.ks.call("HSET", P + "s:" + sid, "state", "closed", "reopen_until", reopen_until)

    def hget(self, key: str, field: str) -> Reply:
        return self.ks.call("HGET", P + key, field)


@pytest.fixture
def desk() -> Desk:
    return Desk(Keyspace())


def test_every_session_script_has_a_port() -> None:
    ports = registry()
    for name in SCRIPTS:
        text = script_source(name, lib=True)
        assert session_scripts.PORTS[text] is ports[sha1(text)]


def test_new_session_is_queued_with_an_outbox_timer(desk: Desk) -> None:
    assert desk.ingest("s1", NOW) == ["new", "s1", 1, "queued", "", "", 1, ""]
    assert desk.ks.call("ZRANGE", P + "w:q1", 0, -1, "WITHSCORES") == ["s1", str(NOW)]
    assert desk.ks.call("ZSCORE", "sb:sched", f"queue|{T}|s1|1") == str(NOW + 5000)
    assert desk.ks.call("ZSCORE", "sb:sched", f"inact|{T}|s1") == str(NOW + 600000)
    for dim in ("t", "s:web", "c:chat", "p:p1", "q:q1"):
        assert desk.ks.call("ZSCORE", P + "sx:" + dim, "s1") == str(NOW)
    assert desk.ks.call("SMEMBERS", P + "sa:acc") == ["s1"]


def test_duplicate_answers_the_first_seq_and_stores_nothing(desk: Desk) -> None:
    desk.ingest("s1", NOW, dedupe="m1")
    assert desk.ingest("s2", NOW + 1, dedupe="m2") == ["existing", "s1", 2, "queued", "", "", 1, ""]
    assert desk.ingest("s3", NOW + 2, dedupe="m1") == ["dup", "s1", 1, "queued", "", "", 1, ""]
    assert desk.ks.call("LLEN", P + "h:s1") == 2
    assert desk.ks.call("GET", P + "d:m2") == "s1|2"
    ttl = desk.ks.call("TTL", P + "d:m1")
    assert isinstance(ttl, int)
    assert 604790 < ttl <= 604800


def test_duplicate_of_a_session_id_holding_a_bar_splits_at_the_last_one(desk: Desk) -> None:
    desk.ingest("s|1", NOW, dedupe="m1")
    assert desk.ks.call("GET", P + "d:m1") == "s|1|1"
    assert desk.ingest("s2", NOW + 1, dedupe="m1") == ["dup", "s|1", 1, "queued", "", "", 1, ""]


def test_closed_session_reopens_up_to_the_last_millisecond_of_its_window(desk: Desk) -> None:
    desk.ingest("s1", NOW)
    desk.close("s1", NOW + 1000)
    assert desk.ingest("s2", NOW + 1000) == ["reopened", "s1", 2, "queued", "", "", 2, ""]
    assert desk.ks.call("ZSCORE", "sb:sched", f"queue|{T}|s1|2") == str(NOW + 6000)
    assert desk.hget("s:s1", "reopen_until") is None


def test_closed_session_after_its_window_or_without_reopen_opens_a_new_one(desk: Desk) -> None:
    desk.ingest("s1", NOW)
    desk.close("s1", NOW + 1000)
    assert desk.ingest("s2", NOW + 1001)[:2] == ["new", "s2"]  # type: ignore[index]
    desk.close("s2", NOW + 5000)
    assert desk.ingest("s3", NOW + 1002, reopen=False)[:2] == ["new", "s3"]  # type: ignore[index]
    assert desk.ks.call("GET", P + "ix:web:p1") == "s3"


def test_reopened_session_goes_back_to_its_last_agent_directly(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 10)
    desk.ingest("s1", NOW, assign_to="a1")
    assert desk.hget("s:s1", "state") == "assigned"
    desk.close("s1", NOW + 1000)
    reply = desk.ingest("s2", NOW + 10, assign_to="a1")
    assert reply == ["reopened", "s1", 2, "assigned", "a1", "node-a1", 2, "a1"]
    assert desk.hget("a:a1", "load") == "0"
    assert desk.ks.call("ZSCORE", P + "sx:a:a1", "s1") == str(NOW)


def test_held_and_bot_sessions_stay_out_of_the_waiting_line(desk: Desk) -> None:
    assert desk.ingest("s1", NOW, party="p1", hold=True)[3] == "new"  # type: ignore[index]
    assert desk.ingest("s2", NOW, party="p2", with_bot=True)[3] == "with_bot"  # type: ignore[index]
    assert desk.ks.call("ZCARD", P + "w:q1") == 0
    assert desk.ks.call("ZRANGE", "sb:sched", 0, -1) == [f"inact|{T}|s1", f"inact|{T}|s2"]


def test_ingest_without_the_routing_mode_arguments_queues(desk: Desk) -> None:
    port = session_scripts.PORTS[script_source("ingest", lib=True)]
    argv = [P, T, "web", "p1", "", "s1", str(NOW), "{}", "chat", "", "{}", "q1", "0", "", "1"]
    argv += ["600000", "604800", "5000"]
    assert to_reply(port(desk.ks, [], argv)) == ["new", "s1", 1, "queued", "", "", 1, ""]
    assert desk.ks.call("SCARD", P + "sa:") == 0


def test_offer_goes_to_the_longest_idle_agent_with_the_skills(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 100, skills=("en",))
    desk.agent("a2", idle_since=NOW - 300)
    desk.agent("a3", idle_since=NOW - 200, skills=("en",))
    desk.ingest("s1", NOW, skills="en")
    assert desk.offer("s1", 1, "o1", NOW + 1) == ["offered", "a3", "node-a3"]
    assert desk.hget("a:a3", "load") == "1"
    assert desk.ks.call("ZRANGE", P + "r:q1", 0, -1) == ["a2", "a1"]
    assert desk.ks.call("ZSCORE", "sb:sched", f"offer|{T}|s1|o1") == str(NOW + 30001)


def test_agent_with_capacity_left_goes_to_the_back_of_the_line(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 300, capacity=2, queues="q1,q2")
    desk.agent("a2", idle_since=NOW - 200)
    desk.ingest("s1", NOW)
    assert desk.offer("s1", 1, "o1", NOW + 5) == ["offered", "a1", "node-a1"]
    assert desk.ks.call("ZRANGE", P + "r:q1", 0, -1, "WITHSCORES") == [
        "a2", str(NOW - 200), "a1", str(NOW + 5),
    ]  # fmt: skip
    assert desk.ks.call("ZSCORE", P + "r:q2", "a1") == str(NOW + 5)


def test_offer_outcomes_without_a_taker(desk: Desk) -> None:
    desk.ingest("s1", NOW)
    assert desk.offer("s1", 2, "o1", NOW) == ["stale"]
    assert desk.offer("s1", 1, "o1", NOW) == ["noagents"]
    desk.agent("a1", idle_since=NOW - 100, online=False)
    assert desk.offer("s1", 1, "o1", NOW) == ["none"]
    assert desk.hget("s:s1", "state") == "queued"


def test_preferred_agent_of_the_queue_comes_first(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 300)
    desk.agent("a2", idle_since=NOW - 100)
    desk.agent("b1", idle_since=NOW - 900, queues="q2")
    desk.ingest("s1", NOW)
    assert desk.offer("s1", 1, "o1", NOW, preferred="b1") == ["offered", "a1", "node-a1"]
    desk.ingest("s2", NOW, party="p2")
    assert desk.offer("s2", 1, "o2", NOW, preferred="a2") == ["offered", "a2", "node-a2"]


def test_decline_prefers_another_agent_but_offers_again_when_alone(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 300)
    desk.agent("a2", idle_since=NOW - 100)
    desk.ingest("s1", NOW)
    assert desk.offer("s1", 1, "o1", NOW) == ["offered", "a1", "node-a1"]
    assert desk.release("s1", "o1", NOW + 1, agent="a1") == [
        "requeued", "a1", 2, "node-a1", "ready", "", 0, 1, "q1",
    ]  # fmt: skip
    assert desk.offer("s1", 2, "o2", NOW + 2) == ["offered", "a2", "node-a2"]
    assert desk.release("s1", "o2", NOW + 3, agent="a2")[0] == "requeued"  # type: ignore[index]
    assert desk.offer("s1", 3, "o3", NOW + 4) == ["offered", "a1", "node-a1"]
    assert desk.ks.call("TTL", P + "dec:s1") == 86400


def test_offer_timeout_sets_the_agent_not_ready_and_requeues(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 300)
    desk.ingest("s1", NOW)
    desk.offer("s1", 1, "o1", NOW)
    assert desk.release("s1", "o1", NOW + 29999, timeout=True) == ["early"]
    assert desk.release("s1", "o2", NOW + 30000, timeout=True) == ["stale"]
    assert desk.release("s1", "o1", NOW + 30000, agent="a2", timeout=True) == ["stale"]
    assert desk.release("s1", "o1", NOW + 30000, timeout=True) == [
        "requeued", "a1", 2, "node-a1", "not_ready", "Missed offer", 0, 1, "q1",
    ]  # fmt: skip
    assert desk.ks.call("ZCARD", P + "r:q1") == 0
    assert desk.hget("a:a1", "idle_since") == str(NOW + 30000)
    assert desk.ks.call("ZRANGE", "sb:sched", 0, -1) == [
        f"queue|{T}|s1|1", f"queue|{T}|s1|2", f"inact|{T}|s1",
    ]  # fmt: skip


def test_release_reply_ends_where_the_agent_has_no_capacity_field(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 300)
    desk.ingest("s1", NOW)
    desk.offer("s1", 1, "o1", NOW)
    desk.ks.call("HDEL", P + "a:a1", "capacity")
    reply = desk.release("s1", "o1", NOW + 1)
    assert reply == ["requeued", "a1", 2, "node-a1", "ready", "", 0]


def test_accept_assigns_and_clears_the_offer(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 300)
    desk.ingest("s1", NOW)
    desk.offer("s1", 1, "o1", NOW)
    assert desk.run("accept", [P, T, "s1", "a2", "o1", NOW + 1]) == ["invalid", "offered"]
    assert desk.run("accept", [P, T, "s1", "a1", "o1", NOW + 30001]) == ["expired", "offered"]
    assert desk.run("accept", [P, T, "s1", "a1", "o1", NOW + 30000]) == ["assigned", "q1"]
    assert desk.hget("s:s1", "offer_id") is None
    assert desk.ks.call("ZCARD", P + "w:q1") == 0
    assert desk.ks.call("ZSCORE", P + "sx:a:a1", "s1") == str(NOW)
    assert desk.run("accept", [P, T, "s1", "a1", "o1", NOW + 2]) == ["invalid", "assigned"]
    assert desk.run("accept", [P, T, "nope", "a1", "o1", NOW + 2]) == ["invalid", ""]


def test_transfer_frees_the_slot_and_pins_the_target(desk: Desk) -> None:
    desk.agent("a1", idle_since=NOW - 300)
    desk.ingest("s1", NOW)
    desk.offer("s1", 1, "o1", NOW)
    desk.run("accept", [P, T, "s1", "a1", "o1", NOW + 1])
    transfer: list[str | int] = [P, T, "s1", "a2", "q2", "b1", NOW + 50, 5000]
    assert desk.run("transfer", transfer) == ["forbidden", "assigned"]
    transfer[3] = "a1"
    assert desk.run("transfer", transfer) == ["requeued", 2, "q1"]
    assert desk.hget("s:s1", "pinned_agent") == "b1"
    assert desk.hget("a:a1", "load") == "0"
    assert desk.hget("a:a1", "idle_since") == str(NOW + 50)
    assert desk.ks.call("ZRANGE", P + "w:q2", 0, -1) == ["s1"]
    assert desk.offer("s1", 2, "o2", NOW + 60) == ["none"]


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("10", 10), ("1.5", 1.5), (" 10 ", 10), ("10\n", 10), ("0x10", 16), ("-0x10", -16),
        ("1e3", 1000), ("0x1p4", 16), (".5", 0.5), ("5.", 5), ("+5", 5),
        ("1700000000000", 1700000000000),
        ("", None), ("abc", None), ("1_0", None), ("0x", None), ("1e", None), ("- 1", None),
        (None, None),
    ],
)  # fmt: skip
def test_tonumber_reads_numbers_as_lua_does(text: str | None, number: float | None) -> None:
    value = tonumber(text)
    assert value == number
    assert type(value) is type(number)


@pytest.mark.parametrize(
    ("number", "text"),
    [(10, "10"), (1.5, "1.5"), (1e15, "1e+15"), (12345678901234567890, "1.2345678901235e+19")],
)
def test_tostring_formats_numbers_as_lua_does(number: float, text: str) -> None:
    assert tostring(number) == text


@pytest.fixture
def real(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _agents(call: Callable[..., Any]) -> None:
    for aid, idle, capacity in (("a1", 300, 2), ("a2", 200, 1), ("a3", 100, 1)):
        call(
            "HSET", P + "a:" + aid, "state", "ready", "load", 0, "capacity", capacity,
            "queues", "q1,q2", "idle_since", NOW - idle,
        )  # fmt: skip
        call("SET", P + "on:" + aid, "node-" + aid)
        for queue in ("q1", "q2"):
            call("SADD", P + "qa:" + queue, aid)
            call("ZADD", P + "r:" + queue, NOW - idle, aid)


def _dump(call: Callable[..., Any]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in sorted(call("KEYS", "*")):
        kind = call("TYPE", key)
        reads = {
            "string": ("GET", key), "hash": ("HGETALL", key), "list": ("LRANGE", key, 0, -1),
            "set": ("SMEMBERS", key), "zset": ("ZRANGE", key, 0, -1, "WITHSCORES"),
        }  # fmt: skip
        value = call(*reads[kind])
        if kind == "hash" and isinstance(value, list):
            value = dict(zip(value[::2], value[1::2], strict=True))
        if kind == "set":
            value = sorted(value)
        if kind == "zset" and value and not isinstance(value[0], list):
            value = [[m, score] for m, score in zip(value[::2], value[1::2], strict=True)]
        if kind == "zset":
            value = [(m, float(score)) for m, score in value]
        out[key] = (kind, value, call("TTL", key))
    return out


@pytest.mark.redis
def test_ports_answer_and_write_as_the_lua_scripts(real: redis.Redis) -> None:
    desk = Desk(Keyspace())
    _agents(real.execute_command)
    _agents(desk.ks.call)
    ingest: list[str | int] = [
        P, T, "web", "p1", "m1", "s1", NOW, "{}", "chat", "acc", "{}", "q1", 0, "", "1",
        600000, 604800, 5000, "", "0", "0",
    ]  # fmt: skip
    calls: list[tuple[str, list[str | int]]] = [
        ("ingest", ingest),
        ("ingest", [*ingest[:4], "m1", "s9", NOW + 1, *ingest[7:]]),
        ("ingest", [*ingest[:3], "p2", "m2", "s2", NOW + 2, *ingest[7:]]),
        ("offer", [P, T, "s1", 1, "o1", NOW + 3, NOW + 30003, ""]),
        ("offer", [P, T, "s2", 1, "o2", NOW + 4, NOW + 30004, "a3"]),
        ("release", [P, T, "s1", "o1", "", "1", NOW + 30003, "Missed offer", 5000]),
        ("offer", [P, T, "s1", 2, "o3", NOW + 30005, NOW + 60005, ""]),
        ("accept", [P, T, "s1", "a2", "o3", NOW + 30006]),
        ("accept", [P, T, "s2", "a3", "o2", NOW + 30004]),
        ("transfer", [P, T, "s1", "a2", "q2", "a3", NOW + 30008, 5000]),
        ("offer", [P, T, "s1", 3, "o4", NOW + 30009, NOW + 60009, ""]),
        ("transfer", [P, T, "s2", "a3", "q2", "", NOW + 30010, 5000]),
        ("offer", [P, T, "s1", 3, "o4", NOW + 30011, NOW + 60011, ""]),
        ("ingest", [*ingest[:4], "m3", "s9", NOW + 30012, *ingest[7:]]),
    ]
    for name, argv in calls:
        expected = real.eval(script_source(name, lib=True), 0, *argv)
        assert desk.run(name, argv) == expected, (name, argv)
    assert _dump(desk.ks.call) == _dump(real.execute_command)
