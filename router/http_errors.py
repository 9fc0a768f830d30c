"""JSON error bodies for the HTTP API: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from aiohttp import web


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "field": field}}, status=status
    )
