"""``POST /oauth/token``: OAuth2 (RFC 6749) password grant for agents, client credentials for
API users; ``scope`` names the tenant. System admins (configured at the top of the file) use
the password grant with ``scope=system`` (the tenants API) or ``scope=system:{tenant}`` (act
as an admin of that tenant). Errors use the RFC's ``{"error", "error_description"}``."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from router.auth import Principal
from router.config import SYSTEM_SCOPE, Config
from router.keys import RUNTIME
from router.passwords import verify_password

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


def system_admin(config: Config, username: str, password: str, tenant: str) -> Principal | None:
    """The system admin ``username`` if ``password`` is theirs (constant time per admin)."""
    for admin in config.system_admins:
        if admin.password is not None:
            given, expected = password.encode(), admin.password.get_secret_value().encode()
            ok = hmac.compare_digest(given, expected)
        else:
            ok = verify_password(password, admin.password_hash or "")
        if ok and hmac.compare_digest(admin.username.encode(), username.encode()):
            return Principal(
                tenant=tenant, subject=admin.username, role="system_admin", name=admin.name
            )
    return None


def _system_grant(
    config: Config, grant: str, values: dict[str, str], tenant: str
) -> Principal | web.Response | None:
    user, password = values.get("username"), values.get("password")
    if grant != "password":
        return _oauth_error(400, "unsupported_grant_type", "system admins use password")
    if not user or not password:
        return _oauth_error(400, "invalid_request", "username and password are required")
    if tenant and config.tenant(tenant) is None:
        return _oauth_error(400, "invalid_scope", f"no tenant {tenant!r}")
    return system_admin(config, user, password, tenant)


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
    scope, _, scoped_tenant = tenant.partition(":")
    if scope == SYSTEM_SCOPE:
        system = _system_grant(rt.config, grant, values, scoped_tenant)
        if isinstance(system, web.Response):
            return system
        principal = system
    elif grant == "password":
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
