"""The lifecycle script ports (``router.store.memory.lifecycle_scripts``) run directly on a
``Keyspace``: each case seeds the data, runs one port and checks its reply and what it wrote.
With ``--redis-url`` every case also runs the original Lua script on a real Redis, and the
reply and the whole resulting database must be the same on both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import redis
from redis.exceptions import ResponseError

from router.store.memory.keyspace import Keyspace
from router.store.memory.lifecycle_scripts import PORTS
from router.store.memory.lua import Reply, script_source, to_reply

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

P = "sb:acme:"
T = "acme"
ERROR = "error"  # the expected reply of a case whose script fails

Command = tuple[str | int | float, ...]


def hset(key: str, **fields: str | int) -> Command:
    """An HSET of ``fields`` (names that are Python identifiers)."""
    return ("HSET", key, *(word for pair in fields.items() for word in pair))


@dataclass(frozen=True)
class Case:
    """Seed commands, then ``script`` with ``argv``; ``reply`` is what it must answer (or
    ``ERROR``), ``after`` maps commands run afterwards to their expected replies."""

    id: str
    script: str
    argv: tuple[str, ...]
    reply: Any
    seed: tuple[Command, ...] = ()
    after: tuple[tuple[Command, Any], ...] = ()


AGENT_ANN = hset(P + "a:ann", state="ready", load=1, capacity=1, queues="support", idle_since=0)
ASSIGNED = hset(
    P + "s:1", state="assigned", agent="ann", queue="support", inactivity_at=9000, epoch=2
)
# append_outbound without an outbox timer (arguments 16 and 17), and without the customer's
# checks either (arguments 10 to 17); ann's reply in "1".
NO_TIMER = ("", "15000")
NO_CHECKS = ("", "", "0", "", "", "7776000", *NO_TIMER)
ANN_REPLY = (P, T, "1", "ann", "{}", "5000", "600000", "", "86400")
BOB_REPLY = (P, T, "1", "bob", "{}", "5000", "600000", "", "86400")
ANY_REPLY = (P, T, "1", "", "{}", "5000", "600000", "", "86400")  # not by an agent
CLOSED = hset(
    P + "s:1", state="closed", stream="web", channel="sms", queue="support", last_agent="ann"
)

CASES = (
    # -- agent_state -------------------------------------------------------------------------
    Case(
        "agent_state ready joins the ready lines",
        "agent_state",
        (P, "ann", "ready", "", "1000"),
        ["ok", "ready", "", 0, 2, "support,billing", "not_ready"],
        seed=(
            hset(
                P + "a:ann",
                state="not_ready",
                reason="Lunch",
                load=0,
                capacity=2,
                queues="support,billing",
                idle_since=5,
            ),
        ),
        after=(
            (("ZRANGE", P + "r:support", 0, -1, "WITHSCORES"), ["ann", "1000"]),
            (("ZRANGE", P + "r:billing", 0, -1, "WITHSCORES"), ["ann", "1000"]),
            (("HGET", P + "a:ann", "idle_since"), "1000"),
        ),
    ),
    Case(
        "agent_state not_ready leaves the ready lines",
        "agent_state",
        (P, "ann", "not_ready", "Lunch", "2000"),
        ["ok", "not_ready", "Lunch", 0, 1, "support", "ready"],
        seed=(
            hset(P + "a:ann", state="ready", load=0, capacity=1, queues="support", idle_since=7),
            ("ZADD", P + "r:support", 7, "ann"),
        ),
        after=(
            (("EXISTS", P + "r:support"), 0),
            (("HGET", P + "a:ann", "idle_since"), "7"),
        ),
    ),
    Case(
        "agent_state keeps the state when none is given",
        "agent_state",
        (P, "ann", "", "", "3000"),
        ["ok", "ready", "", 1, 1, "support", "ready"],
        seed=(AGENT_ANN, ("ZADD", P + "r:support", 0, "ann")),
        after=((("EXISTS", P + "r:support"), 0),),
    ),
    Case(
        "agent_state of an unknown agent",
        "agent_state",
        (P, "nobody", "ready", "", "1000"),
        ["missing"],
    ),
    Case(
        "agent_state reply stops at a load that is not a number",
        "agent_state",
        (P, "ann", "", "", "1000"),
        ["ok", "not_ready", ""],
        seed=(hset(P + "a:ann", state="not_ready", load="many"),),
    ),
    Case(
        "agent_state fractional load is truncated in the reply",
        "agent_state",
        (P, "ann", "", "", "1000"),
        ["ok", "ready", "", 1, 2, "support", "ready"],
        seed=(
            hset(
                P + "a:ann", state="ready", load="1.5", capacity=2, queues="support", idle_since=4
            ),
        ),
        after=((("ZSCORE", P + "r:support", "ann"), "4"),),
    ),
    # -- close -------------------------------------------------------------------------------
    Case(
        "close an assigned session releases the agent's slot and leaves its stream's open ones",
        "close",
        (P, T, "1", "agent", "5000", "60000", "", "0"),
        ["closed", "assigned", "ann", "node1", "support"],
        seed=(
            ASSIGNED,
            hset(P + "s:1", stream="web"),
            ("SADD", P + "so:web", "1", "2"),
            AGENT_ANN,
            ("SADD", P + "as:ann", "1", "2"),
            ("SET", P + "on:ann", "node1"),
            ("SET", P + "dec:1", "x"),
            ("ZADD", "sb:sched", 9000, "inact|acme|1", 100, "queue|acme|2|1"),
        ),
        after=(
            (
                ("HGETALL", P + "a:ann"),
                {
                    "state": "ready",
                    "load": "0",
                    "capacity": "1",
                    "queues": "support",
                    "idle_since": "5000",
                },
            ),
            (("ZRANGE", P + "r:support", 0, -1, "WITHSCORES"), ["ann", "5000"]),
            (("SMEMBERS", P + "as:ann"), ["2"]),
            (("SMEMBERS", P + "so:web"), ["2"]),
            (
                ("HGETALL", P + "s:1"),
                {
                    "state": "closed",
                    "stream": "web",
                    "queue": "support",
                    "inactivity_at": "9000",
                    "epoch": "3",
                    "closed_at": "5000",
                    "close_reason": "agent",
                    "reopen_until": "65000",
                },
            ),
            (("ZRANGE", "sb:sched", 0, -1), ["queue|acme|2|1"]),
            (("EXISTS", P + "dec:1"), 0),
        ),
    ),
    Case(
        "close a personal-inbox session leaves the agent's load alone",
        "close",
        (P, T, "1", "customer", "5000", "1000", "", "0"),
        ["closed", "assigned", "ann", "", "support"],
        seed=(ASSIGNED, hset(P + "s:1", direct="1"), AGENT_ANN, ("SADD", P + "as:ann", "1")),
        after=(
            (("HGET", P + "a:ann", "load"), "1"),
            (("EXISTS", P + "as:ann"), 0),
            (("HGET", P + "s:1", "reopen_until"), "6000"),
        ),
    ),
    Case(
        "close an offered session frees the offered agent and its offer timer",
        "close",
        (P, T, "1", "customer", "5000", "1000", "", "0"),
        ["closed", "offered", "bob", "", "support"],
        seed=(
            hset(
                P + "s:1",
                state="offered",
                offer_agent="bob",
                offer_id="o1",
                offer_expires=7000,
                queue="support",
            ),
            hset(P + "a:bob", state="ready", load=1, capacity=1, queues="support"),
            ("ZADD", "sb:sched", 7000, "offer|acme|1|o1", 8000, "offer|acme|1|o2"),
        ),
        after=(
            (("ZRANGE", "sb:sched", 0, -1), ["offer|acme|1|o2"]),
            (("HMGET", P + "s:1", "offer_agent", "offer_id", "offer_expires"), [None, None, None]),
            (("ZSCORE", P + "r:support", "bob"), "5000"),
        ),
    ),
    Case(
        "close a queued session takes it off the waiting line",
        "close",
        (P, T, "1", "customer", "5000", "1000", "", "0"),
        ["closed", "queued", "", "", "support"],
        seed=(
            hset(P + "s:1", state="queued", queue="support"),
            ("ZADD", P + "w:support", 10, "1", 20, "2"),
        ),
        after=((("ZRANGE", P + "w:support", 0, -1), ["2"]),),
    ),
    Case(
        "close by another agent is forbidden",
        "close",
        (P, T, "1", "agent", "5000", "1000", "bob", "0"),
        ["forbidden", "assigned"],
        seed=(ASSIGNED,),
        after=((("HGET", P + "s:1", "state"), "assigned"),),
    ),
    Case(
        "close a missing session",
        "close",
        (P, T, "1", "agent", "5000", "1000", "", "0"),
        ["missing"],
    ),
    Case(
        "close a closed session",
        "close",
        (P, T, "1", "agent", "5000", "1000", "", "0"),
        ["already"],
        seed=(CLOSED,),
    ),
    Case(
        "close only if inactive leaves an active session",
        "close",
        (P, T, "1", "inactivity", "5000", "1000", "", "1"),
        ["active"],
        seed=(ASSIGNED,),
    ),
    Case(
        "close only if inactive closes an inactive session",
        "close",
        (P, T, "1", "inactivity", "9001", "1000", "", "1"),
        ["closed", "assigned", "ann", "", "support"],
        seed=(ASSIGNED, AGENT_ANN),
    ),
    Case(
        "close only if inactive leaves a held personal-inbox session",
        "close",
        (P, T, "1", "inactivity", "9001", "1000", "", "1"),
        ["active"],
        seed=(hset(P + "s:1", state="new", direct="1", queue="support"),),
    ),
    Case(
        "close an offered session without offer id fails after freeing the agent",
        "close",
        (P, T, "1", "customer", "5000", "1000", "", "0"),
        ERROR,
        seed=(
            hset(P + "s:1", state="offered", offer_agent="bob", queue="support"),
            hset(P + "a:bob", state="not_ready", load=1, capacity=1),
        ),
        after=((("HGET", P + "a:bob", "load"), "0"), (("HGET", P + "s:1", "state"), "offered")),
    ),
    Case(
        "close a session without queue fails",
        "close",
        (P, T, "1", "customer", "5000", "1000", "", "0"),
        ERROR,
        seed=(hset(P + "s:1", state="new"),),
        after=((("HGET", P + "s:1", "state"), "new"),),
    ),
    # -- append_outbound ---------------------------------------------------------------------
    Case(
        "append_outbound by the assigned agent",
        "append_outbound",
        (P, T, "1", "ann", '{"text":"hi"}', "5000", "600000", "k1", "86400", *NO_CHECKS),
        ["ok", 2],
        seed=(ASSIGNED, ("RPUSH", P + "h:1", "first")),
        after=(
            (("LRANGE", P + "h:1", 0, -1), ["first", '{"text":"hi"}']),
            (("GET", P + "d:k1"), "2"),
            (("HMGET", P + "s:1", "updated_at", "inactivity_at"), ["5000", "605000"]),
            (("ZSCORE", "sb:sched", "inact|acme|1"), "605000"),
        ),
    ),
    Case(
        "append_outbound with a seen dedupe key",
        "append_outbound",
        (P, T, "1", "", "{}", "5000", "600000", "k1", "86400", *NO_CHECKS),
        ["dup", 7],
        seed=(ASSIGNED, ("SET", P + "d:k1", "7")),
        after=((("EXISTS", P + "h:1"), 0),),
    ),
    Case(
        "append_outbound dup reply stops at a stored value that is not a number",
        "append_outbound",
        (P, T, "1", "", "{}", "5000", "600000", "k1", "86400", *NO_CHECKS),
        ["dup"],
        seed=(ASSIGNED, ("SET", P + "d:k1", "seven")),
    ),
    Case(
        "append_outbound to a closed session keeps its timers",
        "append_outbound",
        (P, T, "1", "", "{}", "5000", "600000", "", "86400", *NO_CHECKS),
        ["ok", 1],
        seed=(CLOSED,),
        after=(
            (("HMGET", P + "s:1", "updated_at", "inactivity_at"), [None, None]),
            (("EXISTS", "sb:sched"), 0),
            (("EXISTS", P + "d:"), 0),
        ),
    ),
    Case(
        "append_outbound by another agent is forbidden",
        "append_outbound",
        (P, T, "1", "bob", "{}", "5000", "600000", "", "86400", *NO_CHECKS),
        ["forbidden", "assigned"],
        seed=(ASSIGNED,),
    ),
    Case(
        "append_outbound to a missing session",
        "append_outbound",
        (P, T, "1", "", "{}", "5000", "600000", "", "86400", *NO_CHECKS),
        ["missing"],
    ),
    Case(
        "append_outbound refuses a party the account cannot reach",
        "append_outbound",
        (*BOB_REPLY, "fb", "42", "1", "", "", "60", *NO_TIMER),
        ["unreachable", "blocked the page"],
        seed=(ASSIGNED, ("HSET", P + "unr:fb", "42", "blocked the page")),
        after=((("EXISTS", P + "h:1"), 0),),
    ),
    Case(
        "append_outbound to a missing session is missing before any check",
        "append_outbound",
        (*ANY_REPLY, "fb", "42", "1", "sms", "m1", "60", *NO_TIMER),
        ["missing"],
        seed=(("HSET", P + "unr:fb", "42", "gone"),),
    ),
    Case(
        "append_outbound refuses an opted-out SMS pair",
        "append_outbound",
        (*ANN_REPLY, "n1", "+1312", "1", "sms", "m1", "60", *NO_TIMER),
        ["refused", '{"out":1}', ""],
        seed=(ASSIGNED, ("HSET", P + "sms:sms:n1", "o:+1312", '{"out":1}')),
        after=((("EXISTS", P + "h:1"), 0), (("EXISTS", P + "msg:m1"), 0)),
    ),
    Case(
        "append_outbound refuses a blocked SMS pair",
        "append_outbound",
        (*ANN_REPLY, "n1", "+1312", "0", "sms", "", "60", *NO_TIMER),
        ["refused", "", '{"b":1}'],
        seed=(ASSIGNED, ("HSET", P + "sms:sms:n1", "b:+1312", '{"b":1}', "b:+1999", "x")),
    ),
    Case(
        "append_outbound indexes an SMS message that passed its checks",
        "append_outbound",
        (*ANN_REPLY, "n1", "+1312", "1", "sms", "m1", "60", *NO_TIMER),
        ["ok", 2],
        seed=(ASSIGNED, ("RPUSH", P + "h:1", "first"), ("HSET", P + "sms:sms:n1", "o:+1999", "x")),
        after=((("GET", P + "msg:m1"), "1|2"), (("TTL", P + "msg:m1"), 60)),
    ),
    Case(
        "append_outbound sets the outbox timer of a message to be sent",
        "append_outbound",
        (*ANN_REPLY, *NO_CHECKS[:6], "sendc", "15000"),
        ["ok", 2],
        seed=(ASSIGNED, ("RPUSH", P + "h:1", "first")),
        after=((("ZSCORE", "sb:sched", "sendc|acme|1|2"), "20000"),),
    ),
    Case(
        "append_outbound to a closed session still sets its outbox timer",
        "append_outbound",
        (P, T, "1", "", "{}", "5000", "600000", "", "86400", *NO_CHECKS[:6], "send", "15000"),
        ["ok", 1],
        seed=(CLOSED,),
        after=(
            (("ZRANGE", "sb:sched", 0, -1, "WITHSCORES"), ["send|acme|1|1", "20000"]),
            (("HMGET", P + "s:1", "updated_at", "inactivity_at"), [None, None]),
        ),
    ),
    # -- timers ------------------------------------------------------------------------------
    Case(
        "claim_timers leases the due timers up to the limit",
        "claim_timers",
        ("250", "30000", "2"),
        [30250, ["a", "b"]],
        seed=(("ZADD", "sb:sched", 100, "a", 200, "b", 210, "c", 300, "d"),),
        after=(
            (
                ("ZRANGE", "sb:sched", 0, -1, "WITHSCORES"),
                ["c", "210", "d", "300", "a", "30250", "b", "30250"],
            ),
        ),
    ),
    Case(
        "claim_timers with a fractional lease truncates the reply, not the score",
        "claim_timers",
        ("250", "0.5", "10"),
        [250, ["a"]],
        seed=(("ZADD", "sb:sched", 100, "a"),),
        after=((("ZSCORE", "sb:sched", "a"), "250.5"),),
    ),
    Case(
        "claim_timers with nothing due",
        "claim_timers",
        ("50", "30000", "10"),
        [30050, []],
        seed=(("ZADD", "sb:sched", 100, "a"),),
    ),
    Case(
        "complete_timer removes an unchanged timer",
        "complete_timer",
        ("a", "30250.0"),
        [1],
        seed=(("ZADD", "sb:sched", 30250, "a", 1, "b"),),
        after=((("ZRANGE", "sb:sched", 0, -1), ["b"]),),
    ),
    Case(
        "complete_timer keeps a re-armed timer",
        "complete_timer",
        ("a", "30250"),
        [0],
        seed=(("ZADD", "sb:sched", 40000, "a"),),
        after=((("ZSCORE", "sb:sched", "a"), "40000"),),
    ),
    Case("complete_timer of a gone timer", "complete_timer", ("a", "1"), [0]),
    # -- queue_stats -------------------------------------------------------------------------
    Case(
        "queue_stats counts the waiting line and the agents",
        "queue_stats",
        (P, "support", "10000"),
        [2, 7500, 3, 1, 1, 2, 2],
        seed=(
            ("ZADD", P + "w:support", 2500, "s1", 4000, "s2"),
            ("SADD", P + "qa:support", "idle", "busy", "paused", "away", "gone", "ghost"),
            hset(P + "a:idle", state="ready", load=0),
            hset(P + "a:busy", state="ready", load=1),
            hset(P + "a:paused", state="not_ready", load=2),
            hset(P + "a:away", state="ready", load=0),
            hset(P + "a:gone", state="logged_out", load=0),
            *(("SET", P + "on:" + aid, "n1") for aid in ("idle", "busy", "paused", "gone")),
        ),
    ),
    Case(
        "queue_stats of an empty queue",
        "queue_stats",
        (P, "support", "10000"),
        [0, 0, 0, 0, 0, 0, 0],
    ),
    Case(
        "queue_stats fails on a load that is not a number",
        "queue_stats",
        (P, "support", "10000"),
        ERROR,
        seed=(
            ("SADD", P + "qa:support", "odd"),
            hset(P + "a:odd", state="ready", load="x"),
            ("SET", P + "on:odd", "n1"),
        ),
    ),
    # -- bot_handoff -------------------------------------------------------------------------
    Case(
        "bot_handoff queues a session with the bot",
        "bot_handoff",
        (P, T, "1", "support", "5000", "250"),
        ["queued", 4],
        seed=(hset(P + "s:1", state="with_bot", epoch=3, created_at=100, queue="bots"),),
        after=(
            (("HMGET", P + "s:1", "state", "queued_at", "queue"), ["queued", "5000", "support"]),
            (("ZRANGE", P + "w:support", 0, -1, "WITHSCORES"), ["1", "5000"]),
            (("ZRANGE", P + "sx:q:support", 0, -1, "WITHSCORES"), ["1", "100"]),
            (("ZRANGE", "sb:sched", 0, -1, "WITHSCORES"), ["queue|acme|1|4", "5250"]),
        ),
    ),
    Case(
        "bot_handoff of a session no longer with the bot",
        "bot_handoff",
        (P, T, "1", "support", "5000", "250"),
        ["stale", 0],
        seed=(ASSIGNED,),
        after=((("HGET", P + "s:1", "epoch"), "2"),),
    ),
    # -- assign_held -------------------------------------------------------------------------
    Case(
        "assign_held assigns a held session outside the agent's capacity",
        "assign_held",
        (P, T, "1", "ann", "5000", "600000"),
        ["assigned", "node1"],
        seed=(
            hset(P + "s:1", state="new", direct="1", created_at=100),
            AGENT_ANN,
            ("SET", P + "on:ann", "node1"),
        ),
        after=(
            (
                (
                    "HMGET",
                    P + "s:1",
                    "state",
                    "agent",
                    "last_agent",
                    "assigned_at",
                    "updated_at",
                    "inactivity_at",
                ),
                ["assigned", "ann", "ann", "5000", "5000", "605000"],
            ),
            (("SMEMBERS", P + "as:ann"), ["1"]),
            (("HGET", P + "a:ann", "load"), "1"),
            (("ZRANGE", P + "sx:a:ann", 0, -1, "WITHSCORES"), ["1", "100"]),
            (("ZRANGE", "sb:sched", 0, -1, "WITHSCORES"), ["inact|acme|1", "605000"]),
        ),
    ),
    Case(
        "assign_held of a session that is not held",
        "assign_held",
        (P, T, "1", "ann", "5000", "600000"),
        ["stale", "assigned"],
        seed=(ASSIGNED, hset(P + "s:1", direct="1")),
    ),
    Case(
        "assign_held of a missing session",
        "assign_held",
        (P, T, "1", "ann", "5000", "600000"),
        ["stale", ""],
    ),
    # -- delete_session ----------------------------------------------------------------------
    Case(
        "delete_session removes a closed session and its indexes",
        "delete_session",
        (P, T, "1", "5551234567"),
        ["deleted"],
        seed=(
            CLOSED,
            hset(P + "s:1", party='{"id":"+15550001111","name":"Ann"}'),
            ("RPUSH", P + "h:1", "m1"),
            ("HSET", P + "st:1", "1", "delivered"),
            ("SET", P + "ix:web:+15550001111", "1"),
            ("SADD", P + "sa:5551234567", "1", "2"),
            ("SADD", P + "so:web", "1", "2"),  # left behind (the backfill met it open)
            ("ZADD", "sb:sched", 9000, "inact|acme|1"),
            *(
                ("ZADD", P + "sx:" + dim, 100, "1", 200, "2")
                for dim in ("t", "s:web", "c:sms", "q:support", "a:ann", "p:+15550001111")
            ),
        ),
        after=(
            (("SMEMBERS", P + "sa:5551234567"), ["2"]),
            (("SMEMBERS", P + "so:web"), ["2"]),
            (("ZRANGE", P + "sx:p:+15550001111", 0, -1), ["2"]),
            (("ZRANGE", P + "sx:t", 0, -1), ["2"]),
            (("EXISTS", P + "s:1", P + "h:1", P + "st:1", P + "ix:web:+15550001111"), 0),
            (("EXISTS", "sb:sched"), 0),
        ),
    ),
    Case(
        "delete_session keeps the party's index of a newer session",
        "delete_session",
        (P, T, "1", "acct"),
        ["deleted"],
        seed=(CLOSED, hset(P + "s:1", party='{"id":"p"}'), ("SET", P + "ix:web:p", "9")),
        after=((("GET", P + "ix:web:p"), "9"),),
    ),
    Case(
        "delete_session with a numeric party id uses Lua's number text",
        "delete_session",
        (P, T, "1", "acct"),
        ["deleted"],
        seed=(
            CLOSED,
            hset(P + "s:1", party='{"id": 12345678901234567}'),
            ("SET", P + "ix:web:1.2345678901235e+16", "1"),
            ("ZADD", P + "sx:p:1.2345678901235e+16", 1, "1", 2, "2"),
        ),
        after=(
            (("EXISTS", P + "ix:web:1.2345678901235e+16"), 0),
            (("ZRANGE", P + "sx:p:1.2345678901235e+16", 0, -1), ["2"]),
        ),
    ),
    Case(
        "delete_session with a party that is not JSON skips the party indexes",
        "delete_session",
        (P, T, "1", "acct"),
        ["deleted"],
        seed=(CLOSED, hset(P + "s:1", party="{not json"), ("SET", P + "ix:web:p", "1")),
        after=((("GET", P + "ix:web:p"), "1"),),
    ),
    Case(
        "delete_session with a null party id fails",
        "delete_session",
        (P, T, "1", "acct"),
        ERROR,
        seed=(CLOSED, hset(P + "s:1", party='{"id": null}')),
        after=((("HGET", P + "s:1", "state"), "closed"),),
    ),
    Case(
        "delete_session of an open session",
        "delete_session",
        (P, T, "1", "acct"),
        ["open", "assigned"],
        seed=(ASSIGNED, ("SADD", P + "sa:acct", "1")),
        after=((("SMEMBERS", P + "sa:acct"), ["1"]),),
    ),
    Case(
        "delete_session of a missing session forgets it for the account",
        "delete_session",
        (P, T, "1", "acct"),
        ["missing"],
        seed=(("SADD", P + "sa:acct", "1", "2"),),
        after=((("SMEMBERS", P + "sa:acct"), ["2"]),),
    ),
)


def _run_port(ks: Keyspace, case: Case) -> Reply:
    port = PORTS[script_source(case.script, lib=True)]
    return to_reply(port(ks, [], list(case.argv)))


def _seeded(case: Case) -> Keyspace:
    ks = Keyspace()
    for command in case.seed:
        ks.call(*command)
    return ks


def _hash(reply: Any) -> dict[str, str]:
    items = list(reply)
    return dict(zip(items[::2], items[1::2], strict=True))


def _read(ks: Keyspace, command: Command) -> Any:
    reply = ks.call(*command)
    name = str(command[0]).upper()
    if name == "HGETALL":
        return _hash(reply)
    if name == "SMEMBERS":
        return sorted(reply)  # type: ignore[arg-type]
    return reply


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_port(case: Case) -> None:
    ks = _seeded(case)
    if case.reply == ERROR:
        with pytest.raises(ResponseError):
            _run_port(ks, case)
    else:
        assert _run_port(ks, case) == case.reply
    for command, expected in case.after:
        assert _read(ks, command) == expected, command


def test_every_lifecycle_script_has_a_port_and_a_case() -> None:
    names = {
        "agent_state",
        "close",
        "append_outbound",
        "claim_timers",
        "complete_timer",
        "queue_stats",
        "bot_handoff",
        "assign_held",
        "delete_session",
    }
    assert set(PORTS) == {script_source(name, lib=True) for name in names}
    assert {case.script for case in CASES} == names


# -- the same cases on a real Redis running the Lua ----------------------------------------


@pytest.fixture
def real(redis_url: str) -> Iterator[redis.Redis]:
    # RESP2 and no reply callbacks: replies as the Lua scripts and the Keyspace see them.
    client = redis.Redis.from_url(redis_url, decode_responses=True, protocol=2)
    client.response_callbacks.clear()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _dump_key(call: Callable[..., Any], key: str) -> tuple[str, Any, bool]:
    """A key's type, content (hashes as dicts, sets sorted) and whether it expires."""
    kind = str(call("TYPE", key))
    value: Any = None
    if kind == "string":
        value = call("GET", key)
    elif kind == "hash":
        value = _hash(call("HGETALL", key))
    elif kind == "list":
        value = list(call("LRANGE", key, 0, -1))
    elif kind == "set":
        value = sorted(call("SMEMBERS", key))
    elif kind == "zset":
        value = list(call("ZRANGE", key, 0, -1, "WITHSCORES"))
    return kind, value, int(call("TTL", key)) > 0


def _on(client: redis.Redis) -> Callable[..., Any]:
    """One command on the real Redis, as ``Keyspace.call`` runs it."""

    def call(*args: str | int | float) -> Any:
        return client.execute_command(*args)  # type: ignore[no-untyped-call]

    return call


@pytest.mark.redis
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_port_matches_the_lua_script(case: Case, real: redis.Redis) -> None:
    on_real = _on(real)
    for command in case.seed:
        on_real(*command)
    try:
        lua_reply: Any = real.eval(script_source(case.script, lib=True), 0, *case.argv)
    except ResponseError:
        lua_reply = ERROR
    ks = _seeded(case)
    try:
        port_reply: Any = _run_port(ks, case)
    except ResponseError:
        port_reply = ERROR
    assert port_reply == lua_reply
    keys = [str(key) for key in on_real("KEYS", "*")]
    assert ks.call("DBSIZE") == len(keys)
    for key in keys:
        assert _dump_key(ks.call, key) == _dump_key(on_real, key), key
