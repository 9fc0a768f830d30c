"""Server-rendered pages (jinja2, no front-end build): home, agent desktop, API docs."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from router import openapi
from router.config import DEMO_CREDENTIALS
from router.keys import RUNTIME

TEMPLATES = web.AppKey("templates", jinja2.Environment)


def make_templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("router", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def render_page(request: web.Request, name: str, context: dict[str, Any]) -> web.Response:
    html = request.app[TEMPLATES].get_template(name).render(**context)
    return web.Response(
        text=html,
        content_type="text/html",
        headers={"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"},
    )


async def index(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    tenants = [
        {
            "id": t.id,
            "name": t.name or t.id,
            "streams": [
                {"id": s.id, "name": s.name or s.id, "media": s.media.value}
                for s in t.media_streams
            ],
        }
        for t in rt.config.tenants
    ]
    demo = list(DEMO_CREDENTIALS) if rt.demo else []
    return render_page(request, "index.html", {"tenants": tenants, "demo_agents": demo})


async def agent_desktop(request: web.Request) -> web.Response:
    return render_page(request, "agent.html", {"tenant_hint": request.query.get("tenant", "")})


async def api_docs(request: web.Request) -> web.Response:
    """Every operation of the OpenAPI document, rendered server-side (no JS, no assets)."""
    document = openapi.build_document(openapi.routes_of(request.app))
    context = {"openapi": document["openapi"], **openapi.docs_context(document)}
    return render_page(request, "api_docs.html", context)
