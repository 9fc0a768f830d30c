"""The store scripts as Python: the reply type, the port signature, the exact text of each
registered script, the Lua-to-Redis conversion of a port's result and the registry of ports
by the SHA1 of the script text they replace."""

from __future__ import annotations

import hashlib
import importlib
from typing import TYPE_CHECKING, Protocol, TypeAlias

from redis.exceptions import ResponseError

from router.store.base import script_source

if TYPE_CHECKING:
    from router.store.memory.keyspace import Keyspace

Reply: TypeAlias = "int | str | list[Reply] | None"

NO_PORT = "no in-process implementation of this script"

# Modules exposing ``PORTS: dict[str, Port]`` keyed by the exact script text.
_PORT_MODULES = (
    "router.store.memory.session_scripts",
    "router.store.memory.lifecycle_scripts",
    "router.store.memory.service_scripts",
    "router.store.memory.lock_scripts",
)


class Port(Protocol):
    """A script as a Python function: ``KEYS`` and ``ARGV`` as lists (0-indexed)."""

    __name__: str

    def __call__(self, r: Keyspace, keys: list[str], argv: list[str]) -> object: ...


def ports_by_name(*ports: Port, lib: bool) -> dict[str, Port]:
    """Ports keyed by the text of the script each is named after (``scripts/{name}.lua``)."""
    return {script_source(port.__name__, lib=lib): port for port in ports}


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def to_reply(value: object) -> Reply:
    """A port's result converted the way Redis converts a Lua value: ``True`` -> 1,
    ``False``/``None`` -> nil, numbers -> integer (truncated toward zero), strings -> bulk,
    lists -> arrays (``None`` elements are nil), ``{"err": msg}`` -> error,
    ``{"ok": status}`` -> status."""
    if value is None or value is False:
        return None
    if value is True:
        return 1
    if isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [to_reply(item) for item in value]
    if isinstance(value, dict):
        if "err" in value:
            raise ResponseError(str(value["err"]))
        if "ok" in value:
            return str(value["ok"])
        return []
    raise TypeError(f"a script returned {type(value).__name__}, which has no Redis reply")


_registry: dict[str, Port] | None = None


def registry() -> dict[str, Port]:
    """Every port by the SHA1 of the script text it implements."""
    global _registry
    if _registry is None:
        found: dict[str, Port] = {}
        for name in _PORT_MODULES:
            ports: dict[str, Port] = importlib.import_module(name).PORTS
            for text, port in ports.items():
                found[sha1(text)] = port
        _registry = found
    return _registry
