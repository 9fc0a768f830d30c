"""The API route registry and the OpenAPI 3.1 document generated from it.

Every ``/api/v1`` route (and ``/oauth/token``) is declared once as an ``ApiRoute``: method,
path, handler, summary, tag, request and response models (pydantic), query parameters and
error statuses. ``register`` adds the routes to the aiohttp router *and* records them on the
application, and ``build_document`` turns the recorded routes into the document served at
``/api/v1/openapi.json`` and rendered at ``/docs/api``: a route cannot be added through the
registry without being documented.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from router.api import PRINCIPAL
from router.api_models import Error, OAuthError
from router.http_errors import error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
REF_TEMPLATE = "#/components/schemas/{model}"

STATUS_TEXT = {
    400: "Invalid request (the error's field names the culprit)",
    401: "Missing or invalid bearer token",
    403: "Your role may not do this",
    404: "No such object in your tenant",
    409: "Conflicts with an existing object",
    412: "If-Match does not match the current ETag",
    415: "Send application/json",
    502: "The provider failed or refused",
}


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    type: Literal["string", "integer", "boolean"] = "string"
    required: bool = False
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: int | str | None = None


@dataclass(frozen=True)
class ApiRoute:
    method: Method
    path: str
    handler: Handler
    summary: str
    tag: str
    response: type[BaseModel] | None = None  # None: no body
    status: int = 200
    request: type[BaseModel] | None = None
    partial: bool = False  # the body is any subset of ``request``'s fields (PATCH)
    form: bool = False  # the body is form-encoded (``/oauth/token``)
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = ()
    public: bool = False  # no bearer token
    name: str = ""  # operationId when one handler serves two methods
    # Roles that may call the route, enforced by ``register`` (403 for any other role);
    # ``privilege`` also admits any principal holding that role privilege (``use_sms_api``).
    # ``None``: the handler checks the role itself.
    roles: tuple[str, ...] | None = None
    privilege: str | None = None

    @property
    def operation_id(self) -> str:
        module = self.handler.__module__.rsplit(".", 1)[-1]
        return f"{module}.{self.name or self.handler.__name__}"

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


API_ROUTES = web.AppKey("api_routes", list[ApiRoute])


def _guarded(route: ApiRoute) -> Handler:
    """``route.handler`` behind its role check (the principal is set by ``api.require_token``)."""
    roles, privilege, handler = route.roles or (), route.privilege, route.handler

    async def guarded(request: web.Request) -> web.StreamResponse:
        who = request[PRINCIPAL]
        if who.role in roles or (privilege is not None and privilege in who.privileges):
            return await handler(request)
        needs = f"; it needs the {privilege} privilege" if privilege is not None else ""
        return error_response(403, "forbidden", f"your role ({who.role}) may not do this{needs}")

    return guarded


def register(app: web.Application, routes: Iterable[ApiRoute]) -> None:
    """Add ``routes`` to the app's router and to its documented routes."""
    documented = app.setdefault(API_ROUTES, [])
    for route in routes:
        handler = route.handler
        if not route.public and (route.roles is not None or route.privilege is not None):
            handler = _guarded(route)
        app.router.add_route(route.method, route.path, handler)
        documented.append(route)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _content(schema: dict[str, Any], kind: str = "application/json") -> dict[str, Any]:
    return {kind: {"schema": schema}}


def _parameters(route: ApiRoute) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_params
    ]
    for q in route.query:
        schema: dict[str, Any] = {"type": q.type}
        if q.enum:
            schema["enum"] = list(q.enum)
        bounds = {"minimum": q.minimum, "maximum": q.maximum, "default": q.default}
        schema.update({k: v for k, v in bounds.items() if v is not None})
        params.append(
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": schema,
            }
        )
    if 412 in route.errors and route.method in ("PUT", "PATCH", "DELETE"):
        params.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "The ETag of the object as last read: the change is refused "
                "with 412 when the object changed since (`*` matches any)",
                "schema": {"type": "string"},
            }
        )
    return params


