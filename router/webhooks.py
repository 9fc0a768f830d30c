"""``/webhooks/{type}/{account_id}``: every provider's webhook enters here.

The signature is checked on the raw bytes before anything is parsed; a failed check answers
401 (403 for a failed Meta handshake), stores nothing and is counted. A webhook is answered
200 only after every message in it is durably queued (503 otherwise, so the provider retries).
"""

from __future__ import annotations

import logging
from typing import cast

from aiohttp import web
from redis.exceptions import RedisError

from channels.base import (
    ReplyToken,
    Resubscribed,
    StatusUpdate,
    SupportsHandshake,
    SupportsMediaDownload,
    Unsubscribed,
    WebhookRequest,
)
from channels.errors import ChannelError, InvalidSignature, MalformedPayload
from channels.media import check_media_sig, media_id_of, signed_media_path
from queues.base import BrokerError
from router.errors import NotFoundError, StoreError
from router.http_errors import error_response
from router.keys import RUNTIME
from router.limits import InboundRateLimited
from router.models import Message, MessageStatus
from router.runtime import Runtime

log = logging.getLogger(__name__)
_HANDSHAKES: dict[type, bool] = {}


async def webhook(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    if rt.draining:  # shutting down: the provider retries, another process takes it
        return error_response(503, "unavailable", "shutting down; retry later")
    kind, account_id = request.match_info["type"], request.match_info["account_id"]
    try:
        account = await rt.store.account_cache.get(account_id)
    except (StoreError, RedisError):  # the provider retries once the store is back
        log.warning("webhook not taken: store unavailable", exc_info=True)
        return error_response(503, "unavailable", "not queued; retry later")
    if account is None or account.type != kind or not rt.channels.supports(kind):
        return error_response(404, "not_found", "no such integration account", "account_id")
    adapter = rt.channels.adapter(account)
    body = await request.read()
    req = WebhookRequest(
        method=request.method,
        headers=request.headers,
        query=request.query,
        body=body,
        content_type=request.content_type,
        url=str(request.url),
        remote=request.remote,
    )
    try:
        handshaking = handshake_of(adapter)
        if handshaking is not None:
            answer = handshaking.handshake(req)
            if answer is not None:
                return web.Response(
                    status=answer.status, text=answer.body, content_type=answer.content_type
                )
        adapter.verify(req)
    except InvalidSignature as exc:
        rt.metrics.signature_failures.labels(kind).inc()
        log.warning("webhook signature check failed for %s account %s", kind, account_id)
        return error_response(exc.status, "invalid_signature", str(exc))
    try:
        events = adapter.parse(req)
    except MalformedPayload as exc:
        return error_response(400, "malformed_payload", str(exc))
    try:
        for event in events:
            await apply_event(rt, account.tenant, account.id, event)
    except (BrokerError, StoreError, RedisError):
        log.warning("webhook not queued: backend unavailable", exc_info=True)
        return error_response(503, "unavailable", "not queued; retry later")
    except InboundRateLimited as exc:  # the tenant's limit: the provider retries later
        return rate_limited(exc)
    except NotFoundError as exc:
        return error_response(404, "not_found", str(exc), "stream")
    return web.Response(status=200, text="ok")


def handshake_of(adapter: object) -> SupportsHandshake | None:
    """The adapter, if it answers a provider's handshake. Known per adapter class: checking
    against a protocol walks its members each time (about 10 µs, on every webhook)."""
    kind = type(adapter)
    known = _HANDSHAKES.get(kind)
    if known is None:
        known = _HANDSHAKES[kind] = isinstance(adapter, SupportsHandshake)
    return cast(SupportsHandshake, adapter) if known else None


def rate_limited(exc: InboundRateLimited) -> web.Response:
    """429 with Retry-After: the provider retries the webhook once the window ended."""
    resp = error_response(429, "rate_limited", str(exc))
    resp.headers["Retry-After"] = exc.retry_after_header
    return resp


def count_rate_limited(rt: Runtime, channel: str, exc: InboundRateLimited) -> bool:
    """Count a message over a rate limit; True when it is simply dropped (one remote party
    flooding must not make the provider retry a whole batch of other people's messages),
    False when the webhook must answer 429 (the tenant's limit)."""
    rt.metrics.messages_in.labels(channel, "rate_limited").inc()
    rt.metrics.rejected_requests.labels("webhook", f"{exc.scope}_rate").inc()
    if exc.scope == "tenant":
        return False
    log.info("inbound message dropped: its remote party is over the rate limit")
    return True


def _sign_media(secret: bytes, account_id: str, message: Message) -> Message:
    if not any(media_id_of(a.url) for a in message.attachments):
        return message
    attachments = tuple(
        a.model_copy(update={"url": signed_media_path(secret, account_id, media_id)})
        if (media_id := media_id_of(a.url))
        else a
        for a in message.attachments
    )
    return message.model_copy(update={"attachments": attachments})


async def media(request: web.Request) -> web.StreamResponse:
    """Fetch provider media through the account (the URL was signed when the webhook came)."""
    rt = request.app[RUNTIME]
    account_id, media_id = request.match_info["account_id"], request.match_info["media_id"]
    if not check_media_sig(rt.secret, account_id, media_id, request.query.get("sig", "")):
        return error_response(403, "forbidden", "invalid media link")
    account = await rt.store.account_cache.get(account_id)
    adapter: object = rt.channels.adapter(account) if account is not None else None
    if not isinstance(adapter, SupportsMediaDownload):
        return error_response(404, "not_found", "no such media")
    try:
        body, content_type = await adapter.fetch_media(media_id)
    except ChannelError as exc:
        return error_response(502, "provider_error", str(exc))
    return web.Response(
        body=body,
        content_type=content_type,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


async def keep_reply_token(rt: Runtime, tenant: str, account_id: str, event: ReplyToken) -> None:
    """Keep the party's reply token for the next send to them, from any process. Not kept
    (the store is unreachable): that send is pushed instead, so the webhook goes on."""
    try:
        await rt.store.deliveries.keep_reply_token(
            tenant, account_id, event.party_id, event.token.get_secret_value(), event.expires_at
        )
    except (StoreError, RedisError):
        log.warning("reply token not kept (store unavailable); the answer will be pushed")


async def apply_event(
    rt: Runtime, tenant: str, account_id: str, event: Message | StatusUpdate | Unsubscribed
    | Resubscribed | ReplyToken,
) -> None:  # fmt: skip
    deliveries = rt.store.deliveries
    if isinstance(event, ReplyToken):
        await keep_reply_token(rt, tenant, account_id, event)
    elif isinstance(event, Message):
        event = _sign_media(rt.secret, account_id, event)
        dedupe = f"{event.channel.value}:{account_id}:{event.provider_message_id}"
        try:
            accepted = await rt.pipeline.submit(
                event, dedupe_key=dedupe if event.provider_message_id else None
            )
        except InboundRateLimited as exc:
            if not count_rate_limited(rt, event.channel.value, exc):
                raise
            return
        outcome = "accepted" if accepted else "blocked"  # a blocked number: dropped, still 200
        log.debug("inbound %s message %s", event.channel.value, outcome)
        rt.metrics.messages_in.labels(event.channel.value, outcome).inc()
    elif isinstance(event, StatusUpdate):
        found = await deliveries.update_by_provider_id(
            tenant, account_id, event.provider_message_id, event.status, event.reason
        )
        if found is not None and event.status is MessageStatus.DELIVERED:
            data = {"session_id": found[0], "seq": found[1], "account": account_id,
                    "provider_message_id": event.provider_message_id}  # fmt: skip
            await rt.events.emit(tenant, "message.delivered", data)
    elif isinstance(event, Unsubscribed):
        await deliveries.set_unreachable(tenant, account_id, event.party_id, event.reason)
    else:
        await deliveries.set_unreachable(tenant, account_id, event.party_id, None)
