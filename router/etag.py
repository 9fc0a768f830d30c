"""Optimistic concurrency for the REST API: ``ETag`` on reads, ``If-Match`` on updates.

An object's ETag is a strong validator computed from its API representation (the same JSON
a GET returns, so secrets never enter it: views hold only "set / not set"). A client sends
the ETag it read back as ``If-Match``; when the object changed in between, the update is
refused with 412 and nothing is written. ``If-Match`` is optional (a client that sends none
overwrites, as plain HTTP allows); ``If-Match: *`` matches any existing object.

Where the store compares and writes in one transaction, a handler checks ``If-Match``
against the object as read (``precondition_failed``), then, when ``names_version`` says the
client asked for one, has the store write only while the object is still as read; a change
that lands in between answers ``stale``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from router.http_errors import error_response


def etag_of(view: BaseModel | dict[str, Any] | list[Any]) -> str:
    """The quoted strong ETag of an API representation."""
    data = view.model_dump(mode="json") if isinstance(view, BaseModel) else view
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def precondition_failed(request: web.Request, current: str) -> web.Response | None:
    """The 412 response when the request's ``If-Match`` does not name ``current``, else None."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    if "*" in tags or current in tags:
        return None
    resp = error_response(
        412,
        "precondition_failed",
        "the object changed since you read it (If-Match does not match its ETag); "
        "read it again and retry",
    )
    resp.headers["ETag"] = current
    return resp


def names_version(request: web.Request) -> bool:
    """Whether the request's ``If-Match`` names a version (it is given and is not ``*``)."""
    return request.headers.get("If-Match", "*").strip() != "*"


def stale(what: str, current: str | None = None) -> web.Response:
    """The 412 answer when ``what`` changed between the ``If-Match`` check and the write;
    ``current``: the ETag it has now, if known."""
    resp = error_response(
        412, "precondition_failed", f"the {what} changed since you read it; read it again and retry"
    )
    if current is not None:
        resp.headers["ETag"] = current
    return resp


def json_with_etag(view: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    """``view`` as the JSON response body, with its ETag header."""
    data = view.model_dump(mode="json") if isinstance(view, BaseModel) else view
    resp = web.json_response(data, status=status)
    resp.headers["ETag"] = etag_of(data)
    return resp
