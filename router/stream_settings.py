"""Media stream settings as every process uses them: an in-process copy of the store's.

The configuration file names a tenant's media streams and seeds their settings
(``router.store.streams``); admins edit them at run time through the API or the console.
``StreamSettings.get`` is synchronous (the pipeline and conversations read a stream on every
message) and answers from the in-process copy, which follows the store:

- an edit made by this process updates its copy at once;
- every edit raises the store's change counter and is announced on Redis pub/sub
  (``sb:streams``); on an announcement, and every tick in case one was lost, each process
  compares the counter (``router.store.follower``) and reloads its streams when it moved.

``parse_stream`` validates an edit like the configuration file does (fields, queues, the
escalation queue, the bot's intent queues) and also renders the reply templates with sample
values, so a template that would fail on a real conversation is refused up front.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from router.config import Config, MediaStreamConfig, TenantConfig
from router.errors import ConfigError, NotFoundError
from router.hours import is_open, next_open, with_default_zone
from router.models import Party
from router.replies import check_template, render_reply
from router.store.streams import StreamStore

TEMPLATES = ("initial_reply", "after_hours_reply")
SAMPLE_CUSTOMER = Party(id="sample-customer", name="Jane Doe", email="jane.doe@example.com")


class StreamInvalid(Exception):
    """An edit that cannot be saved; ``field`` names the culprit (dotted path)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _first_error(exc: ValidationError) -> StreamInvalid:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    message = str(err["msg"]).removeprefix("Value error, ")
    return StreamInvalid(field, f"{field}: {message}" if field else message)


def sample_next_open(stream: MediaStreamConfig, now: datetime) -> datetime:
    """``next_open`` for an after-hours preview: the real one when the stream is closed now,
    else a sample (tomorrow 09:00 in the stream's time zone)."""
    zone = stream.availability.zone
    if not is_open(stream.availability, now):
        opens = next_open(stream.availability, now)
        if opens is not None:
            return opens.astimezone(zone)
    tomorrow = now.astimezone(zone) + timedelta(days=1)
    return tomorrow.replace(hour=9, minute=0, second=0, microsecond=0)


def render_preview(stream: MediaStreamConfig, field: str, source: str, now: datetime) -> str:
    """The reply ``field`` (``initial_reply`` / ``after_hours_reply``) rendered from ``source``
    with sample values; ``StreamInvalid`` naming the field when it does not compile or render."""
    try:
        check_template(source, field)
        opens = sample_next_open(stream, now) if field == "after_hours_reply" else None
        return render_reply(source, customer=SAMPLE_CUSTOMER, stream=stream, next_open=opens)
    except ConfigError as exc:
        message = str(exc)
        if not message.startswith(field):
            message = f"{field}: {message.split(': ', 1)[-1]}"
        raise StreamInvalid(field, message) from None


def parse_stream(tenant: TenantConfig, data: dict[str, Any], now: datetime) -> MediaStreamConfig:
    """A stream of ``tenant`` from raw settings, checked as the configuration file is."""
    try:
        stream = MediaStreamConfig.model_validate(with_default_zone(data, tenant.time_zone))
    except ValidationError as exc:
        raise _first_error(exc) from None
    queues = {q.id for q in tenant.queues}
    if stream.queue not in queues:
        raise StreamInvalid("queue", f"queue: unknown queue {stream.queue!r}")
    if stream.escalation_queue is not None and stream.escalation_queue not in queues:
        raise StreamInvalid(
            "escalation_queue", f"escalation_queue: unknown queue {stream.escalation_queue!r}"
        )
    if stream.bot is not None:
        for intent, queue in stream.bot.intent_queues.items():
            if queue not in queues:
                field = f"bot.intent_queues.{intent}"
                raise StreamInvalid(field, f"{field}: unknown queue {queue!r}")
    for field in TEMPLATES:
        source = getattr(stream, field)
        if source:
            render_preview(stream, field, source, now)
    return stream


class StreamSettings:
    """The media streams of the configuration, with their current settings."""

    def __init__(self, config: Config, store: StreamStore) -> None:
        self.config = config
        self.store = store
        self._cache: dict[tuple[str, str], MediaStreamConfig] = {}
        self._version = -1
        self._follower = store.follower(self._check)

    def find(self, tenant: str, stream_id: str) -> MediaStreamConfig | None:
        """The stream's current settings; None when the configuration has no such stream."""
        tenant_cfg = self.config.tenant(tenant)
        configured = tenant_cfg.stream(stream_id) if tenant_cfg is not None else None
        if configured is None:
            return None
        return self._cache.get((tenant, stream_id), configured)

    def get(self, tenant: str, stream_id: str) -> MediaStreamConfig:
        found = self.find(tenant, stream_id)
        if found is None:
            raise NotFoundError(f"unknown media stream {stream_id!r}")
        return found

    def of_tenant(self, tenant: str) -> tuple[MediaStreamConfig, ...]:
        tenant_cfg = self.config.tenant(tenant)
        if tenant_cfg is None:
            return ()
        return tuple(self.get(tenant, s.id) for s in tenant_cfg.media_streams)

    async def save(
        self, tenant: str, stream: MediaStreamConfig, *, expected: MediaStreamConfig | None = None
    ) -> None:
        """Store an admin's edit (``StaleObject`` when ``expected`` is no longer current)."""
        self.get(tenant, stream.id)  # a stream of the configuration
        await self.store.put(tenant, stream, expected=expected)
        self._cache[(tenant, stream.id)] = stream

    async def refresh(self) -> None:
        """Reload every stream from the store."""
        version = await self.store.version()
        for tenant in self.config.tenants:
            ids = [s.id for s in tenant.media_streams]
            for stream_id, stream in (await self.store.load(tenant.id, ids)).items():
                self._cache[(tenant.id, stream_id)] = stream
        self._version = version

    async def start(self, interval: float) -> None:
        await self.refresh()
        self._follower.start(interval)

    async def close(self) -> None:
        await self._follower.close()

    async def _check(self) -> None:
        if await self.store.version() != self._version:
            await self.refresh()
