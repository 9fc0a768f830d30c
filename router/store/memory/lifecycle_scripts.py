"""The session-lifecycle and agent scripts as Python: ``agent_state``, ``close``,
``append_outbound``, ``claim_timers``, ``complete_timer``, ``queue_stats`` and ``bot_handoff``
(``router.store.redis``), ``assign_held`` and ``delete_session`` (``router.store.inbox``).

Each port issues the same commands as its Lua script, in the same order, and returns the same
value; a Lua runtime error (nil arithmetic, concatenating a missing field) raises the script
error Redis would report.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from router.store.base import SCHED_KEY
from router.store.memory.lib import (
    add,
    agent_node,
    arg,
    arm_queue_timer,
    call_fields,
    call_int,
    call_str,
    defined,
    index_session,
    lt,
    lua_or,
    number,
    release_slot,
    script_error,
    sync_ready,
    tonumber,
    tostring,
    truncated,
)
from router.store.memory.lua import ports_by_name

if TYPE_CHECKING:
    from router.store.memory.keyspace import Keyspace


def agent_state(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Change an agent's state (ready / not_ready with reason / logged_out)."""
    p, aid = argv[0], argv[1]
    ak = p + "a:" + aid
    prev = call_str(r, "HGET", ak, "state")
    if prev is None:
        return ["missing"]
    if argv[2] != "":
        if argv[2] == "ready" and prev != "ready":
            r.call("HSET", ak, "idle_since", argv[4])
        r.call("HSET", ak, "state", argv[2], "reason", argv[3])
    sync_ready(r, p, aid)
    a = call_fields(r, "HMGET", ak, "state", "reason", "load", "capacity", "queues")
    return truncated(
        [
            "ok",
            a[0],
            lua_or(a[1], ""),
            tonumber(lua_or(a[2], "0")),
            tonumber(lua_or(a[3], "1")),
            lua_or(a[4], ""),
            prev,
        ]
    )


def _close_release(
    r: Keyspace, p: str, tenant: str, sid: str, now: int | float | None, s: list[str | None]
) -> str:
    """Free whatever agent holds the session being closed; the holder (``""`` for none)."""
    state, agent, offer_agent = s[0], s[1], s[2]
    if state == "assigned" and agent is not None and s[6] == "1":
        # Personal inbox: it never took a slot of the agent.
        r.call("SREM", p + "as:" + agent, sid)
        return agent
    if state == "assigned" and agent is not None:
        release_slot(r, p, agent, sid, arg(now))
        return agent
    if state == "offered" and offer_agent is not None:
        release_slot(r, p, offer_agent, sid, arg(now))
        r.call("ZREM", SCHED_KEY, "offer|" + tenant + "|" + sid + "|" + defined(s[4]))
        return offer_agent
    return ""


