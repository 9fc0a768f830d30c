"""What still uses a media stream, so deleting it would strand data: ``deletion_refusal``.

A stream may be deleted only when nothing depends on it any more:

- no conversation of the stream is open (every state but closed): it would lose the settings
  its replies, transfers and closes go by;
- no integration account feeds it and no CPaaS number is assigned to it: their customers'
  next messages would have nowhere to go.

The admin closes the conversations, and points the accounts and numbers elsewhere (or
deletes them) first. The answer names what is in the way.
"""

from __future__ import annotations

from channels.cpaas import StreamTarget
from router.config import MediaStreamConfig
from router.store import RedisStore
from router.store.cpaas import numbers_version_key
from router.store.optimistic import Requirement
from router.store.transcripts import open_sessions_key
from router.stream_settings import StreamSettings


def _listed(kind: str, ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:5]) + (", …" if len(ids) > 5 else "")
    return f"{kind} {shown}"


async def deletion_refusal(store: RedisStore, tenant: str, stream_id: str) -> str | None:
    """Why ``stream_id`` cannot be deleted now, or None when it can."""
    accounts = [a.id for a in await store.accounts.list(tenant) if a.stream == stream_id]
    numbers = [
        n.number
        for n in await store.cpaas.numbers(tenant)
        if isinstance(n.target, StreamTarget) and n.target.stream == stream_id
    ]
    users = []
    if accounts:
        users.append(_listed("integration account(s)", accounts))
    if numbers:
        users.append(_listed("number(s)", numbers))
    if users:
        return (
            f"media stream {stream_id!r} still receives messages from "
            + " and ".join(users)
            + ": assign them to another stream or delete them first"
        )
    live = await store.transcripts.open_in_stream(tenant, stream_id)
    if live:
        return f"media stream {stream_id!r} has {live} open conversation(s): close them first"
    return None


class _InUse(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def delete_stream(
    store: RedisStore, streams: StreamSettings, tenant: str, stream: MediaStreamConfig, *,
    checked: bool,
) -> str | None:  # fmt: skip
    """Delete ``stream`` (its current settings) unless something still uses it: then the
    reason, and nothing changed. ``StaleObject`` / ``NotFoundError`` as
    ``StreamSettings.delete``. The API and the console both delete through here.

    The check and the deletion are one transaction that watches the change counters of the
    integration accounts and of the tenant's numbers, and the stream's open sessions: an
    account or a number pointed at the stream, or a conversation opened or closed on it,
    meanwhile makes it check again (and an account or number write checks the stream in its
    own transaction, ``StreamStore.not_deleted``)."""

    async def unused() -> None:
        refused = await deletion_refusal(store, tenant, stream.id)
        if refused is not None:
            raise _InUse(refused)

    watching = (
        store.accounts.version_key,
        numbers_version_key(tenant),
        open_sessions_key(tenant, stream.id),
    )
    try:
        await streams.delete(
            tenant, stream, checked=checked,
            requires=Requirement(keys=watching, check=unused),
        )  # fmt: skip
    except _InUse as exc:
        return exc.reason
    return None
