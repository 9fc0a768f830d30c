"""The session routing scripts as Python: ``ingest``, ``offer``, ``accept``, ``release`` and
``transfer`` (``router/store/scripts/*.lua``), each a command-for-command translation run on the
in-process keyspace. ``ARGV[n]`` of the Lua is ``argv[n - 1]`` here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from router.store.base import SCHED_KEY
from router.store.memory.lib import (
    add,
    agent_node,
    arm_queue_timer,
    call_fields,
    call_int,
    call_str,
    defined,
    index_session,
    lua_or,
    number,
    release_slot,
    script_error,
    split,
    sync_ready,
    tonumber,
    tostring,
)
from router.store.memory.lua import ports_by_name

if TYPE_CHECKING:
    from router.store.memory.keyspace import Keyspace

# string.match(prev, "^(.*)|(%d+)$"): "." also matches a newline, "$" is the very end.
_DEDUPE = re.compile(r"(.*)\|([0-9]+)", re.DOTALL)


def _arg(argv: list[str], n: int) -> str | None:
    """``ARGV[n]``, nil when the caller passed fewer arguments."""
    return argv[n - 1] if len(argv) >= n else None


def _dup(r: Keyspace, p: str, prev: str) -> list[object]:
    """The reply to a message seen before: its session as it is now."""
    match = _DEDUPE.fullmatch(prev)
    if match is None:
        raise script_error("attempt to concatenate local 'sid' (a nil value)")
    sid, seq = match.group(1), match.group(2)
    s = call_fields(r, "HMGET", p + "s:" + sid, "state", "agent", "epoch")
    epoch = tonumber(lua_or(s[2], "0"))
    result: list[object] = [
        "dup", sid, tonumber(seq), lua_or(s[0], ""), lua_or(s[1], ""), agent_node(r, p, s[1]),
        epoch, "",
    ]  # fmt: skip
    # A nil in a Lua table constructor ends the reply array there.
    return result if epoch is not None else result[:6]


def _find_or_open(r: Keyspace, argv: list[str], now: int | float | None) -> tuple[str, str]:
    """The session of the stream and party (reopened when the rules allow), else a new one;
    returns (sid, outcome)."""
    p = argv[0]
    ix = p + "ix:" + argv[2] + ":" + argv[3]
    sid = call_str(r, "GET", ix)
    if sid is not None:
        state = call_str(r, "HGET", p + "s:" + sid, "state")
        if state == "closed":
            until = tonumber(lua_or(call_str(r, "HGET", p + "s:" + sid, "reopen_until"), "0"))
            if argv[14] == "1" and number(now) <= number(until):
                return sid, "reopened"
        elif state is not None:
            return sid, "existing"
    sid = argv[5]
    r.call(
        "HSET", p + "s:" + sid, "id", sid, "stream", argv[2], "channel", argv[8],
        "account", argv[9], "party", argv[10], "state", "new", "created_at", number(now),
        "epoch", 0, "queue", argv[11], "priority", argv[12], "skills", argv[13],
    )  # fmt: skip
    r.call("SET", ix, sid)
    if argv[9] != "":
        r.call("SADD", p + "sa:" + argv[9], sid)
    for dim in ("t", "s:" + argv[2], "c:" + argv[8], "p:" + argv[3]):
        index_session(r, p, sid, dim)
    return sid, "new"


def _start(r: Keyspace, argv: list[str], sid: str, now: int | float) -> int:
    """Route a new or reopened session: to the personal-inbox agent, held, to the bot or into
    its queue's waiting line; returns the new epoch."""
    p, tenant = argv[0], argv[1]
    sk = p + "s:" + sid
    epoch = call_int(r, "HINCRBY", sk, "epoch", 1)
    direct_agent = lua_or(_arg(argv, 19), "")
    if direct_agent != "":
        # Personal inbox: straight to the agent, outside its capacity (load untouched).
        r.call(
            "HSET", sk, "state", "assigned", "agent", direct_agent, "last_agent", direct_agent,
            "assigned_at", now, "direct", "1",
        )  # fmt: skip
        r.call("HDEL", sk, "closed_at", "close_reason", "reopen_until")
        r.call("SADD", p + "as:" + direct_agent, sid)
        index_session(r, p, sid, "a:" + direct_agent)
    elif _arg(argv, 20) == "1":
        r.call("HSET", sk, "state", "new", "direct", "1")
        r.call("HDEL", sk, "closed_at", "close_reason", "reopen_until", "agent")
    elif _arg(argv, 21) == "1":
        r.call("HSET", sk, "state", "with_bot", "queue", argv[11])
        r.call("HDEL", sk, "closed_at", "close_reason", "reopen_until", "agent")
    else:
        queue = defined(call_str(r, "HGET", sk, "queue"))
        r.call("HSET", sk, "state", "queued", "queued_at", now)
        r.call("HDEL", sk, "closed_at", "close_reason", "reopen_until", "agent")
        r.call("ZADD", p + "w:" + queue, now, sid)
        arm_queue_timer(r, tenant, sid, epoch, add(now, tonumber(argv[17])))
    index_session(r, p, sid, "q:" + lua_or(call_str(r, "HGET", sk, "queue"), ""))
    r.call("SADD", p + "so:" + argv[2], sid)
    return epoch


