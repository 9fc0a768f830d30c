"""The bot boundary: one engine per bot account (AWS Lex, IBM Watson Assistant).

Engines answer one conversation turn at a time; the dialog state they need between turns
(Watson context, Lex session state) is kept per conversation by ``BotSessions`` in the store,
so any process can take the next turn. Engines do not count calls: ``bots.quota`` wraps them
with the hard daily cap.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from channels.base import ConnectionCheck
from router.models import Frozen


class BotKind(StrEnum):
    LEX = "lex"  # AWS Lex V2 RecognizeText
    LEX_V1 = "lex_v1"  # AWS Lex V1 PostText (legacy bots)
    WATSON = "watson"  # IBM Watson Assistant, IAM API key
    WATSON_LEGACY = "watson_legacy"  # Watson Assistant (Legacy), username/password


class BotTurn(Frozen):
    """One customer message for the bot."""

    conversation_id: str  # the session id (engines sanitize it for their own limits)
    text: str
    locale: str = "en_US"
    # Opaque engine state from the previous turn of this conversation (None on the first).
    state: dict[str, Any] | None = None


class BotReply(Frozen):
    messages: tuple[str, ...] = ()
    intent: str | None = None
    confidence: float | None = None
    # The engine asked for a human (hand-off intent, Watson connect_to_agent).
    handoff: bool = False
    # Alternative replies for agent assist (up to the account's maximum suggestions).
    suggestions: tuple[str, ...] = ()
    # Engine state to pass back on the next turn.
    state: dict[str, Any] | None = None


class BotEngine(Protocol):
    # Read-only so wrappers (the daily cap, the circuit breaker) can forward their engine's.
    @property
    def kind(self) -> BotKind: ...

    async def converse(self, turn: BotTurn) -> BotReply:
        """One API call (plus any token exchange); raises ``bots.errors`` on failure."""

    async def test_connection(self) -> ConnectionCheck:
        """valid / invalid credentials / forbidden / unreachable, with the engine's message."""
