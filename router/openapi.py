"""The OpenAPI 3.1 document, generated from the pydantic models the API returns."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from router.models import QueueStats, Session

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
            "required": ["code", "message"],
        }
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(QueueStats, "serialization"), (Session, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = defs.get("$defs", {})
    schemas["Error"] = _ERROR
    errors = {
        "401": _json(_ref("Error"), "Missing or invalid bearer token"),
        "404": _json(_ref("Error"), "No such object in your tenant"),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard API", "version": "1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "password": {"tokenUrl": "/oauth/token", "scopes": {}},
                        "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}},
                    },
                }
            },
        },
        "security": [{"oauth2": []}],
        "paths": {
            "/api/v1/queues/{queue}/status": {
                "get": {
                    "summary": "Live statistics of one queue",
                    "parameters": [
                        {
                            "name": "queue",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": _json(_ref("QueueStats"), "Queue statistics"), **errors},
                }
            },
            "/api/v1/sessions/{session_id}": {
                "get": {
                    "summary": "A session with its full history (supervisors, admins, API users)",
                    "parameters": [
                        {
                            "name": "session_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": _json(_ref("Session"), "The session"), **errors},
                }
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_document())
