"""Build the engine for a bot account."""

from __future__ import annotations

import aiohttp

from bots.accounts import (
    BotAccount,
    LexAccount,
    LexV1Account,
    WatsonAccount,
    WatsonLegacyAccount,
)
from bots.base import BotEngine
from bots.lex import LexEngine, LexV1Engine
from bots.watson import IamTokens, WatsonEngine, WatsonLegacyEngine


def build_engine(
    account: BotAccount, session: aiohttp.ClientSession, *, tokens: IamTokens | None = None
) -> BotEngine:
    """The raw engine (no cap, no breaker: see ``bots.quota`` and ``bots.breaker``).

    Watson IAM tokens are cached process-wide unless ``tokens`` is given (tests)."""
    if isinstance(account, LexAccount):
        return LexEngine(account, session)
    if isinstance(account, LexV1Account):
        return LexV1Engine(account, session)
    if isinstance(account, WatsonAccount):
        return WatsonEngine(account, session, tokens)
    if isinstance(account, WatsonLegacyAccount):
        return WatsonLegacyEngine(account, session)
    raise TypeError(f"unknown bot account {type(account).__name__}")  # pragma: no cover
