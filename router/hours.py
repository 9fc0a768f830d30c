"""Business hours of a media stream: its availability settings and when it is open.

A stream is either *always online* or open on weekly hours (several ranges a day, so a lunch
break is two ranges) minus holidays (closed all day). Hours and holidays are wall-clock times
in the stream's time zone (IANA name; daylight saving comes from ``zoneinfo``): 09:00-17:00
means 09:00-17:00 local time on winter and summer days alike. On a spring-forward day a range
starting inside the skipped hour opens when the clock jumps; on a fall-back day a wall time
that occurs twice is open both times.

``is_open`` and ``next_open`` are pure functions of the settings and an aware instant.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any, Final, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS_ONLINE: Final = "always_online"
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_DAY_END = 24 * 60
# Offsets are probed this far apart to find daylight-saving transitions (zones change their
# offset at most once in such a span).
_PROBE = dt.timedelta(hours=6)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def check_zone(value: str) -> str:
    """``value`` if it names an IANA time zone, else ``ValueError``."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _minute_of_day(value: object, *, end: bool) -> int:
    if not isinstance(value, str):
        # YAML reads an unquoted 17:00 as the number 1020 (base 60).
        raise ValueError(f'bad time {value!r}: write times as quoted "HH:MM" strings')
    match = _TIME.match(value.strip())
    if match is None:
        raise ValueError(f"bad time {value!r}: use HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if end and (hour, minute) == (24, 0):
        return _DAY_END
    if hour > 23 or minute > 59:
        raise ValueError(f"bad time {value!r}: use 00:00 to 23:59 (24:00 only as an end)")
    return hour * 60 + minute


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class OpenRange(_Model):
    """One opening range of a day, ``[start, end)``; written ``["09:00", "17:00"]``."""

    start: str
    end: str

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            if len(data) != 2:
                raise ValueError(f"a range is [start, end], got {list(data)!r}")
            data = {"start": data[0], "end": data[1]}
        if not isinstance(data, dict):
            return data
        start = _minute_of_day(data.get("start"), end=False)
        end = _minute_of_day(data.get("end"), end=True)
        if end <= start:
            raise ValueError(
                f"end {_clock(end)} is not after start {_clock(start)} "
                "(a range cannot pass midnight: split it over two days)"
            )
        return {**data, "start": _clock(start), "end": _clock(end)}

    @property
    def start_minute(self) -> int:
        return _minute_of_day(self.start, end=False)

    @property
    def end_minute(self) -> int:
        return _minute_of_day(self.end, end=True)

    @model_serializer
    def _as_pair(self) -> list[str]:
        return [self.start, self.end]


class WeeklyHours(_Model):
    """Opening ranges per weekday; a day left out or empty is closed."""

    mon: tuple[OpenRange, ...] = ()
    tue: tuple[OpenRange, ...] = ()
    wed: tuple[OpenRange, ...] = ()
    thu: tuple[OpenRange, ...] = ()
    fri: tuple[OpenRange, ...] = ()
    sat: tuple[OpenRange, ...] = ()
    sun: tuple[OpenRange, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _known_days(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in data:
            if key not in WEEKDAYS:
                raise ValueError(f"unknown weekday {key!r} (use {', '.join(WEEKDAYS)})")
        return {day: ranges for day, ranges in data.items() if ranges is not None}

    @model_validator(mode="after")
    def _no_overlap(self) -> Self:
        for day in WEEKDAYS:
            ranges = sorted(getattr(self, day), key=lambda r: r.start_minute)
            for before, after in itertools.pairwise(ranges):
                if after.start_minute < before.end_minute:
                    raise ValueError(
                        f"{day}: ranges {before.start}-{before.end} and "
                        f"{after.start}-{after.end} overlap"
                    )
        return self

    def on(self, weekday: int) -> tuple[OpenRange, ...]:
        """The ranges of a weekday (0 = Monday, as ``date.weekday()``)."""
        ranges: tuple[OpenRange, ...] = getattr(self, WEEKDAYS[weekday])
        return ranges


class Holiday(_Model):
    """A day the stream is closed all day; written as a date or ``{date, name}``."""

    date: dt.date
    name: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bare_date(cls, data: Any) -> Any:
        return {"date": data} if isinstance(data, str | dt.date) else data


def _profile_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)


class Availability(_Model):
    """When a media stream is in office (``availability`` in the configuration)."""

    # Defaults to the tenant's time zone (filled in by the tenant's configuration).
    time_zone: str = "UTC"
    in_office_profile: Literal["always_online"] | WeeklyHours = ALWAYS_ONLINE
    holidays: tuple[Holiday, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("in_office_profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value != ALWAYS_ONLINE:
                raise ValueError(f"{value!r}: use {ALWAYS_ONLINE!r} or weekly hours by weekday")
            return value
        if isinstance(value, dict):
            try:
                return WeeklyHours.model_validate(value)
            except ValidationError as exc:
                raise ValueError(_profile_errors(exc)) from None
        return value

    @model_validator(mode="after")
    def _holidays(self) -> Self:
        dates = [h.date for h in self.holidays]
        if len(set(dates)) != len(dates):
            twice = next(d for d in dates if dates.count(d) > 1)
            raise ValueError(f"holidays: {twice} is listed twice")
        if dates and self.weekly is None:
            raise ValueError("holidays need weekly hours: an always_online stream is never closed")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def weekly(self) -> WeeklyHours | None:
        profile = self.in_office_profile
        return profile if isinstance(profile, WeeklyHours) else None

    def holiday(self, day: dt.date) -> Holiday | None:
        return next((h for h in self.holidays if h.date == day), None)


def with_default_zone(stream: Any, zone: Any) -> Any:
    """A raw media stream entry whose availability falls back to the tenant's ``zone``."""
    if not isinstance(stream, dict) or not isinstance(zone, str):
        return stream
    try:
        check_zone(zone)
    except ValueError:
        return stream  # the tenant's own time_zone error says it
    availability = stream.get("availability")
    if availability is None:
        availability = {}
    if not isinstance(availability, dict) or "time_zone" in availability:
        return stream
    return {**stream, "availability": {**availability, "time_zone": zone}}


def _aware(at: dt.datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a time-zone-aware datetime is required")


def is_open(availability: Availability, at: dt.datetime) -> bool:
    """Whether the stream is in office at the instant ``at``."""
    _aware(at)
    weekly = availability.weekly
    if weekly is None:
        return True
    local = at.astimezone(availability.zone)
    if availability.holiday(local.date()) is not None:
        return False
    second = local.hour * 3600 + local.minute * 60 + local.second
    return any(
        r.start_minute * 60 <= second < r.end_minute * 60 for r in weekly.on(local.weekday())
    )


def _offset(zone: ZoneInfo, at: dt.datetime) -> dt.timedelta | None:
    return at.astimezone(zone).utcoffset()


def _transitions(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The instants in ``(start, end]`` (to the second) where ``zone`` changes its offset."""
    found = []
    lo = start.astimezone(dt.UTC).replace(microsecond=0)  # UTC: arithmetic in real time
    while lo < end:
        hi = lo + _PROBE
        before = _offset(zone, lo)
        if _offset(zone, hi) != before:
            a, b = lo, hi
            while b - a > dt.timedelta(seconds=1):
                mid = (a + (b - a) // 2).replace(microsecond=0)
                if _offset(zone, mid) == before:
                    a = mid
                else:
                    b = mid
            found.append(b)
        lo = hi
    return found


def _range_starts(zone: ZoneInfo, day: dt.date, ranges: tuple[OpenRange, ...]) -> list[dt.datetime]:
    """Every instant at which the local wall clock shows the start of one of ``ranges``."""
    starts = []
    for r in ranges:
        wall = dt.datetime.combine(day, dt.time(r.start_minute // 60, r.start_minute % 60))
        for fold in (0, 1):  # a wall time occurs twice when the clocks go back
            instant = wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC)
            if instant.astimezone(zone).replace(tzinfo=None) == wall:  # not in a skipped hour
                starts.append(instant)
    return starts


def next_open(availability: Availability, at: dt.datetime) -> dt.datetime | None:
    """The first instant at or after ``at`` when the stream is open (``at`` itself if open
    now), in UTC; ``None`` if it never opens (no hours at all).

    UTC, not the stream's zone: Python never finds a local time in a repeated (fall-back) hour
    equal to another zone's time, so local results would be a trap for comparisons. Convert
    with ``.astimezone(availability.zone)`` for display.
    """
    _aware(at)
    zone = availability.zone
    weekly = availability.weekly
    if weekly is None or is_open(availability, at):
        return at.astimezone(dt.UTC)
    # Each week has an open day, and each holiday can close at most one of them.
    days = 7 * (len(availability.holidays) + 1) + 1
    first = at.astimezone(zone).date()
    # Besides range starts, the stream can open where the clock jumps into a range.
    candidates = _transitions(zone, at, at + dt.timedelta(days=days + 1))
    for n in range(days + 1):
        day = first + dt.timedelta(days=n)
        if availability.holiday(day) is None:
            candidates += _range_starts(zone, day, weekly.on(day.weekday()))
    return min((c for c in candidates if c > at and is_open(availability, c)), default=None)