def close(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Close a session, releasing whatever agent holds it and opening the reopen window."""
    p, tenant, sid, now = argv[0], argv[1], argv[2], tonumber(argv[4])
    sk = p + "s:" + sid
    s = call_fields(
        r, "HMGET", sk, "state", "agent", "offer_agent", "queue", "offer_id", "inactivity_at",
        "direct", "stream",
    )  # fmt: skip
    if s[0] is None:
        return ["missing"]
    if s[0] == "closed":
        return ["already"]
    if argv[6] != "" and (s[0] != "assigned" or s[1] != argv[6]):
        return ["forbidden", s[0]]
    if argv[7] == "1" and lt(now, tonumber(lua_or(s[5], "0"))):
        return ["active"]
    # A personal-inbox session held for opt-in waits for the user's answer, however long.
    if argv[7] == "1" and s[0] == "new" and s[6] == "1":
        return ["active"]
    holder = _close_release(r, p, tenant, sid, now, s)
    r.call("ZREM", p + "w:" + defined(s[3]), sid)
    r.call("ZREM", SCHED_KEY, "inact|" + tenant + "|" + sid)
    r.call("HINCRBY", sk, "epoch", 1)
    r.call(
        "HSET", sk, "state", "closed", "closed_at", arg(now), "close_reason", argv[3],
        "reopen_until", add(now, tonumber(argv[5])),
    )  # fmt: skip
    r.call("HDEL", sk, "agent", "offer_id", "offer_agent", "offer_expires", "pinned_agent")
    r.call("DEL", p + "dec:" + sid)
    r.call("SREM", p + "so:" + lua_or(s[7], ""), sid)
    return ["closed", s[0], holder, agent_node(r, p, holder), s[3]]


def _recipient_refused(r: Keyspace, p: str, argv: list[str]) -> list[str] | None:
    """``append_outbound``'s checks of the customer: the answer that refuses, or None."""
    account, party = argv[9], argv[10]
    if argv[11] == "1":
        reason = call_str(r, "HGET", p + "unr:" + account, party)
        if reason is not None:
            return ["unreachable", reason]
    if argv[12] != "":
        c = call_fields(r, "HMGET", p + "sms:" + argv[12] + ":" + account, "o:" + party,
                        "b:" + party)  # fmt: skip
        if c[0] is not None or c[1] is not None:
            return ["refused", lua_or(c[0], ""), lua_or(c[1], "")]
    return None


def append_outbound(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Append an outbound message (agent, bot or system) to a session's history, once the
    customer may be written to."""
    p, tenant, sid, now = argv[0], argv[1], argv[2], tonumber(argv[5])
    sk = p + "s:" + sid
    s = call_fields(r, "HMGET", sk, "state", "agent")
    if s[0] is None:
        return ["missing"]
    refused = _recipient_refused(r, p, argv)
    if refused is not None:
        return refused
    if argv[3] != "" and (s[0] != "assigned" or s[1] != argv[3]):
        return ["forbidden", s[0]]
    dk = p + "d:" + argv[7]
    if argv[7] != "":
        prev = call_str(r, "GET", dk)
        if prev is not None:
            return truncated(["dup", tonumber(prev)])
    seq = call_int(r, "RPUSH", p + "h:" + sid, argv[4])
    if argv[7] != "":
        r.call("SET", dk, seq, "EX", arg(tonumber(argv[8])))
    if argv[13] != "":
        r.call("SET", p + "msg:" + argv[13], sid + "|" + tostring(seq), "EX",
               arg(tonumber(argv[14])))  # fmt: skip
    if argv[15] != "":
        member = argv[15] + "|" + tenant + "|" + sid + "|" + tostring(seq)
        r.call("ZADD", SCHED_KEY, add(now, tonumber(argv[16])), member)
    if s[0] != "closed":
        inactivity_at = add(now, tonumber(argv[6]))
        r.call("HSET", sk, "updated_at", arg(now), "inactivity_at", inactivity_at)
        r.call("ZADD", SCHED_KEY, inactivity_at, "inact|" + tenant + "|" + sid)
    return ["ok", seq]


def claim_timers(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Lease due timers: push each lease ms into the future; (new score, members)."""
    now = tonumber(argv[0])
    due = call_fields(
        r,
        "ZRANGEBYSCORE",
        SCHED_KEY,
        "-inf",
        arg(now),
        "LIMIT",
        0,
        arg(tonumber(argv[2])),
    )
    leased = add(now, tonumber(argv[1]))
    for member in due:
        r.call("ZADD", SCHED_KEY, leased, defined(member))
    return [leased, due]


def complete_timer(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Remove a leased timer unless it was re-armed meanwhile (its score changed)."""
    score = call_str(r, "ZSCORE", SCHED_KEY, argv[0])
    if score is not None and tonumber(score) == tonumber(argv[1]):
        r.call("ZREM", SCHED_KEY, argv[0])
        return [1]
    return [0]


def queue_stats(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Live statistics of one queue."""
    p, queue, now = argv[0], argv[1], tonumber(argv[2])
    length = call_int(r, "ZCARD", p + "w:" + queue)
    oldest = call_fields(r, "ZRANGE", p + "w:" + queue, 0, 0, "WITHSCORES")
    longest: int | float = 0
    if len(oldest) > 1 and oldest[1] is not None:
        longest = number(now) - number(tonumber(oldest[1]))
    logged_on = idle = not_ready = working = active = 0
    for aid in call_fields(r, "SMEMBERS", p + "qa:" + queue):
        member = defined(aid)
        a = call_fields(r, "HMGET", p + "a:" + member, "state", "load")
        if a[0] is not None and a[0] != "logged_out" and agent_node(r, p, member) != "":
            logged_on += 1
            load = tonumber(lua_or(a[1], "0"))
            if a[0] == "ready":
                working += 1
                if load == 0:
                    idle += 1
            else:
                not_ready += 1
            if lt(0, load):
                active += 1
    return [length, longest, logged_on, idle, not_ready, working, active]


def bot_handoff(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Hand a self-service conversation from the bot to the agents: with_bot -> queued."""
    p, tenant, sid, now = argv[0], argv[1], argv[2], tonumber(argv[4])
    sk = p + "s:" + sid
    if call_str(r, "HGET", sk, "state") != "with_bot":
        return ["stale", 0]
    epoch = call_int(r, "HINCRBY", sk, "epoch", 1)
    r.call("HSET", sk, "state", "queued", "queued_at", arg(now), "queue", argv[3])
    r.call("ZADD", p + "w:" + argv[3], arg(now), sid)
    index_session(r, p, sid, "q:" + argv[3])
    arm_queue_timer(r, tenant, sid, epoch, add(now, tonumber(argv[5])))
    return ["queued", epoch]


def assign_held(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Assign a held personal-inbox session (state new, direct) to its agent, outside the
    agent's capacity."""
    p, tenant, sid, now = argv[0], argv[1], argv[2], tonumber(argv[4])
    sk = p + "s:" + sid
    s = call_fields(r, "HMGET", sk, "state", "direct")
    if s[0] != "new" or s[1] != "1":
        return ["stale", lua_or(s[0], "")]
    inactivity_at = add(now, tonumber(argv[5]))
    r.call(
        "HSET", sk, "state", "assigned", "agent", argv[3], "last_agent", argv[3],
        "assigned_at", arg(now), "updated_at", arg(now), "inactivity_at", inactivity_at,
    )  # fmt: skip
    r.call("SADD", p + "as:" + argv[3], sid)
    index_session(r, p, sid, "a:" + argv[3])
    r.call("ZADD", SCHED_KEY, inactivity_at, "inact|" + tenant + "|" + sid)
    return ["assigned", agent_node(r, p, argv[3])]


_DECODE_FAILED = object()


def _cjson_decode(text: str) -> object:
    """``pcall(cjson.decode, text)``: the value, or ``_DECODE_FAILED`` when it is not JSON."""
    try:
        return json.loads(text, strict=False)
    except (ValueError, RecursionError):
        return _DECODE_FAILED


def _party_id(party: object) -> str | None:
    """``party.id`` of a decoded party as concatenated into a key; ``None`` when the script
    skips it (not an object, or no truthy id)."""
    if not isinstance(party, dict) or "id" not in party:
        return None
    pid: object = party["id"]
    if pid is False:
        return None
    if isinstance(pid, str):
        return pid
    if isinstance(pid, (int, float)) and not isinstance(pid, bool):
        # cjson numbers are doubles.
        try:
            return tostring(float(pid))
        except OverflowError:
            return tostring(math.copysign(math.inf, pid))
    # JSON null (cjson.null), true, arrays and objects cannot be concatenated.
    raise script_error("attempt to concatenate field 'id'")


def delete_session(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Delete a closed session and everything stored with it; an open one is left alone."""
    p, tenant, sid = argv[0], argv[1], argv[2]
    sk = p + "s:" + sid
    s = call_fields(r, "HMGET", sk, "state", "stream", "party", "channel", "queue", "last_agent")
    if s[0] is None:
        r.call("SREM", p + "sa:" + argv[3], sid)
        return ["missing"]
    if s[0] != "closed":
        return ["open", s[0]]
    pid = _party_id(_cjson_decode(lua_or(s[2], "")))
    if pid is not None:
        ix = p + "ix:" + defined(s[1]) + ":" + pid
        if call_str(r, "GET", ix) == sid:
            r.call("DEL", ix)
        r.call("ZREM", p + "sx:p:" + pid, sid)
    # Search indexes; entries of earlier queues / agents are pruned when a search meets them.
    dims = [
        "t", "s:" + defined(s[1]), "c:" + lua_or(s[3], ""), "q:" + lua_or(s[4], ""),
        "a:" + lua_or(s[5], ""),
    ]  # fmt: skip
    for dim in dims:
        r.call("ZREM", p + "sx:" + dim, sid)
    r.call("DEL", sk, p + "h:" + sid, p + "st:" + sid, p + "dec:" + sid)
    r.call("SREM", p + "sa:" + argv[3], sid)
    r.call("SREM", p + "so:" + defined(s[1]), sid)
    r.call("ZREM", SCHED_KEY, "inact|" + tenant + "|" + sid)
    return ["deleted"]


PORTS = ports_by_name(
    agent_state,
    close,
    append_outbound,
    claim_timers,
    complete_timer,
    queue_stats,
    bot_handoff,
    assign_held,
    delete_session,
    lib=True,
)
