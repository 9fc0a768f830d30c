"""``POST /webhooks/inteliquent/{platform_id}``: inbound SMS, MMS and delivery receipts of a
CPaaS platform.

The platform's verification is checked before the body is parsed (401, counted under the
``sms`` channel, nothing stored). A message goes to each of OUR numbers its ``to`` names (a
group MMS naming two of our numbers reaches both; recipients that are not ours are not kept:
the conversation is with the sender, and replies go to the sender only). A number assigned to
a media stream files it under that stream; a number assigned to an end user hands it to the
personal inbox. A number we do not know is ignored. A delivery receipt marks the outbound
message with that referenceId delivered. 200 only once everything is durably queued (503
otherwise, so the provider retries; the dedupe key ``sms:{number}:{referenceId}`` makes a
retry harmless).
"""

from __future__ import annotations

import logging

from aiohttp import web

from channels.cpaas import CpaasNumber, CpaasPlatform, StreamTarget
from channels.errors import InvalidSignature, MalformedPayload
from channels.inteliquent import DeliveryReceipt, InboundSms, parse, verify
from channels.inteliquent._wire import ten_digits
from queues.base import BrokerError
from router.errors import NotFoundError, StoreError
from router.http_errors import error_response
from router.ids import new_id
from router.keys import RUNTIME
from router.limits import InboundRateLimited
from router.models import ChannelKind, Direction, Message, Party, Sender, SenderKind
from router.runtime import Runtime
from router.settings import Settings
from router.webhooks import count_rate_limited, rate_limited

log = logging.getLogger(__name__)
CHANNEL = ChannelKind.SMS.value


def webhook_path(platform_id: str) -> str:
    return f"/webhooks/inteliquent/{platform_id}"


def public_base(request: web.Request, settings: Settings) -> str:
    """SWITCHBOARD_PUBLIC_URL if configured, else the scheme and host the request came to."""
    if "public_url" in settings.model_fields_set:
        return settings.public_url.rstrip("/")
    return str(request.url.with_path("/").with_query(None)).rstrip("/")


def webhook_url(base: str, platform_id: str) -> str:
    """The URL registered with the provider for every number of ``platform_id``."""
    return base.rstrip("/") + webhook_path(platform_id)


async def _platform(rt: Runtime, platform_id: str) -> CpaasPlatform | None:
    tenants = [t.id for t in rt.config.tenants]
    tenant = await rt.store.cpaas.platform_tenant(platform_id, tenants)
    return None if tenant is None else await rt.store.cpaas.platform(tenant, platform_id)


async def inteliquent_webhook(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    platform_id = request.match_info["platform_id"]
    try:
        platform = await _platform(rt, platform_id)
    except StoreError:
        return error_response(503, "unavailable", "not queued; retry later")
    if platform is None:
        return error_response(404, "not_found", "no such CPaaS platform", "platform_id")
    body = await request.read()
    try:
        verify(platform.inbound_verification, request.headers)
    except InvalidSignature as exc:
        rt.metrics.signature_failures.labels(CHANNEL).inc()
        log.warning("CPaaS webhook verification failed for platform %s", platform_id)
        return error_response(401, "invalid_signature", str(exc))
    try:
        event = parse(body)
    except MalformedPayload as exc:
        return error_response(400, "malformed_payload", str(exc))
    try:
        if isinstance(event, DeliveryReceipt):
            await _receipt(rt, platform, event)
        else:
            await _inbound(rt, platform, event)
    except (BrokerError, StoreError):
        log.warning("CPaaS webhook not queued: backend unavailable", exc_info=True)
        return error_response(503, "unavailable", "not queued; retry later")
    except InboundRateLimited as exc:  # the tenant's limit (router.limits)
        return rate_limited(exc)
    return web.json_response({"statusCode": "200", "status": "success"})


async def _receipt(rt: Runtime, platform: CpaasPlatform, receipt: DeliveryReceipt) -> None:
    update = receipt.update
    for number in receipt.numbers:
        found = await rt.store.deliveries.update_by_provider_id(
            platform.tenant, number, update.provider_message_id, update.status, update.reason
        )
        if found is not None:
            return
    log.info("delivery receipt for an unknown message %s", update.provider_message_id)


async def _inbound(rt: Runtime, platform: CpaasPlatform, sms: InboundSms) -> None:
    if not sms.text and not sms.attachments:
        return
    seen: set[str] = set()
    for recipient in sms.recipients:
        ours = ten_digits(recipient) if recipient.startswith("+1") else None
        if ours is None or ours in seen:
            continue
        seen.add(ours)
        number = await rt.store.cpaas.number(platform.tenant, ours)
        if number is None or number.platform not in ("", platform.id):
            continue  # not a number of ours on this platform
        await _file(rt, number, _message(platform.tenant, number, sms))


def _message(tenant: str, number: CpaasNumber, sms: InboundSms) -> Message:
    stream = number.target.stream if isinstance(number.target, StreamTarget) else ""
    return Message(
        id=new_id(),
        tenant=tenant,
        channel=ChannelKind.SMS,
        account=number.number,
        stream=stream,
        direction=Direction.INBOUND,
        remote_party=Party(id=sms.sender),
        sender=Sender(kind=SenderKind.CUSTOMER, id=sms.sender),
        text=sms.text,
        attachments=sms.attachments,
        provider_message_id=sms.reference_id,
    )


async def _file(rt: Runtime, number: CpaasNumber, message: Message) -> None:
    try:
        accepted = await rt.personal_inbox.deliver(number, message)
    except InboundRateLimited as exc:
        if not count_rate_limited(rt, CHANNEL, exc):
            raise
        return
    except NotFoundError as exc:
        rt.metrics.messages_in.labels(CHANNEL, "rejected").inc()
        log.warning("SMS to %s not filed: %s", number.number, exc)
        return
    # A blocked sender's message is dropped (still answered 200).
    rt.metrics.messages_in.labels(CHANNEL, "accepted" if accepted else "blocked").inc()
