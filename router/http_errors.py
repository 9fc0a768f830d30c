"""JSON error bodies for the HTTP API (``{"error": {"code", "message", "field"}}``), and the
one way to read a JSON object request body (``json_object``; as a model: ``model_body``)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "field": field}}, status=status
    )


async def json_object(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object body, or the 415 / 400 error response to return."""
    if request.content_type != "application/json":
        return error_response(415, "unsupported_media_type", "send application/json")
    try:
        data = json.loads(await request.read())
    except ValueError:
        return error_response(400, "malformed_json", "the body is not valid JSON")
    if not isinstance(data, dict):
        return error_response(400, "malformed_json", "the body must be a JSON object")
    return data


def validation_error(exc: ValidationError, tags: Collection[str] = ()) -> web.Response:
    """400 naming the first bad field; ``tags`` are discriminated-union tags pydantic puts in
    the location, which say nothing to the caller (``facebook.page_id`` -> ``page_id``)."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    tag = next((i for i, part in enumerate(loc) if part in tags), None)
    if tag is not None:
        del loc[tag]  # only the union's own tag: a field may share its name further on
    field = ".".join(loc) or None
    message = str(err["msg"]).removeprefix("Value error, ")
    return error_response(400, "invalid", f"{field}: {message}" if field else message, field)


async def model_body(
    request: web.Request, model: type[M], base: dict[str, Any] | None = None
) -> M | web.Response:
    """The JSON object body as ``model``, or the error response to return. With ``base``, the
    body is a subset of the model's fields laid over ``base`` (a PATCH)."""
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    if base is not None:
        unknown = sorted(set(body) - set(model.model_fields))
        if unknown:
            return error_response(400, "invalid", f"{unknown[0]}: not a field here", unknown[0])
        body = {**base, **body}
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        return validation_error(exc)
