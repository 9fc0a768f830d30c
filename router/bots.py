"""Bots on media streams (``MediaStreamConfig.bot``): self-service, routing, agent assist.

* **self_service** (and **self_service_and_assist**): a new conversation starts in state
  ``with_bot``; each customer message goes to the bot and its answers go out as normal
  outbound messages (sender kind ``bot``: consent, blocking, MMS rules and channel limits
  apply). The conversation is handed to the agents (queued, the bot transcript in its history)
  on a hand-off intent, Watson ``connect_to_agent``, confidence under the threshold, the
  customer asking for a person, or any bot error (timeout, failure, breaker open, daily cap).
* **routing**: the first message goes to the bot once; the detected intent picks the queue.
* **agent_assist** (and self_service_and_assist once assigned): every customer message of
  an assigned conversation goes to the bot and the agent gets up to *maximum suggestions*
  replies in a ``suggestions`` frame. A failing or capped bot only means no suggestions.

Engine dialog state (Watson context, Lex session state) is kept per conversation in the
store (``store.bots``), so any process takes the next turn. Calls run inside
``Pipeline.file``, which is serialized per session.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from bots import registry
from bots.accounts import BotAccount
from bots.base import BotEngine, BotReply, BotTurn
from bots.breaker import BreakerEngine, Breakers
from bots.errors import BotError, BotQuotaExceeded, BotUnavailable
from bots.quota import BotQuota, QuotaLimitedEngine
from router import frames
from router.config import BotModeConfig, MediaStreamConfig
from router.conversations import Conversations
from router.delivery import Delivery
from router.errors import ConflictError, NotFoundError
from router.models import Message, Sender, SenderKind
from router.store import RedisStore

if TYPE_CHECKING:
    import aiohttp

    from router.metrics import Metrics

log = logging.getLogger(__name__)

SELF_SERVICE = ("self_service", "self_service_and_assist")
ASSIST = ("agent_assist", "self_service_and_assist")
DEFAULT_MAX_SUGGESTIONS = 3
EngineFactory = Callable[[BotAccount], BotEngine]


def starts_with_bot(stream: MediaStreamConfig) -> bool:
    """New conversations of this stream start with the bot (self-service and routing)."""
    return stream.bot is not None and stream.bot.mode in (*SELF_SERVICE, "routing")


def asks_for_person(text: str, keywords: tuple[str, ...]) -> bool:
    words = set(re.findall(r"[\w']+", text.casefold()))
    return any(k.casefold() in words for k in keywords)


class BotDesk:
    # Bot calls and cap hits (router.metrics; set by the runtime).
    metrics: Metrics | None = None

    def __init__(
        self,
        store: RedisStore,
        conversations: Conversations,
        delivery: Delivery,
        http: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.store = store
        self.conversations = conversations
        self.delivery = delivery
        self._http = http
        # Builds the engine of an account (replaceable in tests).
        self.engine_factory: EngineFactory = self._build_engine
        self._engines: dict[str, tuple[BotAccount, BotEngine]] = {}
        self.quota = BotQuota(store.client)
        self.breakers = Breakers()

    # -- engines --------------------------------------------------------------------------

    def _time_zone(self, account: BotAccount) -> str:
        tenant = self.conversations.config.tenant(account.tenant)
        return tenant.time_zone if tenant is not None else "UTC"

    def _build_engine(self, account: BotAccount) -> BotEngine:
        """The account's engine behind its daily cap and its circuit breaker."""
        raw = registry.build_engine(account, self._http())
        capped = QuotaLimitedEngine(raw, self.quota, account, self._time_zone(account))
        return BreakerEngine(capped, self.breakers.get(account.tenant, account.id))

    def engine(self, account: BotAccount) -> BotEngine:
        """The engine of an account, reused while the account is unchanged (token caches)."""
        cached = self._engines.get(account.id)
        if cached is not None and cached[0] == account:
            return cached[1]
        engine = self.engine_factory(account)
        self._engines[account.id] = (account, engine)
        return engine

    async def remaining_calls_today(self, account: BotAccount) -> int | None:
        """Calls left today under the daily cap (None when the store cannot say)."""
        try:
            return await self.quota.remaining(account, self._time_zone(account))
        except RedisError:
            log.warning("remaining calls of bot account %s unknown", account.id, exc_info=True)
            return None

    async def _account(self, tenant: str, bot: BotModeConfig) -> BotAccount:
        account = await self.store.bots.get_in(tenant, bot.account)
        if account is None:
            raise BotUnavailable(f"no bot account {bot.account!r}")
        return account

    def _count(self, account: BotAccount, outcome: str) -> None:
        """Bot calls by engine, account and outcome; cap hits (router.metrics)."""
        if self.metrics is None:
            return
        self.metrics.bot_calls.labels(account.type, account.id, outcome).inc()
        if outcome == "cap":
            self.metrics.bot_cap_hits.labels(account.type, account.id).inc()

    async def _converse(self, account: BotAccount, message: Message) -> BotReply:
        """One turn with the dialog state of the conversation; any failure is a BotError."""
        assert message.session_id is not None
        state = await self.store.bots.state(message.tenant, message.session_id)
        turn = BotTurn(conversation_id=message.session_id, text=message.text or "", state=state)
        engine = self.engine(account)
        try:
            reply = await asyncio.wait_for(engine.converse(turn), account.timeout_seconds)
        except TimeoutError:
            self._count(account, "error")
            raise BotUnavailable(f"bot {account.id} did not answer in time") from None
        except BotError as exc:
            self._count(account, "cap" if isinstance(exc, BotQuotaExceeded) else "error")
            raise
        except Exception as exc:  # an engine bug must not leave the customer in silence
            self._count(account, "error")
            raise BotUnavailable(f"bot {account.id} failed: {exc!r}") from exc
        self._count(account, "ok")
        if reply.state is not None:
            await self.store.bots.set_state(message.tenant, message.session_id, reply.state)
        return reply

    # -- modes ----------------------------------------------------------------------------

    async def on_new(self, message: Message, stream: MediaStreamConfig) -> int | None:
        """A new conversation filed in state ``with_bot``. Self-service: the bot takes it
        (returns None, or the epoch if it handed off at once). Routing: the intent picks
        the queue and the conversation is queued (returns the epoch)."""
        bot = stream.bot
        assert bot is not None
        assert message.session_id is not None
        if bot.mode == "routing":
            queue = stream.queue
            try:
                reply = await self._converse(await self._account(message.tenant, bot), message)
                queue = bot.intent_queues.get(reply.intent or "", stream.queue)
            except BotError as exc:
                log.info("routing bot skipped for %s: %s", message.session_id, exc)
            return await self.handoff(message.tenant, message.session_id, queue, "routing")
        return await self.self_service(message, stream)

    async def self_service(self, message: Message, stream: MediaStreamConfig) -> int | None:
        """One customer message of a ``with_bot`` conversation; the epoch when handed off."""
        bot = stream.bot
        assert bot is not None
        assert message.session_id is not None
        tenant, sid = message.tenant, message.session_id
        queue = stream.queue
        if asks_for_person(message.text or "", bot.person_keywords):
            return await self.handoff(tenant, sid, queue, "the customer asked for a person")
        try:
            account = await self._account(tenant, bot)
            reply = await self._converse(account, message)
        except BotError as exc:
            return await self.handoff(tenant, sid, queue, f"bot error: {exc}")
        low = reply.confidence is not None and reply.confidence < bot.confidence_threshold
        if low:
            return await self.handoff(tenant, sid, queue, f"confidence {reply.confidence}")
        sender = Sender(kind=SenderKind.BOT, id=account.id, name=account.name)
        for text in reply.messages:
            if not text.strip():
                continue
            try:
                await self.conversations.send(tenant, sid, sender=sender, text=text)
            except (ConflictError, NotFoundError) as exc:
                return await self.handoff(tenant, sid, queue, f"bot reply not sent: {exc}")
        if reply.handoff or (reply.intent is not None and reply.intent in bot.handoff_intents):
            return await self.handoff(tenant, sid, queue, f"hand-off intent {reply.intent}")
        return None

    async def handoff(self, tenant: str, session_id: str, queue: str, why: str) -> int | None:
        """with_bot -> queued in ``queue`` and published to its waiting line; the epoch."""
        epoch = await self.store.bot_handoff(tenant, session_id, queue=queue)
        log.info("bot hand-off of %s (%s)", session_id, why)
        if epoch is not None:
            await self.conversations.publish_queue_item(tenant, session_id, epoch)
        return epoch

    async def assist(
        self, message: Message, stream: MediaStreamConfig, agent: str, node: str | None
    ) -> None:
        """Suggestions for the agent of an assigned conversation (none if the bot fails)."""
        bot = stream.bot
        if bot is None or bot.mode not in ASSIST or node is None or not message.text:
            return
        try:
            account = await self._account(message.tenant, bot)
            reply = await self._converse(account, message)
        except BotError as exc:
            log.info("no suggestions for %s: %s", message.session_id, exc)
            return
        limit = int(getattr(account, "max_suggestions", DEFAULT_MAX_SUGGESTIONS))
        texts = [t for t in (reply.suggestions or reply.messages) if t.strip()][:limit]
        if not texts:
            return
        frame = frames.suggestions_frame(message.session_id or "", message.seq or 0, texts)
        await self.delivery.frame_to_agent(message.tenant, agent, node, frame)
