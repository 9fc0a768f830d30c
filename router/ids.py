"""Random ids: 128 bits from the operating system's CSPRNG as 32 hex digits (the form of
``uuid.uuid4().hex``, without the version bits), for messages, envelopes, sessions,
correlation ids and send claims.

``uuid.uuid4()`` asks the kernel for 16 bytes on every call. On a virtual machine that
system call is most of what an id costs, and a webhook makes several ids. The bytes are
drawn 4 KiB at a time instead; every id still takes 16 bytes of its own, never handed out
twice (``deque.popleft`` is atomic, so threads cannot share one). A forked child starts
with none, so a parent and its child never make the same id.
"""

from __future__ import annotations

import os
from collections import deque

_DRAW = 4096  # bytes per system call: 256 ids
_ids: deque[str] = deque()


def _draw() -> None:
    fresh = os.urandom(_DRAW)
    _ids.extend(fresh[i : i + 16].hex() for i in range(0, _DRAW, 16))


def new_id() -> str:
    """A new random id, 32 lowercase hex digits."""
    while True:
        try:
            return _ids.popleft()
        except IndexError:
            _draw()


os.register_at_fork(after_in_child=_ids.clear)