def _operation(route: ApiRoute, etag: bool = False) -> dict[str, Any]:
    """The operation object; ``etag``: the path's object is updated with ``If-Match``, so
    its reads and updates answer an ``ETag``."""
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    params = _parameters(route)
    if params:
        op["parameters"] = params
    if route.request is not None:
        schema: dict[str, Any] = _ref(route.request)
        if route.partial:
            schema = {
                "type": "object",
                "description": f"Any subset of the fields of {route.request.__name__}",
                "x-partial-of": route.request.__name__,
            }
        kind = "application/x-www-form-urlencoded" if route.form else "application/json"
        op["requestBody"] = {"required": True, "content": _content(schema, kind)}
    ok: dict[str, Any] = {"description": route.summary}
    if etag and route.method in ("GET", "PUT", "PATCH"):
        ok["headers"] = {
            "ETag": {
                "description": "The object's version, to send back as If-Match",
                "schema": {"type": "string"},
            }
        }
    if route.response is not None:
        ok["content"] = _content(_ref(route.response))
    responses: dict[str, Any] = {str(route.status): ok}
    error = OAuthError if route.form else Error
    statuses = route.errors if route.public else (401, *route.errors)
    for status in sorted(set(statuses)):
        responses[str(status)] = {
            "description": STATUS_TEXT.get(status, "Error"),
            "content": _content(_ref(error)),
        }
    op["responses"] = responses
    if route.public:
        op["security"] = []
    return op


def build_document(routes: Iterable[ApiRoute]) -> dict[str, Any]:
    routes = list(routes)
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (Error, "serialization"),
        (OAuthError, "serialization"),
    ]
    for route in routes:
        if route.response is not None:
            models.append((route.response, "serialization"))
        if route.request is not None:
            models.append((route.request, "validation"))
    _, defs = models_json_schema(list(dict.fromkeys(models)), ref_template=REF_TEMPLATE)
    versioned = {r.path for r in routes if 412 in r.errors}  # updated with If-Match
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op = _operation(route, route.path in versioned)
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard API",
            "version": "1",
            "description": "Tenant-scoped REST API: the bearer token's tenant is the only one "
            "visible; another tenant's objects answer 404 like missing ones.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in dict.fromkeys(r.tag for r in routes)],
        "components": {
            "schemas": defs.get("$defs", {}),
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
        "paths": paths,
    }


def routes_of(app: web.Application) -> list[ApiRoute]:
    """The documented routes of ``app``, in registration order."""
    return app.get(API_ROUTES, [])


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_document(routes_of(request.app)))


def _schema_name(schema: dict[str, Any] | None) -> str | None:
    if schema is None:
        return None
    if "x-partial-of" in schema:
        return str(schema["x-partial-of"])
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else schema.get("description", "object")


def docs_context(document: dict[str, Any]) -> dict[str, Any]:
    """What ``api_docs.html`` renders: every operation of ``document``, grouped by tag."""
    groups: dict[str, list[dict[str, Any]]] = {t["name"]: [] for t in document["tags"]}
    for path, item in document["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {})
            kind: str | None = next(iter(body), None)
            media: dict[str, Any] = body[kind] if kind else {}
            ok = [code for code in op["responses"] if code < "400"]
            success = op["responses"][ok[0]]
            result = success.get("content", {}).get("application/json", {}).get("schema")
            groups[op["tags"][0]].append(
                {
                    "id": op["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": op["summary"],
                    "public": op.get("security") == [],
                    "parameters": op.get("parameters", []),
                    "request": _schema_name(media.get("schema")) if kind else None,
                    "request_kind": kind,
                    "request_partial": "x-partial-of" in media.get("schema", {}),
                    "status": ok[0],
                    "response": _schema_name(result),
                    "errors": [
                        (
                            code,
                            r["description"],
                            _schema_name(r["content"]["application/json"]["schema"]),
                        )
                        for code, r in op["responses"].items()
                        if code >= "400"
                    ],
                }
            )
    schemas = {
        name: sorted(schema.get("properties", {}))
        for name, schema in sorted(document["components"]["schemas"].items())
    }
    return {"info": document["info"], "groups": groups, "schemas": schemas}
