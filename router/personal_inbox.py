"""Personal SMS inboxes: a CPaaS number assigned to an end user (one agent), and its opt-in.

A message to such a number is filed through the ordinary pipeline (durable submit, ordered
filing, dedupe) under the synthetic media stream ``user.{number}``; its conversation goes
straight to the agent: no queue, no offer, whatever the agent's state, outside its capacity.

Opt-in (platforms with *User Confirmation Required*): a number newly assigned to a user is
``pending`` until the user answers the desktop prompt. Until they accept, conversations on it
are filed but held (state ``new``, nobody sees them); accepting delivers them, declining keeps
them held and emails every alert recipient. An admin reset asks the user again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from channels.cpaas import (
    AlertRecipient,
    CpaasNumber,
    OptIn,
    OptInState,
    StreamTarget,
    UserTarget,
    normalize_us_number,
)
from router import frames
from router.config import MediaStreamConfig
from router.errors import ConflictError, NotFoundError
from router.events import NodeFrame
from router.models import ChannelKind, Message, SessionState, utcnow
from router.store.base import IngestOutcome, IngestResult

if TYPE_CHECKING:
    from router.conversations import Conversations
    from router.delivery import Delivery
    from router.pipeline import Pipeline
    from router.store import RedisStore

log = logging.getLogger(__name__)

PERSONAL_PREFIX = "user."
# A personal conversation closes after a day without messages and reopens (same session,
# same history) when either side writes again within a month.
INACTIVITY_SECONDS = 24 * 3600.0
REOPEN_WINDOW_SECONDS = 30 * 24 * 3600.0
DECLINED_TEMPLATE = "opt_in_declined.txt"


def personal_stream_id(number: str) -> str:
    return PERSONAL_PREFIX + number


def personal_number(stream_id: str) -> str | None:
    """The number of a personal-inbox stream id (``user.2015550123``), else ``None``."""
    rest = stream_id.removeprefix(PERSONAL_PREFIX)
    if rest == stream_id or len(rest) != 10 or not rest.isdigit():
        return None
    return rest


def personal_stream(number: str) -> MediaStreamConfig:
    """The synthetic media stream of a personal inbox: no queue, no transfer, no replies."""
    return MediaStreamConfig.model_construct(
        id=personal_stream_id(number),
        name=number,
        media=ChannelKind.SMS,
        account=number,
        queue="",
        can_transfer=False,
        can_escalate=False,
        use_last_agent=False,
        reopen_on_reply=True,
        reopen_window_seconds=REOPEN_WINDOW_SECONDS,
        inactivity_timeout_seconds=INACTIVITY_SECONDS,
        initial_reply=None,
    )


def delivers(number: CpaasNumber) -> bool:
    """Whether conversations on a user's number reach the user now (opt-in allows it)."""
    return number.opt_in.state in (OptInState.NOT_REQUIRED, OptInState.ACCEPTED)


def opt_in_request(number: CpaasNumber) -> dict[str, str]:
    return {"number": number.number, "friendly_name": number.friendly_name}


def opt_in_state_frame(number: CpaasNumber) -> str:
    return frames.dumps(
        {"type": "opt_in_state", "number": number.number, **number.opt_in.model_dump(mode="json")}
    )


class AlertSender(Protocol):
    async def send(
        self,
        tenant: str,
        recipients: Sequence[AlertRecipient],
        subject: str,
        template: str,
        context: Mapping[str, Any],
    ) -> int: ...


@dataclass(frozen=True)
class InboxRoute:
    """Where a personal-inbox conversation goes: to ``agent``, or held for opt-in."""

    agent: str
    hold: bool

    @property
    def assign_to(self) -> str | None:
        return None if self.hold else self.agent


