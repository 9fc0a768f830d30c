"""The shared helpers of ``scripts/lib.lua`` as Python, and the Lua 5.1 value semantics the
ported scripts rely on (``tonumber``, ``tostring``, ``a or b``, typed ``redis.call`` replies)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, cast

from redis.exceptions import ResponseError

from router.store.base import SCHED_KEY

if TYPE_CHECKING:
    from router.store.memory.keyspace import Keyspace
    from router.store.memory.lua import Reply

# Lua's isspace in the C locale.
_LUA_SPACE = " \t\n\v\f\r"
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
# Integral doubles below this magnitude are exact as Python ints.
_EXACT = 2.0**53


def _number(value: float) -> int | float:
    if value.is_integer() and abs(value) < _EXACT:
        return int(value)
    return value


def tonumber(value: str | int | float | None) -> int | float | None:
    """Lua 5.1 ``tonumber``: ``None`` for nil or a string that is not a number; an integral
    value comes back as ``int`` (``"10"`` -> 10), any other as ``float`` (``"1.5"`` -> 1.5)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    if value.isascii() and value.isdigit() and len(value) < 16:
        return int(value)
    text = value.strip(_LUA_SPACE)
    if _DECIMAL.fullmatch(text):
        if "." not in text and "e" not in text and "E" not in text:
            number = int(text)
            if abs(number) < _EXACT:
                return number
        return _number(float(text))
    if _HEX.fullmatch(text):
        return _number(float.fromhex(text))
    if _SPECIAL.fullmatch(text):
        return float(text)
    return None


def tostring(value: str | int | float) -> str:
    """Lua 5.1 ``tostring`` / ``..`` of a number (``%.14g``); strings pass through."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        if abs(value) < 10**14:
            return str(value)
        return f"{float(value):.14g}"
    if math.isnan(value):
        return "nan" if math.copysign(1.0, value) > 0 else "-nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.14g}"


def lua_or(value: str | None, default: str) -> str:
    """Lua's ``value or default`` for a reply: only nil (``None``) falls back; ``""`` is kept."""
    return default if value is None else value


def call_int(r: Keyspace, *args: str | int | float) -> int:
    """``redis.call`` of a command with an integer reply."""
    return cast(int, r.call(*args))


def call_str(r: Keyspace, *args: str | int | float) -> str | None:
    """``redis.call`` of a command with a bulk reply (``None`` is nil, Lua's false)."""
    return cast("str | None", r.call(*args))


def call_fields(r: Keyspace, *args: str | int | float) -> list[str | None]:
    """``redis.call`` of a command with an array of bulk replies (HMGET, ZRANGE, ...)."""
    return cast("list[str | None]", r.call(*args))


def call_list(r: Keyspace, *args: str | int | float) -> list[Reply]:
    """``redis.call`` of a command with an array reply of any shape."""
    return cast("list[Reply]", r.call(*args))


def agent_node(r: Keyspace, p: str, aid: str | None) -> str:
    """The node the agent is connected to, ``""`` when offline or no agent."""
    if not aid:
        return ""
    node = call_str(r, "GET", p + "on:" + aid)
    return node if node is not None else ""


def split(csv: str | None) -> list[str]:
    """The non-empty items of a comma-separated list."""
    if not csv:
        return []
    return [item for item in csv.split(",") if item]


def sync_ready(r: Keyspace, p: str, aid: str) -> None:
    """Put the agent in (or take it out of) the ready line of each of its queues."""
    ak = p + "a:" + aid
    a = call_fields(r, "HMGET", ak, "state", "load", "capacity", "queues", "idle_since")
    free = a[0] == "ready" and lt(tonumber(lua_or(a[1], "0")), tonumber(lua_or(a[2], "1")))
    for q in split(a[3]):
        if free:
            r.call("ZADD", p + "r:" + q, arg(tonumber(lua_or(a[4], "0"))), aid)
        else:
            r.call("ZREM", p + "r:" + q, aid)


def release_slot(r: Keyspace, p: str, aid: str, sid: str, now: int | float) -> None:
    """Give back one conversation slot of the agent."""
    ak = p + "a:" + aid
    load = call_int(r, "HINCRBY", ak, "load", -1)
    if load < 0:
        r.call("HSET", ak, "load", 0)
        load = 0
    if load == 0:
        r.call("HSET", ak, "idle_since", now)
    r.call("SREM", p + "as:" + aid, sid)
    sync_ready(r, p, aid)


def arm_queue_timer(r: Keyspace, tenant: str, sid: str, epoch: int, at: int | float) -> None:
    """Schedule the session's queue-publish timer (``queue|{tenant}|{sid}|{epoch}``) at ``at``."""
    r.call("ZADD", SCHED_KEY, at, "queue|" + tenant + "|" + sid + "|" + tostring(epoch))


def index_session(r: Keyspace, p: str, sid: str, dim: str) -> None:
    """Add the session to the search index ``sx:{dim}``, scored by its creation time."""
    created = call_str(r, "HGET", p + "s:" + sid, "created_at")
    if created is not None:
        r.call("ZADD", p + "sx:" + dim, created, sid)


def number(value: int | float | None) -> int | float:
    """A ``tonumber`` result used in arithmetic or a comparison: nil is a script error."""
    if value is None:
        raise script_error("attempt to perform arithmetic on a nil value")
    return value


def defined(value: str | None) -> str:
    """A reply concatenated into a key or member: nil (Lua false) is a script error."""
    if value is None:
        raise script_error("attempt to concatenate a boolean value")
    return value


def lt(a: int | float | None, b: int | float | None) -> bool:
    """Lua's ``a < b`` of two ``tonumber`` results: comparing nil is a script error."""
    if a is None or b is None:
        raise script_error("attempt to compare nil with number")
    return a < b


def le(a: int | float | None, b: int | float | None) -> bool:
    """Lua's ``a <= b`` (and ``b >= a``) of two ``tonumber`` results."""
    if a is None or b is None:
        raise script_error("attempt to compare nil with number")
    return a <= b


def script_error(message: str) -> ResponseError:
    """The error a Lua runtime error in a script surfaces as (to raise)."""
    return ResponseError(f"Error running script: {message}")


def arg(value: int | float | None) -> int | float:
    """A number passed to ``redis.call``; nil there is a script error."""
    if value is None:
        raise script_error("Lua redis() command arguments must be strings or integers")
    return value


def add(a: int | float | None, b: int | float | None) -> int | float:
    """Lua's ``a + b`` of two ``tonumber`` results."""
    return number(a) + number(b)


def truncated(items: list[str | int | float | None]) -> list[str | int | float]:
    """A Lua table constructor whose values may be nil (never false): the reply stops at the
    first nil."""
    out: list[str | int | float] = []
    for item in items:
        if item is None:
            break
        out.append(item)
    return out
