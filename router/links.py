"""``GET /l/{token}``: follow a signed attachment link (``channels.links``).

302 to the attachment while the link is valid, 410 once it has expired, 403 when the token
was not made by this system. No login: the customer opens it from an SMS.
"""

from __future__ import annotations

from aiohttp import web

from channels.links import LinkExpired, LinkForged, open_link
from router.http_errors import error_response
from router.keys import RUNTIME
from router.models import utcnow


async def follow_link(request: web.Request) -> web.StreamResponse:
    secret = request.app[RUNTIME].secret
    try:
        url = open_link(secret, request.match_info["token"], utcnow())
    except LinkExpired as exc:
        return error_response(410, "expired", str(exc))
    except LinkForged as exc:
        return error_response(403, "forbidden", str(exc))
    return web.Response(
        status=302,
        headers={"Location": url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