class PersonalInbox:
    def __init__(
        self,
        store: RedisStore,
        pipeline: Pipeline,
        delivery: Delivery,
        conversations: Conversations,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.delivery = delivery
        self.conversations = conversations
        self.alerter: AlertSender | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- inbound --------------------------------------------------------------------------

    @staticmethod
    def owns(message: Message) -> bool:
        return personal_number(message.stream) is not None

    async def deliver(self, number: CpaasNumber, message: Message) -> bool:
        """Durably accept an inbound message to one of our numbers (see ``Pipeline.submit``);
        False when it was dropped (blocked sender).

        A number assigned to a media stream files it under that stream instead.
        """
        if isinstance(number.target, StreamTarget):
            stream = number.target.stream
        else:
            stream = personal_stream_id(number.number)
        routed = message.model_copy(
            update={"tenant": number.tenant, "account": number.number, "stream": stream}
        )
        dedupe = None
        if routed.provider_message_id:
            dedupe = f"{routed.channel.value}:{routed.account}:{routed.provider_message_id}"
        return await self.pipeline.submit(routed, dedupe_key=dedupe)

    async def route(self, message: Message) -> InboxRoute | None:
        """Who gets a personal-inbox message now; ``None`` when the number is no longer a
        user's (deleted or reassigned to a media stream: the message is dropped)."""
        number_id = personal_number(message.stream)
        if number_id is None:
            return None
        number = await self.store.cpaas.number(message.tenant, number_id)
        if number is None or not isinstance(number.target, UserTarget):
            return None
        return InboxRoute(agent=number.target.agent, hold=not delivers(number))

    async def filed(self, message: Message, result: IngestResult) -> None:
        """After filing: tell the agent (new conversation, or a message in an open one)."""
        tenant = message.tenant
        if result.state == SessionState.NEW.value:
            # Held. The user may have accepted since the route was read: check again, so a
            # conversation filed while they accepted is not left behind.
            route = await self.route(message)
            if route is not None and route.assign_to:
                await self._assign(tenant, result.session_id, route.assign_to)
            return
        if result.state != SessionState.ASSIGNED.value or not result.agent:
            return
        if result.outcome in (IngestOutcome.NEW, IngestOutcome.REOPENED):
            item = NodeFrame(
                tenant=tenant, target="agent", recipient=result.agent, kind="assigned",
                session_id=result.session_id,
            )  # fmt: skip
            await self.delivery.to_agent(tenant, result.agent, result.agent_node, item)
        else:
            await self.delivery.frame_to_agent(
                tenant, result.agent, result.agent_node, frames.message_frame(message)
            )

    async def _assign(self, tenant: str, session_id: str, agent: str) -> bool:
        now_ms = int(utcnow().timestamp() * 1000)
        assigned, node = await self.store.inbox.assign_held(
            tenant, session_id, agent, now_ms=now_ms, inactivity_seconds=INACTIVITY_SECONDS
        )
        if assigned:
            item = NodeFrame(
                tenant=tenant, target="agent", recipient=agent, kind="assigned",
                session_id=session_id,
            )  # fmt: skip
            await self.delivery.to_agent(tenant, agent, node, item)
        return assigned

    async def release_held(self, number: CpaasNumber) -> int:
        """Deliver the conversations held on a user's number (after they accepted)."""
        if not isinstance(number.target, UserTarget) or not delivers(number):
            return 0
        stream_id = personal_stream_id(number.number)
        released = 0
        for sid in await self.store.inbox.session_ids(number.tenant, number.number):
            session = await self.store.load_session(number.tenant, sid, with_history=False)
            if session is None or session.stream != stream_id:
                continue
            if session.state is SessionState.NEW:
                released += await self._assign(number.tenant, sid, number.target.agent)
        return released

    async def close_assigned(self, number: CpaasNumber, reason: str) -> None:
        """Close the open personal conversations on a number (its user changed)."""
        stream_id = personal_stream_id(number.number)
        for sid in await self.store.inbox.session_ids(number.tenant, number.number):
            session = await self.store.load_session(number.tenant, sid, with_history=False)
            if session is None or session.stream != stream_id:
                continue
            if session.state is SessionState.ASSIGNED:
                await self.conversations.close(number.tenant, sid, reason=reason)

    # -- opt-in ---------------------------------------------------------------------------

    async def requests(self, tenant: str, agent: str) -> list[dict[str, str]]:
        """The numbers waiting for this agent's opt-in answer (the ``hello`` prompt)."""
        return [
            opt_in_request(n)
            for n in await self.store.cpaas.numbers(tenant)
            if isinstance(n.target, UserTarget)
            and n.target.agent == agent
            and n.opt_in.state is OptInState.PENDING
        ]

    async def prompt(self, number: CpaasNumber) -> None:
        """Ask the user now, if connected (otherwise ``hello`` asks on the next connect)."""
        if isinstance(number.target, UserTarget) and number.opt_in.state is OptInState.PENDING:
            frame = frames.dumps({"type": "opt_in_request", **opt_in_request(number)})
            await self._to_agent(number.tenant, number.target.agent, frame)

    async def answer(self, tenant: str, agent: str, number_id: str, accept: bool) -> CpaasNumber:
        """Record the user's answer (with its time) and act on it."""
        try:
            number_id = normalize_us_number(number_id)
        except ValueError:
            raise NotFoundError(f"no number {number_id!r} assigned to you") from None
        wanted = OptInState.ACCEPTED if accept else OptInState.DECLINED
        now = utcnow()

        def change(number: CpaasNumber) -> CpaasNumber | None:
            if not _is_users(number, agent) or number.opt_in.state is not OptInState.PENDING:
                return None
            return number.model_copy(update={"opt_in": OptIn(state=wanted, at=now)})

        found = await self.store.inbox.update_number(tenant, number_id, change)
        if found is None or not _is_users(found[0], agent):
            raise NotFoundError(f"no number {number_id!r} assigned to you")
        before, after = found
        if after.opt_in.state is OptInState.NOT_REQUIRED:
            raise ConflictError("opt_in_not_required", "this number does not ask for opt-in")
        if after.opt_in.state is not wanted:
            raise ConflictError(
                "opt_in_answered",
                f"SMS on this number was already {after.opt_in.state.value}; "
                "an administrator can reset the opt-in state",
            )
        await self._to_agent(tenant, agent, opt_in_state_frame(after))
        if before != after:
            log.info("user %s %s SMS on %s", agent, wanted.value, number_id)
            if accept:
                await self.release_held(after)
            else:
                self._spawn(self._alert_declined(after))
        return after

    async def reset(self, tenant: str, number_id: str) -> CpaasNumber | None:
        """Back to ``pending`` (admin): the user is asked again, now if connected."""

        def change(number: CpaasNumber) -> CpaasNumber | None:
            if not isinstance(number.target, UserTarget):
                raise ConflictError(
                    "opt_in_not_applicable",
                    "opt-in applies only to numbers assigned to an end user",
                )
            return number.model_copy(update={"opt_in": OptIn(state=OptInState.PENDING)})

        found = await self.store.inbox.update_number(tenant, number_id, change)
        if found is None:
            return None
        await self.prompt(found[1])
        return found[1]

    async def _alert_declined(self, number: CpaasNumber) -> None:
        if self.alerter is None:
            log.warning("SMS declined on %s but no alerter is configured", number.number)
            return
        assert isinstance(number.target, UserTarget)
        recipients = [
            r for r in await self.store.cpaas.alert_recipients(number.tenant) if r.send_alerts
        ]
        tenant_cfg = self.conversations.config.tenant(number.tenant)
        agent_cfg = tenant_cfg.agent(number.target.agent) if tenant_cfg else None
        agent_name = (agent_cfg.name or agent_cfg.username) if agent_cfg else number.target.agent
        context = {
            "number": number.number,
            "friendly_name": number.friendly_name,
            "agent": agent_name,
            "at": at.strftime("%Y-%m-%d %H:%M:%S UTC") if (at := number.opt_in.at) else None,
        }
        subject = f"SMS declined by {agent_name} on {number.friendly_name}"
        sent = await self.alerter.send(
            number.tenant, recipients, subject, DECLINED_TEMPLATE, context
        )
        log.info("opt-in decline on %s alerted %d recipient(s)", number.number, sent)

    # -- helpers --------------------------------------------------------------------------

    async def _to_agent(self, tenant: str, agent: str, frame: str) -> None:
        node = await self.store.inbox.agent_node(tenant, agent)
        await self.delivery.frame_to_agent(tenant, agent, node, frame)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(_logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _is_users(number: CpaasNumber, agent: str) -> bool:
    return isinstance(number.target, UserTarget) and number.target.agent == agent


async def _logged(work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("personal inbox background work failed")
