"""Filing an outbound message (``scripts/append_outbound.lua``): what the script checks of the
customer before it appends, in the same round trip, and what it answers.

The checks read what a send must respect: contacts an account can no longer reach
(``router.store.deliveries``), an SMS pair's opt-out and block (``router.store.consent``); an
SMS message is indexed by its id (``router.store.sms``) when it is filed.

A message filed to be sent gets an outbox timer in the same script (``send_timer``): the
delivery that takes its send claim drops it (``DeliveryStore.check_send``); if the process
that filed it stops before the broker has it, the timer comes due and queues it again
(``router.scheduler``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from router.models import ChannelKind, Frozen
from router.store.consent import PairState
from router.store.sms import MESSAGE_INDEX_TTL

FilingOutcome = Literal["ok", "dup", "missing", "forbidden", "unreachable", "refused"]
# A filed message not claimed by a delivery within this time is queued again. Long enough
# for any healthy backlog (a copy queued while the first is still waiting is not sent twice,
# only read and dropped), short enough to heal well within a minute.
SEND_OUTBOX_MS = 15_000
# Timer kinds: a plain send, and an answer to a consent keyword (sent despite an opt-out).
SEND_TIMER = "send"
COMPLIANCE_SEND_TIMER = "sendc"


def send_timer_kind(*, compliance: bool) -> str:
    return COMPLIANCE_SEND_TIMER if compliance else SEND_TIMER


def send_timer(tenant: str, session_id: str, seq: int, *, compliance: bool) -> str:
    """The outbox timer of message ``seq`` of a session in ``sb:sched``."""
    return f"{send_timer_kind(compliance=compliance)}|{tenant}|{session_id}|{seq}"


class Recipient(Frozen):
    """The customer an outbound message is filed for, and what to check of them first."""

    account: str  # the integration account or our number
    party: str  # the customer's id on the channel
    check_unreachable: bool = False  # refuse a party the account cannot reach
    consent: ChannelKind | None = None  # SMS: refuse a pair opted out or blocked
    index: bool = False  # SMS: index the message id (``SmsStore.locate``)


class Filing(Frozen):
    """What filing answered: ``ok`` / ``dup`` with the message's seq; ``unreachable`` with the
    reason; ``refused`` with the pair's consent state; ``missing``; ``forbidden`` (the agent
    does not hold the session)."""

    outcome: FilingOutcome
    seq: int | None = None
    unreachable: str | None = None
    refused: PairState | None = None

    @classmethod
    def of(cls, reply: Sequence[Any]) -> Filing:
        outcome = str(reply[0])
        if outcome in ("ok", "dup") and len(reply) > 1:
            return cls.model_validate({"outcome": outcome, "seq": int(reply[1])})
        if outcome == "unreachable":
            return cls(outcome="unreachable", unreachable=str(reply[1]))
        if outcome == "refused":
            return cls(outcome="refused", refused=PairState.parse(reply[1], reply[2]))
        return cls.model_validate({"outcome": outcome})


def recipient_args(recipient: Recipient | None, message_id: str) -> list[str | int]:
    """The script's arguments 10 to 15 for ``recipient`` (no checks when None); 16 and 17
    (the outbox timer) follow them."""
    if recipient is None:
        return ["", "", "0", "", "", MESSAGE_INDEX_TTL]
    return [
        recipient.account,
        recipient.party,
        "1" if recipient.check_unreachable else "0",
        recipient.consent.value if recipient.consent is not None else "",
        message_id if recipient.index else "",
        MESSAGE_INDEX_TTL,
    ]
