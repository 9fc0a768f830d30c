"""Media streams as every process uses them: an in-process copy of the store's.

The configuration file names a tenant's media streams and seeds their settings
(``router.store.streams``); admins edit, create and delete streams at run time through the
API or the console. ``StreamSettings.get`` is synchronous (the pipeline and conversations
read a stream on every message) and answers from the in-process copy, which follows the
store:

- a change made by this process updates its copy at once;
- every change raises the store's change counter and is announced on Redis pub/sub
  (``sb:streams``); on an announcement, and every tick in case one was lost, each process
  compares the counter (``router.store.follower``) and reloads its streams when it moved.

A tenant's streams are the file's, less those an admin deleted, plus those admins created
(``served_streams``). A deleted stream is unknown from then on, like an id nobody ever used;
its last settings stay readable (``retired``) for the conversations filed before.

``parse_stream`` validates an edit or a new stream like the configuration file does (fields,
queues, the escalation queue, the bot's intent queues) and also renders the reply templates
with sample values, so a template that would fail on a real conversation is refused up front.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from router.config import Config, MediaStreamConfig, TenantConfig
from router.errors import ConfigError, NotFoundError
from router.hours import is_open, next_open, with_default_zone
from router.models import Party
from router.replies import check_template, render_reply
from router.store.optimistic import Requirement
from router.store.streams import StoredStream, StreamStore

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


def served_streams(
    tenant: TenantConfig, records: Mapping[str, StoredStream]
) -> dict[str, MediaStreamConfig]:
    """The streams ``tenant`` has now, by id: the file's (``tenant.media_streams``, in file
    order) with their stored settings, except those an admin deleted; then those admins
    created, by id."""
    served: dict[str, MediaStreamConfig] = {}
    for stream in tenant.media_streams:
        record = records.get(stream.id)
        if record is None:
            served[stream.id] = stream
        elif record.live is not None:
            served[stream.id] = record.live
    for stream_id in sorted(records):
        record = records[stream_id]
        if record.created and record.live is not None and stream_id not in served:
            served[stream_id] = record.live
    return served


class StreamSettings:
    """The media streams of every tenant, with their current settings.

    ``config`` is the configuration they are derived from: the file's streams (with the
    directory's tenants); ``effective()`` is that configuration with each tenant's streams as
    they are now (created ones added, deleted ones gone, edited settings), which the runtime
    hands to everything else (``on_change`` tells it when that changed)."""

    def __init__(self, config: Config, store: StreamStore) -> None:
        self.store = store
        # Called after every change of the streams this process serves.
        self.on_change: Callable[[], None] | None = None
        self._config = config
        self._records: dict[tuple[str, str], StoredStream] = {}
        self._served: dict[str, dict[str, MediaStreamConfig]] = {}
        self._version = -1
        self._lock = asyncio.Lock()
        self._reloaded = asyncio.Condition()
        self._follower = store.follower(self._check)
        self._serve()

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        self._config = config
        self._serve()

    def find(self, tenant: str, stream_id: str) -> MediaStreamConfig | None:
        """The stream's current settings; None when the tenant has no such stream."""
        return self._served.get(tenant, {}).get(stream_id)

    def get(self, tenant: str, stream_id: str) -> MediaStreamConfig:
        found = self.find(tenant, stream_id)
        if found is None:
            raise NotFoundError(f"unknown media stream {stream_id!r}")
        return found

    def of_tenant(self, tenant: str) -> tuple[MediaStreamConfig, ...]:
        return tuple(self._served.get(tenant, {}).values())

    def retired(self, tenant: str, stream_id: str) -> MediaStreamConfig | None:
        """The last settings of a stream an admin deleted (None for any other id)."""
        record = self._records.get((tenant, stream_id))
        return record.settings if record is not None and record.deleted else None

    def effective(self) -> Config:
        """``config`` with every tenant's media streams as they are now."""
        tenants = tuple(
            t.model_copy(update={"media_streams": tuple(self._served.get(t.id, {}).values())})
            for t in self._config.tenants
        )
        return self._config.model_copy(update={"tenants": tenants})

    async def save(
        self, tenant: str, stream: MediaStreamConfig, *, expected: MediaStreamConfig | None = None
    ) -> None:
        """Store an admin's edit (``StaleObject`` when ``expected`` is no longer current)."""
        async with self._lock:
            self.get(tenant, stream.id)  # a stream of the tenant
            await self.store.put(tenant, stream, expected=expected)
            previous = self._records.get((tenant, stream.id))
            created = previous is not None and previous.created
            self._remember(tenant, StoredStream(settings=stream, edited=True, created=created))
        await self._wake_waiters()

    async def create(self, tenant: str, stream: MediaStreamConfig) -> None:
        """Store an admin's new stream (``ConflictError`` when the tenant has that id)."""
        async with self._lock:
            await self.store.create(tenant, stream, taken=self.find(tenant, stream.id) is not None)
            self._remember(tenant, StoredStream(settings=stream, edited=True, created=True))
        await self._wake_waiters()

    async def delete(
        self, tenant: str, stream: MediaStreamConfig, *, checked: bool,
        requires: Requirement | None = None,
    ) -> None:  # fmt: skip
        """Delete the stream ``stream`` is the current settings of (with ``checked``, only
        while they are still the stored ones: else ``StaleObject``; ``requires``: what else
        must hold, in the same transaction)."""
        async with self._lock:
            deleted = await self.store.delete(tenant, stream, checked=checked, requires=requires)
            self._remember(tenant, deleted)
        await self._wake_waiters()

    async def refresh(self) -> None:
        """Reload every stream from the store."""
        async with self._lock:
            version = await self.store.version()
            files = [(t.id, s.id) for t in self._config.tenants for s in t.media_streams]
            self._records = await self.store.records(also=files)
            self._version = version
            self._serve(notify=True)
        await self._wake_waiters()

    async def wait_until(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` holds after a change (callers bound it with a timeout)."""
        async with self._reloaded:
            await self._reloaded.wait_for(done)

    async def start(self, interval: float) -> None:
        await self.refresh()
        self._follower.start(interval)

    async def close(self) -> None:
        await self._follower.close()

    async def _check(self) -> None:
        if await self.store.version() != self._version:
            await self.refresh()

    def _remember(self, tenant: str, record: StoredStream) -> None:
        self._records[(tenant, record.settings.id)] = record
        self._serve(notify=True)

    def _serve(self, *, notify: bool = False) -> None:
        by_tenant: dict[str, dict[str, StoredStream]] = {}
        for (tenant, stream_id), record in self._records.items():
            by_tenant.setdefault(tenant, {})[stream_id] = record
        self._served = {
            t.id: served_streams(t, by_tenant.get(t.id, {})) for t in self._config.tenants
        }
        if notify and self.on_change is not None:
            self.on_change()

    async def _wake_waiters(self) -> None:
        async with self._reloaded:
            self._reloaded.notify_all()