def ingest(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """File one inbound message under its session (``ingest.lua``)."""
    p, tenant, now = argv[0], argv[1], tonumber(argv[6])
    dk = p + "d:" + argv[4]
    if argv[4] != "":
        prev = call_str(r, "GET", dk)
        if prev is not None:
            return _dup(r, p, prev)
    sid, outcome = _find_or_open(r, argv, now)
    sk = p + "s:" + sid
    seq = call_int(r, "RPUSH", p + "h:" + sid, argv[7])
    if argv[4] != "":
        r.call("SET", dk, sid + "|" + tostring(seq), "EX", number(tonumber(argv[16])))
    inactivity_at = add(now, tonumber(argv[15]))
    r.call("HSET", sk, "updated_at", number(now), "inactivity_at", inactivity_at)
    r.call("ZADD", SCHED_KEY, inactivity_at, "inact|" + tenant + "|" + sid)
    epoch = tonumber(lua_or(call_str(r, "HGET", sk, "epoch"), "0"))
    if outcome != "existing":
        epoch = _start(r, argv, sid, number(now))
    s = call_fields(r, "HMGET", sk, "state", "agent", "last_agent")
    result: list[object] = [
        outcome, sid, seq, s[0], lua_or(s[1], ""), agent_node(r, p, s[1]), epoch,
        lua_or(s[2], ""),
    ]  # fmt: skip
    return result if epoch is not None else result[:6]


def _eligible(r: Keyspace, p: str, skills: list[str], aid: str) -> str | None:
    """The agent's node when it is ready with a free slot and every skill, else ``None``."""
    a = call_fields(r, "HMGET", p + "a:" + aid, "state", "load", "capacity")
    if a[0] != "ready":
        return None
    if number(tonumber(lua_or(a[1], "0"))) >= number(tonumber(lua_or(a[2], "1"))):
        return None
    node = agent_node(r, p, aid)
    if node == "":
        return None
    for skill in skills:
        if r.call("SISMEMBER", p + "ask:" + aid, skill) == 0:
            return None
    return node


def _longest_idle(
    r: Keyspace, p: str, sid: str, skills: list[str], ready: list[str | None]
) -> tuple[str, str] | None:
    """The first eligible agent of the ready line, those who declined the session last;
    (agent, node)."""
    declined = p + "dec:" + sid
    for pass_number in (1, 2):
        for aid in ready:
            aid = defined(aid)
            if pass_number == 2 or r.call("SISMEMBER", declined, aid) == 0:
                node = _eligible(r, p, skills, aid)
                if node is not None:
                    return aid, node
    return None


def _choose(r: Keyspace, argv: list[str], s: list[str | None]) -> tuple[str, str] | str:
    """The agent for the offer as (agent, node), or the outcome when there is none."""
    p, sid = argv[0], argv[2]
    queue = s[4]
    skills = split(s[3])
    pinned = s[2]
    if pinned is not None and pinned != "":
        node = _eligible(r, p, skills, pinned)
        return (pinned, node) if node is not None else "none"
    preferred = argv[7]
    if preferred != "" and r.call("SISMEMBER", p + "qa:" + defined(queue), preferred) == 1:
        node = _eligible(r, p, skills, preferred)
        if node is not None:
            return preferred, node
    ready = call_fields(r, "ZRANGE", p + "r:" + defined(queue), 0, -1)
    if len(ready) == 0:
        return "noagents"
    return _longest_idle(r, p, sid, skills, ready) or "none"


def offer(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Offer a queued session to one agent (``offer.lua``)."""
    p, tenant, sid, now = argv[0], argv[1], argv[2], tonumber(argv[5])
    sk = p + "s:" + sid
    s = call_fields(r, "HMGET", sk, "state", "epoch", "pinned_agent", "skills", "queue")
    if s[0] != "queued" or s[1] != argv[3]:
        return ["stale"]
    choice = _choose(r, argv, s)
    if isinstance(choice, str):
        return [choice]
    chosen, node = choice
    ak = p + "a:" + chosen
    r.call("HINCRBY", ak, "load", 1)
    # Rotate: an agent with capacity left goes to the back of the ready line.
    r.call("HSET", ak, "idle_since", number(now))
    r.call("SADD", p + "as:" + chosen, sid)
    sync_ready(r, p, chosen)
    r.call(
        "HSET", sk, "state", "offered", "offer_id", argv[4], "offer_agent", chosen,
        "offer_expires", argv[6],
    )  # fmt: skip
    r.call(
        "ZADD", SCHED_KEY, number(tonumber(argv[6])),
        "offer|" + tenant + "|" + sid + "|" + argv[4],
    )  # fmt: skip
    return ["offered", chosen, node]


def accept(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """The offered agent accepts: the session becomes assigned to it (``accept.lua``)."""
    p, tenant, sid = argv[0], argv[1], argv[2]
    sk = p + "s:" + sid
    s = call_fields(r, "HMGET", sk, "state", "offer_id", "offer_agent", "queue", "offer_expires")
    if s[0] != "offered" or s[1] != argv[4] or s[2] != argv[3]:
        return ["invalid", lua_or(s[0], "")]
    if number(tonumber(lua_or(s[4], "0"))) < number(tonumber(argv[5])):
        return ["expired", s[0]]
    r.call(
        "HSET", sk, "state", "assigned", "agent", argv[3], "last_agent", argv[3],
        "assigned_at", argv[5],
    )  # fmt: skip
    r.call("HDEL", sk, "offer_id", "offer_agent", "offer_expires", "pinned_agent")
    r.call("ZREM", p + "w:" + defined(s[3]), sid)
    r.call("ZREM", SCHED_KEY, "offer|" + tenant + "|" + sid + "|" + argv[4])
    r.call("DEL", p + "dec:" + sid)
    index_session(r, p, sid, "a:" + argv[3])
    return ["assigned", s[3]]


def release(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """An offer ends without acceptance: free the slot, requeue (``release.lua``)."""
    p, tenant, sid, now = argv[0], argv[1], argv[2], tonumber(argv[6])
    sk = p + "s:" + sid
    s = call_fields(r, "HMGET", sk, "state", "offer_id", "offer_agent", "offer_expires")
    if s[0] != "offered" or s[1] != argv[3]:
        return ["stale"]
    if argv[4] != "" and s[2] != argv[4]:
        return ["stale"]
    if argv[5] == "1" and number(tonumber(lua_or(s[3], "0"))) > number(now):
        return ["early"]
    aid = defined(s[2])
    if argv[5] == "1" and r.call("HGET", p + "a:" + aid, "state") == "ready":
        r.call("HSET", p + "a:" + aid, "state", "not_ready", "reason", argv[7])
    release_slot(r, p, aid, sid, number(now))
    r.call("SADD", p + "dec:" + sid, aid)
    r.call("EXPIRE", p + "dec:" + sid, 86400)
    epoch = call_int(r, "HINCRBY", sk, "epoch", 1)
    r.call("HSET", sk, "state", "queued")
    r.call("HDEL", sk, "offer_id", "offer_agent", "offer_expires")
    r.call("ZREM", SCHED_KEY, "offer|" + tenant + "|" + sid + "|" + argv[3])
    arm_queue_timer(r, tenant, sid, epoch, add(now, tonumber(argv[8])))
    a = call_fields(r, "HMGET", p + "a:" + aid, "state", "reason", "load", "capacity")
    load, capacity = tonumber(a[2]), tonumber(a[3])
    result = [
        "requeued",
        aid,
        epoch,
        agent_node(r, p, aid),
        a[0],
        lua_or(a[1], ""),
        load,
        capacity,
        call_str(r, "HGET", sk, "queue"),
    ]
    # A nil in a Lua table constructor ends the reply array there.
    if load is None:
        return result[:6]
    if capacity is None:
        return result[:7]
    return result


def transfer(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """The assigned agent hands the session to another queue or agent (``transfer.lua``)."""
    p, tenant, sid, now = argv[0], argv[1], argv[2], tonumber(argv[6])
    sk = p + "s:" + sid
    s = call_fields(r, "HMGET", sk, "state", "agent", "queue")
    if s[0] != "assigned" or s[1] != argv[3]:
        return ["forbidden", lua_or(s[0], "")]
    release_slot(r, p, argv[3], sid, number(now))
    epoch = call_int(r, "HINCRBY", sk, "epoch", 1)
    r.call(
        "HSET", sk, "state", "queued", "queue", argv[4], "queued_at", number(now),
        "pinned_agent", argv[5],
    )  # fmt: skip
    r.call("HDEL", sk, "agent")
    r.call("ZADD", p + "w:" + argv[4], number(now), sid)
    index_session(r, p, sid, "q:" + argv[4])
    arm_queue_timer(r, tenant, sid, epoch, add(now, tonumber(argv[7])))
    return ["requeued", epoch, s[2]]


PORTS = ports_by_name(ingest, offer, accept, release, transfer, lib=True)
