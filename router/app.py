"""``create_app``: the aiohttp application with every route, around one ``Runtime``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from importlib import resources

from aiohttp import web

from queues.base import Broker
from router import (
    admin,
    agent_ws,
    api,
    api_routes,
    audit,
    correlation,
    limits,
    links,
    openapi,
    pages,
    sms_webhooks,
    webchat,
    webhooks,
)
from router.config import Config
from router.keys import RUNTIME
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    await rt.metrics.refresh_queues(rt.store, rt.config)
    return rt.metrics.render()


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    broker, store = await rt.broker.ping(), await rt.store.ping()
    status = 200 if broker and store and not rt.draining else 503
    body = {"broker": broker, "store": store, "draining": rt.draining}
    return web.json_response(body, status=status)


def create_app(
    settings: Settings,
    config: Config,
    *,
    store: RedisStore | None = None,
    broker: Broker | None = None,
    demo: bool = False,
) -> web.Application:
    runtime = Runtime.build(settings, config, store=store, broker=broker, demo=demo)
    app = web.Application(
        middlewares=[
            correlation.middleware(runtime.metrics),  # correlation ids, webhook latency
            limits.body_limits(settings, runtime.metrics),  # 413 per route group
            api.require_token,
            audit.record,
        ],
        client_max_size=limits.largest_body(settings),
    )
    app[RUNTIME] = runtime
    app[pages.TEMPLATES] = pages.make_templates()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.start()
        # Frames lost with a broker connection: agents get their conversations again.
        runtime.broker.on_reconnect.append(partial(agent_ws.resync_all, runtime))
        yield
        await runtime.close()

    async def close_sockets(app: web.Application) -> None:
        # Graceful stop: no new work, in-flight work finished or handed back, then the
        # sockets are told to reconnect elsewhere (docs/operations.md).
        await runtime.drain()
        for ws in runtime.sockets.all_sockets():
            await ws.close(code=1012, message=b"service restart: reconnect")

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(close_sockets)
    static = resources.files("router") / "static"
    app.router.add_get("/", pages.index)
    app.router.add_get("/agent", pages.agent_desktop)
    app.router.add_get("/agent/ws", agent_ws.agent_socket)
    app.router.add_get("/chat/{tenant}/{stream}", webchat.chat_page)
    app.router.add_get("/chat/{tenant}/{stream}/ws", webchat.chat_socket)
    # Every /api/v1 route is declared in router.api_routes and documented by this call.
    for routes in (
        api_routes.AUTH,
        api_routes.CORE,
        api_routes.ACCOUNTS,
        api_routes.BOTS,
        api_routes.STREAMS,
        api_routes.CPAAS,
        api_routes.NUMBERS,
        api_routes.SMS,  # SMS/MMS API, consent ledger, blocked numbers
        api_routes.EVENTS,  # event-webhook subscriptions and their delivery logs
        api_routes.ROUTING,  # the routing adapter's commands
        api_routes.PEOPLE,  # tenants, users and roles, agents, not-ready reasons, queues
    ):
        openapi.register(app, routes)
    app.router.add_get("/docs/api", pages.api_docs)
    admin.routes(app.router)
    # Before the generic /webhooks/{type}/{account_id}, which would take it otherwise.
    app.router.add_post(
        sms_webhooks.webhook_path("{platform_id}"), sms_webhooks.inteliquent_webhook
    )
    app.router.add_route("GET", "/webhooks/{type}/{account_id}", webhooks.webhook)
    app.router.add_route("POST", "/webhooks/{type}/{account_id}", webhooks.webhook)
    app.router.add_get("/media/{account_id}/{media_id}", webhooks.media)
    app.router.add_get("/l/{token}", links.follow_link)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_static("/static", str(static))
    return app
