"""An in-process Switchboard (in-process store, in-memory broker) with a Telegram account on a fake
Bot API, as in the observability suite; each limits module sets its own ``settings``."""

from tests.observability.conftest import (
    admin,
    agent,
    client,
    create_account,
    runtime,
    settings,
    start_fake,
)

__all__ = ["admin", "agent", "client", "create_account", "runtime", "settings", "start_fake"]
