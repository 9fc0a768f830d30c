"""The admin console (``/admin``): server-rendered pages for tenant admins and supervisors.

See ``docs/admin.md``. ``routes`` adds every console route to the application's router.
"""

from __future__ import annotations

from aiohttp import web

from router.admin import (
    accounts,
    audit,
    bots,
    cpaas,
    numbers,
    stream_lifecycle,
    subscriptions,
    transcripts,
    views,
)
from router.admin import people as people_pages
from router.admin import streams as stream_pages
from router.admin import tenants as tenant_pages
from router.admin.forms import Pages


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/login", views.login_form)
    router.add_post("/admin/login", views.login)
    router.add_post("/admin/logout", views.logout)
    router.add_get("/admin", views.dashboard)
    router.add_get("/admin/queues.json", views.queues_json)
    _objects(router, people_pages.USERS, "username", people_pages.USER_PAGES)
    _objects(router, people_pages.QUEUES, "queue_id", people_pages.QUEUE_PAGES)
    router.add_get(people_pages.REASONS, people_pages.reasons_form)
    router.add_post(people_pages.REASONS, people_pages.update_reasons)
    router.add_get("/admin/agents", people_pages.agents)
    router.add_get(tenant_pages.LOGIN, tenant_pages.login_form)
    router.add_post(tenant_pages.LOGIN, tenant_pages.login)
    router.add_post("/admin/system/logout", tenant_pages.logout)
    _objects(router, tenant_pages.TENANTS, "tenant_id", tenant_pages.PAGES)
    _objects(router, "/admin/bot-accounts", "account_id", bots.PAGES)
    router.add_post("/admin/bot-accounts/{account_id}/test-connection", bots.test_connection)
    _objects(router, "/admin/integration-accounts", "account_id", accounts.PAGES)
    router.add_post(
        "/admin/integration-accounts/{account_id}/test-connection", accounts.test_connection
    )
    router.add_post("/admin/integration-accounts/{account_id}/set-webhook", accounts.set_webhook)
    router.add_post("/admin/generate-token", accounts.generate_token)
    _objects(router, "/admin/cpaas-platforms", "platform_id", cpaas.PLATFORM_PAGES)
    _objects(router, "/admin/alert-recipients", "recipient_id", cpaas.RECIPIENT_PAGES)
    _objects(router, "/admin/numbers", "number", numbers.PAGES)
    router.add_post("/admin/numbers/{number}/reset-opt-in", numbers.reset_opt_in)
    router.add_get("/admin/numbers/{number}/delete-messages", numbers.delete_messages_form)
    router.add_post("/admin/numbers/{number}/delete-messages", numbers.delete_messages)
    _objects(router, "/admin/event-subscriptions", "sub_id", subscriptions.PAGES)
    router.add_get("/admin/event-subscriptions/{sub_id}/deliveries", subscriptions.deliveries)
    router.add_get(audit.TENANT_AUDIT, audit.audit_log)
    router.add_get(audit.SYSTEM_AUDIT, audit.system_audit_log)
    router.add_get("/admin/transcripts", transcripts.transcripts)
    router.add_get("/admin/transcripts/{session_id}", transcripts.transcript)
    router.add_get("/admin/media-streams", stream_pages.index)
    router.add_post("/admin/media-streams", stream_lifecycle.create)
    router.add_get("/admin/media-streams/{stream_id}/delete", stream_lifecycle.delete_form)
    router.add_post("/admin/media-streams/{stream_id}/delete", stream_lifecycle.delete)
    router.add_get("/admin/media-streams/{stream_id}", stream_pages.edit_form)
    router.add_post("/admin/media-streams/{stream_id}", stream_pages.update)
    router.add_post("/admin/media-streams/{stream_id}/reply-preview", stream_pages.reply_preview)


def _objects(router: web.UrlDispatcher, base: str, key: str, pages: Pages) -> None:
    """List, add, edit and delete (with a confirmation page) of one kind of object."""
    router.add_get(base, pages.index)
    router.add_get(f"{base}/new", pages.new_form)
    router.add_post(f"{base}/new", pages.create)
    router.add_get(f"{base}/{{{key}}}", pages.edit_form)
    router.add_post(f"{base}/{{{key}}}", pages.update)
    router.add_get(f"{base}/{{{key}}}/delete", pages.delete_form)
    router.add_post(f"{base}/{{{key}}}/delete", pages.delete)
