"""Bearer tokens (OAuth2 password and client-credentials grants) and who they stand for.

Tokens are random and opaque; the store keeps only their SHA-256, with a TTL, so every
process accepts a token any process issued. Every token is scoped to one tenant, except a
system admin's (``tenant`` is empty: the tenant is named by the request). Each tenant-scoped
token is also listed under its subject, so deleting a user (or changing their role) revokes
every token they hold.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from aiohttp import web

from router.models import Frozen
from router.passwords import verify_password
from router.store import RedisStore
from router.store.base import tenant_prefix

Role = Literal["agent", "supervisor", "tenant_admin", "api", "system_admin"]


class Principal(Frozen):
    tenant: str  # empty for a system admin
    subject: str  # agent id, or API client id
    role: Role
    name: str = ""
    # Role privileges of an API user (e.g. "use_sms_api").
    privileges: tuple[str, ...] = ()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, store: RedisStore, ttl_seconds: int) -> None:
        self.store = store
        self.ttl = ttl_seconds

    async def issue(self, principal: Principal) -> str:
        token = secrets.token_urlsafe(32)
        await self.store.put_token(_digest(token), principal.model_dump_json(), self.ttl)
        if principal.tenant:
            key = _subject_key(principal.tenant, principal.subject)
            async with self.store.client.pipeline(transaction=True) as pipe:
                pipe.sadd(key, _digest(token))
                pipe.expire(key, self.ttl)
                await pipe.execute()
        return token

    async def revoke_subject(self, tenant: str, subject: str) -> None:
        """Forget every token issued to ``subject`` of ``tenant`` (user deleted or re-roled)."""
        key = _subject_key(tenant, subject)
        digests = [str(d) for d in await self.store.client.smembers(key)]
        for digest in digests:
            await self.store.delete_token(digest)
        await self.store.client.delete(key)

    async def resolve(self, token: str | None) -> Principal | None:
        if not token or len(token) > 200:
            return None
        raw = await self.store.get_token(_digest(token))
        return Principal.model_validate_json(raw) if raw else None

    async def revoke(self, token: str | None) -> None:
        """Forget a token (admin console logout); unknown tokens are ignored."""
        if token and len(token) <= 200:
            await self.store.delete_token(_digest(token))

    async def check_password(
        self, tenant: str, username: str, password: str, *, kind: str
    ) -> Principal | None:
        cred = await self.store.get_credential(tenant, username)
        if cred is None or cred.kind != kind:
            # Spend the same time as a real check so usernames cannot be probed by timing.
            verify_password(password, _DUMMY_HASH)
            return None
        if not verify_password(password, cred.secret_hash):
            return None
        role: Role = cred.role  # type: ignore[assignment]
        return Principal(tenant=tenant, subject=cred.subject, role=role, privileges=cred.privileges)


def _subject_key(tenant: str, subject: str) -> str:
    return f"{tenant_prefix(tenant)}utok:{subject}"


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.query.get("access_token")


_DUMMY_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
