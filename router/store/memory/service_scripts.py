"""The service scripts as Python: ``rate_limit`` (``router.limits``), ``bot_quota``
(``bots.quota``), ``consent_change`` (``router.store.consent``), ``open_outbound``
(``router.store.sms``), and the inline scripts of ``router.store.queue_status`` (a queue
status claim) and ``router.store.inbox`` (creating a number). None of them runs with
``lib.lua``.

Each port issues the same commands as its Lua script, in the same order, and returns the same
value; a Lua runtime error (comparing or adding nil) raises the script error Redis would report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.store.inbox import CREATE_NUMBER_SCRIPT
from router.store.memory.lib import (
    add,
    arg,
    call_fields,
    call_int,
    call_str,
    le,
    lt,
    lua_or,
    tonumber,
)
from router.store.memory.lua import Port, ports_by_name
from router.store.queue_status import CLAIM_SCRIPT

if TYPE_CHECKING:
    from router.store.memory.keyspace import Keyspace


def rate_limit(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Count one inbound message against the tenant's (``keys[0]``) and the party's
    (``keys[1]``) fixed windows: ``[0, 0]`` counted, ``[1 | 2, ms left]`` past a limit."""
    limits = (tonumber(argv[0]), tonumber(argv[1]))
    window = tonumber(argv[2])
    for i in range(2):
        if lt(0, limits[i]):
            used = tonumber(lua_or(call_str(r, "GET", keys[i]), "0"))
            if le(limits[i], used):
                left: int | float = call_int(r, "PTTL", keys[i])
                if left < 0:
                    r.call("PEXPIRE", keys[i], arg(window))
                    left = arg(window)
                return [i + 1, left]
    for i in range(2):
        if lt(0, limits[i]) and (
            call_int(r, "INCR", keys[i]) == 1 or call_int(r, "PTTL", keys[i]) < 0
        ):
            r.call("PEXPIRE", keys[i], arg(window))
    return [0, 0]


def bot_quota(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Take one call from a bot account's daily cap (``keys[0]``): the calls left after this
    one, or -1 (nothing taken) when the cap is reached."""
    cap = tonumber(argv[0])
    used = tonumber(lua_or(call_str(r, "GET", keys[0]), "0"))
    if le(cap, used):
        return -1
    taken = call_int(r, "INCR", keys[0])
    if taken == 1:
        r.call("EXPIRE", keys[0], arg(tonumber(argv[1])))
    return add(cap, -taken)


def consent_change(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Record an opt-out / opt-in of a (channel, account, party) pair if it changes the
    state, with its ledger entries: 1 when changed, else 0."""
    p, ch, acct, party = argv[0], argv[1], argv[2], argv[3]
    key = p + "sms:" + ch + ":" + acct
    if argv[5] == "out":
        changed = r.call("HSETNX", key, "o:" + party, argv[6])
    else:
        changed = r.call("HDEL", key, "o:" + party)
    if changed == 1:
        entry = argv[6]
        r.call("LPUSH", p + "cl", entry)
        r.call("LPUSH", p + "cl:" + ch + ":" + acct, entry)
        r.call("LPUSH", p + "cl:" + ch + ":" + acct + ":" + party, entry)
        r.call("LPUSH", p + "clp:" + argv[4], entry)
    return changed


def open_outbound(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Find or open the session of (stream, party) for an outbound-first message:
    ``["existing" | "new", sid]``."""
    p, now = argv[0], tonumber(argv[4])
    ix = p + "ix:" + argv[1] + ":" + argv[2]
    sid = call_str(r, "GET", ix)
    if sid is not None:
        s = call_fields(r, "HMGET", p + "s:" + sid, "state", "reopen_until")
        if s[0] is not None and (s[0] != "closed" or le(now, tonumber(lua_or(s[1], "0")))):
            return ["existing", sid]
    sid = argv[3]
    reopen_until = add(now, tonumber(argv[11]))
    at = arg(now)
    r.call(
        "HSET", p + "s:" + sid, "id", sid, "stream", argv[1], "channel", argv[5],
        "account", argv[6], "party", argv[7], "state", "closed", "created_at", at,
        "updated_at", at, "epoch", 0, "queue", argv[8], "priority", argv[9], "skills", argv[10],
        "closed_at", at, "close_reason", "outbound", "reopen_until", reopen_until,
    )  # fmt: skip
    r.call("SET", ix, sid)
    for dim in ("t", "s:" + argv[1], "c:" + argv[5], "p:" + argv[2], "q:" + argv[8]):
        r.call("ZADD", p + "sx:" + dim, at, sid)
    if argv[6] != "":
        r.call("SADD", p + "sa:" + argv[6], sid)
    return ["new", sid]


def claim_queue_status(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Claim the emission of a queue's status signature (``argv[0]``): 1 for the one caller
    that should emit it, else 0; holds further emissions for ``argv[1]`` ms."""
    if r.call("EXISTS", keys[1]) == 1:
        return 0
    if r.call("GET", keys[0]) == argv[0]:
        return 0
    r.call("SET", keys[0], argv[0])
    if lt(0, tonumber(argv[1])):
        r.call("SET", keys[1], "1", "PX", argv[1])
    return 1


def create_number(r: Keyspace, keys: list[str], argv: list[str]) -> object:
    """Store a new number for one tenant: 1 when created, 0 when it exists (in this or
    another tenant)."""
    holder = call_str(r, "GET", argv[0])
    if holder is not None and holder != argv[3]:
        return 0
    if r.call("EXISTS", argv[1]) == 1:
        return 0
    r.call("SET", argv[0], argv[3])
    r.call("SET", argv[1], argv[5])
    r.call("SADD", argv[2], argv[4])
    r.call("INCR", argv[6])
    return 1


PORTS: dict[str, Port] = {
    **ports_by_name(rate_limit, bot_quota, consent_change, open_outbound, lib=False),
    CLAIM_SCRIPT: claim_queue_status,
    CREATE_NUMBER_SCRIPT: create_number,
}
