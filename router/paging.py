"""Pagination of the ``/api/v1`` lists: one rule everywhere.

Every list answers ``{"items": [...], "total", "limit", "offset"}``: ``total`` counts every
match of the filters, ``items`` is the page of them from ``offset``. ``limit`` is 1..500
(default 50), ``offset`` 0 to 10^9 (default 0); an empty value takes the default, any other
value answers 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from aiohttp import web

from router.http_errors import error_response

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 10**9

T = TypeVar("T")


class Page(NamedTuple):
    limit: int
    offset: int

    def of(self, items: Sequence[T]) -> list[T]:
        """This page of ``items``."""
        return list(items[self.offset : self.offset + self.limit])

    def body(self, items: Sequence[Any], total: int) -> dict[str, Any]:
        """The list answer: ``items`` (already this page) of ``total`` matches."""
        return {"items": list(items), "total": total, "limit": self.limit, "offset": self.offset}


def _integer(request: web.Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or not raw.strip():  # absent, or left empty in a form
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if low <= value <= high else None


def page_of(request: web.Request) -> Page | web.Response:
    """The request's page, or the 400 answer naming the bad parameter."""
    limit = _integer(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    if limit is None:
        return error_response(
            400, "invalid", f"limit: must be an integer from 1 to {MAX_LIMIT}", "limit"
        )
    offset = _integer(request, "offset", 0, 0, MAX_OFFSET)
    if offset is None:
        return error_response(
            400, "invalid", f"offset: must be an integer from 0 to {MAX_OFFSET}", "offset"
        )
    return Page(limit, offset)


def paged(items: Sequence[Any], page: Page) -> web.Response:
    """The JSON list answer: ``page`` of ``items`` (every match), with their total."""
    return web.json_response(page.body(page.of(items), len(items)))


def choice(request: web.Request, name: str, allowed: Sequence[str]) -> str | web.Response | None:
    """An optional enumerated filter: its value, None when absent, or the 400 answer."""
    value = request.query.get(name)
    if value is None or value in allowed:
        return value
    return error_response(400, "invalid", f"{name}: one of {', '.join(allowed)}", name)
