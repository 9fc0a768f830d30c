"""Customer consent on every SMS channel (CPaaS numbers and Vonage): the CTIA / FCC keywords,
the per-pair opt-out that every send obeys, and the consent ledger.

A pair is (tenant, channel, account, remote party): ``account`` is our 10-digit number for
CPaaS SMS, the integration account for Vonage. An inbound message that is exactly one
keyword (any case, surrounding spaces and punctuation ignored) is filed and routed like any
message, and then:

- STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT (also "OPT OUT", "OPT-OUT")
  opt the pair out, with one confirmation (``sms_stop_reply``); a STOP while already opted
  out changes nothing and sends nothing;
- START, UNSTOP, YES opt an opted-out pair back in, with ``sms_start_reply`` (a "yes" from a
  customer who never opted out is just a message);
- HELP, INFO are answered with ``sms_help_text``.

From then on ``Conversations.send`` refuses every send to an opted-out pair (agent, bot,
system, API) with ``ConflictError("opted_out")``, and the outbound worker fails any that was
queued before the opt-out. Only the keyword answers themselves (``compliance=True``) pass.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from router.errors import ConflictError
from router.ids import new_id
from router.models import ChannelKind, Frozen, Message, Sender, SenderKind, utcnow
from router.store.consent import ConsentChange, PairSnapshot, PairState

if TYPE_CHECKING:
    from router.conversations import Conversations
    from router.store import RedisStore

log = logging.getLogger(__name__)

SMS_CHANNELS = frozenset({ChannelKind.SMS, ChannelKind.VONAGE})
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
CONSENT_SENDER = Sender(kind=SenderKind.SYSTEM, id="consent", name="SMS consent")

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_OPT_OUT_PHRASE = re.compile(r"^OPT[\s-]+OUT$")

Action = Literal["opt_out", "opt_in", "help"]


class Keyword(Frozen):
    word: str  # canonical: "OPT OUT" is OPTOUT
    action: Action


def detect(text: str | None) -> Keyword | None:
    """The consent keyword ``text`` is, or None ("stop please" is no keyword)."""
    if not text:
        return None
    core = _OPT_OUT_PHRASE.sub("OPTOUT", _EDGES.sub("", text).upper())
    if core in OPT_OUT_WORDS:
        return Keyword(word=core, action="opt_out")
    if core in OPT_IN_WORDS:
        return Keyword(word=core, action="opt_in")
    if core in HELP_WORDS:
        return Keyword(word=core, action="help")
    return None


def party_id(channel: ChannelKind, raw: str) -> str:
    """A customer's number as ``channel`` names it: E.164 for CPaaS SMS ("+13125550199"),
    digits without "+" for Vonage. A 10-digit number is taken as NANP."""
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return raw
    if len(digits) == 10:
        digits = "1" + digits
    return "+" + digits if channel is ChannelKind.SMS else digits


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def refusal(state: PairState) -> ConflictError | None:
    """Why nothing may be sent to a pair in ``state`` (None: sending is fine)."""
    out = state.opted_out
    if out is not None:
        if out.source == "keyword":
            how = f"the customer opted out ({out.keyword or 'STOP'})"
        else:
            how = "the customer was opted out by an administrator"
        return ConflictError(
            "opted_out", f"{how} of messages from this number on {_when(out.at)}; nothing was sent"
        )
    block = state.blocked
    if block is not None:
        how = f"this number was blocked by {block.blocked_by}"
        return ConflictError("blocked", f"{how} on {_when(block.at)}; nothing was sent")
    return None


async def ensure_can_send(
    store: RedisStore, tenant: str, channel: ChannelKind, account: str, party: str
) -> None:
    """Raise ``ConflictError`` ("opted_out" / "blocked") for a pair that may not be sent to.

    One store read; call it for SMS channels only.
    """
    problem = refusal(await store.consent.pair_state(tenant, channel, account, party))
    if problem is not None:
        raise problem


class ConsentService:
    """Acts on inbound keywords (from ``Pipeline.file``) and on admins' changes."""

    def __init__(self, store: RedisStore, conversations: Conversations) -> None:
        self.store = store
        self.conversations = conversations

    async def on_inbound(self, message: Message, *, duplicate: bool = False) -> None:
        """After ``message`` was filed: apply its keyword, if it is one.

        A redelivered ``duplicate`` is applied again (state changes are idempotent and
        confirmed only when they change something) but gets no second HELP answer.
        """
        if message.channel not in SMS_CHANNELS or message.session_id is None:
            return
        keyword = detect(message.text)
        if keyword is None:
            return
        tenant = self.conversations.tenant(message.tenant)
        if keyword.action == "help":
            if not duplicate:
                await self._answer(message, tenant.sms_help_text)
            return
        change = ConsentChange(
            id=new_id(),
            tenant=message.tenant,
            channel=message.channel,
            account=message.account,
            party=message.remote_party.id,
            direction="out" if keyword.action == "opt_out" else "in",
            keyword=keyword.word,
            source="keyword",
            provider_message_id=message.provider_message_id,
            session_id=message.session_id,
            at=utcnow(),
        )
        if not await self.store.consent.record(change):
            return
        log.info(
            "consent: %s opted %s on %s %s (%s)", change.party, change.direction,
            change.channel.value, change.account, keyword.word,
        )  # fmt: skip
        reply = tenant.sms_stop_reply if change.direction == "out" else tenant.sms_start_reply
        await self._answer(message, reply)

    async def _answer(self, message: Message, text: str) -> None:
        assert message.session_id is not None
        await self.conversations.send(
            message.tenant, message.session_id, sender=CONSENT_SENDER, text=text, compliance=True
        )

    async def admin_change(
        self, tenant: str, channel: ChannelKind, account: str, party: str, *,
        direction: Literal["out", "in"], actor: str, note: str | None = None,
        expected: PairSnapshot | None = None,
    ) -> tuple[bool, ConsentChange]:  # fmt: skip
        """An admin records an opt-out or opt-in (no message is sent); (changed, entry).

        With ``expected`` (the pair as read), recorded only while the pair is still as read,
        compared and written in one store transaction: else ``StaleObject``."""
        change = ConsentChange(
            id=new_id(), tenant=tenant, channel=channel, account=account, party=party,
            direction=direction, source="admin", actor=actor, note=note, at=utcnow(),
        )  # fmt: skip
        return await self.store.consent.record(change, expected=expected), change
