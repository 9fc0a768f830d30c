"""Admin console sessions: a cookie holding an opaque bearer token, and CSRF tokens.

The cookie value is a token from ``router.auth.Tokens`` (random, stored only as its SHA-256
in Redis with the token TTL), so a session dies with its token and logout revokes it. The
cookie is HttpOnly, SameSite=Strict, Path=/admin, and Secure when the request came over
HTTPS. Every state-changing form carries a CSRF token derived from the session token with
HMAC-SHA256 under the deployment's shared secret; a POST without the right one answers 403.
The login form, which has no session yet, is protected the same way by a short-lived
pre-login cookie (double-submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from aiohttp import web

from router.auth import Principal
from router.keys import RUNTIME

COOKIE = "sb_admin"
LOGIN_COOKIE = "sb_admin_login"
COOKIE_PATH = "/admin"
LOGIN_PATH = "/admin/login"
CONSOLE_ROLES = ("tenant_admin", "supervisor")
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class AdminSession:
    principal: Principal
    token: str
    csrf: str

    @property
    def is_tenant_admin(self) -> bool:
        return self.principal.role == "tenant_admin"


SESSION = web.RequestKey("admin_session", AdminSession)
AdminHandler = Callable[[web.Request, AdminSession], Awaitable[web.StreamResponse]]


def csrf_for(request: web.Request, value: str, purpose: str = "session") -> str:
    secret = request.app[RUNTIME].secret
    message = f"admin-csrf:{purpose}:{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path=COOKIE_PATH)


async def current(
    request: web.Request, roles: Collection[str] = CONSOLE_ROLES
) -> AdminSession | None:
    """The request's console session, if its cookie holds a live token of one of ``roles``."""
    token = request.cookies.get(COOKIE)
    principal = await request.app[RUNTIME].tokens.resolve(token)
    if token is None or principal is None or principal.role not in roles:
        return None
    return AdminSession(principal, token, csrf_for(request, token))


def login_redirect() -> web.HTTPSeeOther:
    return web.HTTPSeeOther(LOGIN_PATH)


def forbidden(message: str) -> web.Response:
    return web.Response(status=403, text=message, headers={"Cache-Control": "no-store"})


def admin_page(handler: AdminHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Require a console session; on POST also require the session's CSRF token."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = await current(request)
        if session is None:
            raise login_redirect()
        if request.method not in ("GET", "HEAD"):
            form = await request.post()
            if not csrf_ok(session.csrf, form.get(CSRF_FIELD)):
                return forbidden("missing or wrong CSRF token")
        request[SESSION] = session
        response = await handler(request, session)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return wrapped


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)
