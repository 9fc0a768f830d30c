"""The admin console (``/admin``): server-rendered pages for tenant admins and supervisors.

See ``docs/admin.md``. ``routes`` adds every console route to the application's router.
"""

from __future__ import annotations

from aiohttp import web

from router.admin import views


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/login", views.login_form)
    router.add_post("/admin/login", views.login)
    router.add_post("/admin/logout", views.logout)
    router.add_get("/admin", views.dashboard)
    router.add_get("/admin/queues.json", views.queues_json)
    router.add_get("/admin/bot-accounts", views.bot_accounts)
    router.add_post("/admin/bot-accounts/{account_id}/test-connection", views.bot_test_connection)
    router.add_get("/admin/integration-accounts", views.integration_accounts)
    router.add_post(
        "/admin/integration-accounts/{account_id}/test-connection",
        views.integration_test_connection,
    )
