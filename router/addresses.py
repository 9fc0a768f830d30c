"""Where a session's outbound messages go: its media stream, channel, account and customer.

They are set when the session is opened and never change, so this process keeps a bounded
copy of them, and an agent's answers after the first one in a session need no store read
before they are filed. A session that was deleted meanwhile is still refused by the filing
script, which finds it missing.
"""

from __future__ import annotations

from collections import OrderedDict

from router.errors import NotFoundError
from router.models import ChannelKind, Frozen, Party
from router.store import RedisStore

# Sessions whose address is kept; past this, the one used least recently is forgotten.
MAX_ENTRIES = 50_000


class Address(Frozen):
    stream: str
    channel: ChannelKind
    account: str
    remote_party: Party


class Addresses:
    def __init__(self, store: RedisStore, max_entries: int = MAX_ENTRIES) -> None:
        self._store = store
        self._max = max_entries
        self._known: OrderedDict[tuple[str, str], Address] = OrderedDict()

    async def get(self, tenant: str, session_id: str) -> Address:
        """The session's address; ``NotFoundError`` when there is no such session."""
        key = (tenant, session_id)
        found = self._known.get(key)
        if found is not None:
            self._known.move_to_end(key)
            return found
        session = await self._store.load_session(tenant, session_id, with_history=False)
        if session is None:
            raise NotFoundError(f"no session {session_id!r}")
        address = Address(
            stream=session.stream,
            channel=session.channel,
            account=session.account,
            remote_party=session.remote_party,
        )
        self._known[key] = address
        if len(self._known) > self._max:
            self._known.popitem(last=False)
        return address
