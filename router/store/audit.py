"""The audit log: who changed what, when and from where, one capped Redis stream per tenant,
and one for the system admins.

``P audit`` is a stream of entries (one JSON field ``e``), trimmed to the newest
``max_entries`` on every append (exact trimming, so the cap is a hard bound). Entry ids are
the stream ids, so they sort by time; time filters map onto the id range and the other
filters are applied while reading (bounded by the cap). A log is named by its tenant id;
``SYSTEM_LOG`` (the empty name, key ``sb::audit``: no tenant id is empty, so no tenant's keys
reach it) is the system admins' log.
"""

from __future__ import annotations

from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import StoreError
from router.models import Frozen
from router.store.base import epoch_ms, tenant_prefix

DEFAULT_MAX_ENTRIES = 10_000
SYSTEM_LOG = ""  # the log of the system admins' changes, sign-ins and sign-outs


def _key(log: str) -> str:
    return tenant_prefix(log) + "audit"


class AuditActor(Frozen):
    subject: str
    role: str
    name: str = ""


class AuditEntry(Frozen):
    """One successful change. ``fields`` names the fields the request body carried (dotted
    for nested objects); values are never kept, so no secret can leak through the log."""

    id: str = ""  # the stream id, set when read back
    at: datetime
    tenant: str  # the tenant changed; "" for a system admin's change of no tenant
    actor: AuditActor
    remote: str | None
    method: str
    path: str
    object_type: str
    object_id: str | None
    fields: tuple[str, ...]
    status: int
    source: str  # api | admin


class AuditFilter(Frozen):
    actor: str | None = None
    object_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditStore:
    def __init__(self, client: aioredis.Redis, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._r = client
        self.max_entries = max_entries

    async def append(self, entry: AuditEntry, log: str | None = None) -> str:
        """Add ``entry`` to the log ``log`` (a tenant id or ``SYSTEM_LOG``; by default the
        entry's tenant)."""
        try:
            entry_id = await self._r.xadd(
                _key(entry.tenant if log is None else log),
                {"e": entry.model_dump_json(exclude={"id"})},
                maxlen=self.max_entries,
                approximate=False,
            )
        except RedisError as exc:
            raise StoreError(f"cannot append to the audit log: {exc}") from exc
        return str(entry_id)

    async def size(self, log: str) -> int:
        return int(await self._r.xlen(_key(log)))

    async def read(
        self, log: str, query: AuditFilter, *, limit: int, offset: int
    ) -> tuple[tuple[AuditEntry, ...], int]:
        """Matching entries of the log ``log`` (a tenant id or ``SYSTEM_LOG``) newest first:
        (one page, number of matches)."""
        high = f"{epoch_ms(query.until)}-18446744073709551615" if query.until else "+"
        low = f"{epoch_ms(query.since)}-0" if query.since else "-"
        try:
            rows = await self._r.xrevrange(_key(log), high, low)
        except RedisError as exc:
            raise StoreError(f"cannot read the audit log: {exc}") from exc
        found = []
        for entry_id, fields in rows or ():
            if not fields:
                continue
            entry = AuditEntry.model_validate_json(fields["e"]).model_copy(
                update={"id": str(entry_id)}
            )
            if query.actor and query.actor not in (entry.actor.subject, entry.actor.name):
                continue
            if query.object_type and entry.object_type != query.object_type:
                continue
            found.append(entry)
        return tuple(found[offset : offset + limit]), len(found)
