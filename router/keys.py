"""Typed application and request state keys."""

from __future__ import annotations

from aiohttp import web

from router.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
# The id of the object a request created, for its audit entry when the answer does not name
# it (a console form answers with a redirect).
CREATED = web.RequestKey("audit_created", str)
