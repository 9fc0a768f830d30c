"""Fixtures of the API consistency tests: the in-process Switchboard of the SMS tests (a
tenant admin, SMS streams, a fake Inteliquent) and bearer tokens of any role."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from router.auth import Principal
from router.runtime import Runtime
from tests.sms.conftest import admin, client, fake, mailbox, runtime, sms

__all__ = ["admin", "bearer", "client", "fake", "mailbox", "runtime", "sms"]

Client = TestClient[Any, Any]


async def bearer(
    runtime: Runtime, role: str, privileges: tuple[str, ...] = (), tenant: str = "acme"
) -> dict[str, str]:
    """An Authorization header of a token issued for ``role``."""
    who = Principal.model_validate(
        {"tenant": tenant, "subject": f"{role}-user", "role": role, "privileges": privileges}
    )
    return {"Authorization": f"Bearer {await runtime.tokens.issue(who)}"}
