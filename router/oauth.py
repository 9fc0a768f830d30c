"""``POST /oauth/token``: OAuth2 (RFC 6749) password grant for agents, client credentials for
API users; ``scope`` names the tenant. Errors use the RFC's ``{"error", "error_description"}``."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from router.auth import Principal
from router.keys import RUNTIME

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description}, status=status, headers=_NO_STORE
    )


def _basic(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, secret


async def token(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    if request.content_type != "application/x-www-form-urlencoded":
        return _oauth_error(
            400, "invalid_request", "send application/x-www-form-urlencoded (RFC 6749 section 4)"
        )
    form = await request.post()
    values = {k: str(v) for k, v in form.items()}
    grant, tenant = values.get("grant_type", ""), values.get("scope", "").strip()
    if not tenant:
        return _oauth_error(400, "invalid_scope", "scope must name the tenant")
    principal: Principal | None
    if grant == "password":
        user, password = values.get("username"), values.get("password")
        if not user or not password:
            return _oauth_error(400, "invalid_request", "username and password are required")
        principal = await rt.tokens.check_password(tenant, user, password, kind="agent")
        if principal is not None:
            agent = rt.config.tenant(tenant)
            cfg = agent.agent(principal.subject) if agent else None
            principal = principal.model_copy(update={"name": cfg.name if cfg else ""})
    elif grant == "client_credentials":
        creds = _basic(request) or (values.get("client_id", ""), values.get("client_secret", ""))
        if not creds[0] or not creds[1]:
            return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
        principal = await rt.tokens.check_password(tenant, creds[0], creds[1], kind="api")
    else:
        return _oauth_error(400, "unsupported_grant_type", "use password or client_credentials")
    if principal is None:
        return _oauth_error(400, "invalid_grant", "invalid credentials for this tenant")
    access = await rt.tokens.issue(principal)
    return web.json_response(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": rt.tokens.ttl,
            "scope": tenant,
        },
        headers=_NO_STORE,
    )
