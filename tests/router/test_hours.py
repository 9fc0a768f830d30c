"""Business hours (``router.hours``): weekly ranges, holidays, daylight saving, validation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from router.hours import Availability, is_open, next_open

NEW_YORK = ZoneInfo("America/New_York")
DUBLIN = ZoneInfo("Europe/Dublin")
OFFICE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def hours(profile: Any, zone: str = "America/New_York", **extra: Any) -> Availability:
    return Availability.model_validate({"time_zone": zone, "in_office_profile": profile, **extra})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0,
    second: int = 0, *, fold: int = 0,
) -> datetime:  # fmt: skip
    return datetime(year, month, day, hour, minute, second, tzinfo=zone, fold=fold)


# -- weekly ranges ------------------------------------------------------------------------


def test_always_online_is_always_open() -> None:
    always = Availability()
    at = utc(2024, 12, 25, 3, 0)
    assert always.in_office_profile == "always_online"
    assert is_open(always, at)
    assert next_open(always, at) == at


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(NEW_YORK, 2024, 6, 3, 8, 59, 59), False),  # Monday, just before opening
        (local(NEW_YORK, 2024, 6, 3, 9, 0), True),
        (local(NEW_YORK, 2024, 6, 3, 11, 59, 59), True),
        (local(NEW_YORK, 2024, 6, 3, 12, 0), False),  # lunch break
        (local(NEW_YORK, 2024, 6, 3, 12, 59), False),
        (local(NEW_YORK, 2024, 6, 3, 13, 0), True),
        (local(NEW_YORK, 2024, 6, 3, 16, 59, 59), True),
        (local(NEW_YORK, 2024, 6, 3, 17, 0), False),  # the end is not included
        (local(NEW_YORK, 2024, 6, 8, 10, 0), True),  # Saturday morning
        (local(NEW_YORK, 2024, 6, 8, 13, 0), False),
        (local(NEW_YORK, 2024, 6, 9, 10, 0), False),  # Sunday: not listed, closed
        (utc(2024, 6, 3, 13, 30), True),  # 09:30 in New York (EDT)
        (utc(2024, 6, 3, 21, 30), False),  # 17:30 in New York
    ],
)
def test_weekly_ranges_with_a_lunch_break(at: datetime, expected: bool) -> None:
    week = hours({"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "sat": [["09:00", "12:00"]]})
    assert is_open(week, at) is expected


def test_next_open_after_lunch_and_the_same_day() -> None:
    week = hours({"mon": [["13:00", "17:00"], ["09:00", "12:00"]]})  # any order
    assert next_open(week, local(NEW_YORK, 2024, 6, 3, 12, 15)) == local(
        NEW_YORK, 2024, 6, 3, 13, 0
    )
    assert next_open(week, local(NEW_YORK, 2024, 6, 3, 7, 0)) == local(NEW_YORK, 2024, 6, 3, 9, 0)
    open_now = local(NEW_YORK, 2024, 6, 3, 10, 0)
    assert next_open(week, open_now) == open_now


def test_next_open_is_utc_and_reads_in_the_streams_zone() -> None:
    week = hours(OFFICE, zone="Europe/Dublin")
    opens = next_open(week, utc(2024, 6, 1, 12, 0))  # a Saturday
    assert opens is not None
    assert opens.tzinfo == UTC
    assert opens.astimezone(week.zone).isoformat() == "2024-06-03T09:00:00+01:00"


def test_next_open_across_a_weekend() -> None:
    week = hours(OFFICE)
    friday_evening = local(NEW_YORK, 2024, 6, 7, 17, 0)
    assert not is_open(week, friday_evening)
    assert next_open(week, friday_evening) == local(NEW_YORK, 2024, 6, 10, 9, 0)


def test_end_of_day_24_00_and_a_day_that_never_opens() -> None:
    late = hours({"fri": [["18:00", "24:00"]]})
    assert is_open(late, local(NEW_YORK, 2024, 6, 7, 23, 59, 59))
    assert not is_open(late, local(NEW_YORK, 2024, 6, 8, 0, 0))
    closed = hours({"sat": []})
    assert not is_open(closed, utc(2024, 6, 8, 12, 0))
    assert next_open(closed, utc(2024, 6, 8, 12, 0)) is None


# -- holidays -----------------------------------------------------------------------------


def test_a_holiday_closes_the_whole_day_in_the_streams_zone() -> None:
    week = hours(
        {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=[{"date": "2024-12-25", "name": "Christmas Day"}],
    )
    # 21:00 on the 25th in New York is already the 26th in UTC: still the holiday.
    assert not is_open(week, utc(2024, 12, 26, 2, 0))
    # 23:00 on the 24th in New York is the 25th in UTC: not yet the holiday.
    assert is_open(week, utc(2024, 12, 25, 4, 0))
    assert next_open(week, utc(2024, 12, 25, 12, 0)) == local(NEW_YORK, 2024, 12, 26, 0, 0)
    holiday = week.holiday(date(2024, 12, 25))
    assert holiday is not None
    assert holiday.name == "Christmas Day"


def test_next_open_across_a_weekend_and_a_holiday_monday() -> None:
    week = hours(OFFICE, zone="Europe/Dublin", holidays=["2024-05-06", date(2024, 5, 7)])
    friday_evening = local(DUBLIN, 2024, 5, 3, 18, 0)
    assert next_open(week, friday_evening) == local(DUBLIN, 2024, 5, 8, 9, 0)
    assert not is_open(week, local(DUBLIN, 2024, 5, 6, 10, 0))
    assert is_open(week, local(DUBLIN, 2024, 5, 8, 10, 0))


def test_next_open_past_many_holidays_in_a_row() -> None:
    days = [f"2024-07-{d:02d}" for d in range(1, 32)]
    week = hours(OFFICE, holidays=days)
    assert next_open(week, local(NEW_YORK, 2024, 6, 30, 12, 0)) == local(NEW_YORK, 2024, 8, 1, 9, 0)


# -- daylight saving ----------------------------------------------------------------------


def test_office_hours_follow_the_clock_change_in_new_york() -> None:
    sunday = hours({"sun": [["09:00", "17:00"]]})
    # 09:00 is 14:00 UTC in winter (EST) and 13:00 UTC from 10 March 2024 (EDT).
    assert next_open(sunday, utc(2024, 3, 3, 0, 0)) == utc(2024, 3, 3, 14, 0)
    assert next_open(sunday, utc(2024, 3, 9, 23, 0)) == utc(2024, 3, 10, 13, 0)
    assert is_open(sunday, utc(2024, 3, 10, 13, 0))
    assert not is_open(sunday, utc(2024, 3, 10, 21, 0))
    # Back to EST on 3 November 2024.
    assert next_open(sunday, utc(2024, 11, 2, 23, 0)) == utc(2024, 11, 3, 14, 0)
    assert is_open(sunday, utc(2024, 11, 3, 21, 59))


def test_spring_forward_in_new_york() -> None:
    # 10 March 2024: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:00-03:00 never happens.
    skipped = hours({"sun": [["02:15", "02:45"]]})
    assert not is_open(skipped, utc(2024, 3, 10, 6, 59))
    assert not is_open(skipped, utc(2024, 3, 10, 7, 0))
    assert next_open(skipped, utc(2024, 3, 10, 6, 0)) == local(NEW_YORK, 2024, 3, 17, 2, 15)

    straddling = hours({"sun": [["02:30", "04:00"]]})
    assert next_open(straddling, utc(2024, 3, 10, 5, 0)) == utc(2024, 3, 10, 7, 0)
    assert next_open(straddling, local(NEW_YORK, 2024, 3, 9, 18, 0)) == utc(2024, 3, 10, 7, 0)
    assert is_open(straddling, utc(2024, 3, 10, 7, 0))  # 03:00 EDT
    assert not is_open(straddling, utc(2024, 3, 10, 8, 0))  # 04:00 EDT

    night = hours({"sun": [["01:00", "03:30"]]})
    assert is_open(night, utc(2024, 3, 10, 6, 59))  # 01:59 EST
    assert is_open(night, utc(2024, 3, 10, 7, 29))  # 03:29 EDT
    assert not is_open(night, utc(2024, 3, 10, 7, 30))  # 03:30 EDT


def test_fall_back_in_new_york() -> None:
    # 3 November 2024: 02:00 EDT goes back to 01:00 EST (06:00 UTC); 01:00-02:00 happens twice.
    week = hours({"sun": [["01:00", "01:30"]]})
    first = local(NEW_YORK, 2024, 11, 3, 1, 0, fold=0)
    second = local(NEW_YORK, 2024, 11, 3, 1, 0, fold=1)
    assert first.astimezone(UTC) == utc(2024, 11, 3, 5, 0)
    assert second.astimezone(UTC) == utc(2024, 11, 3, 6, 0)
    assert is_open(week, utc(2024, 11, 3, 5, 15))
    assert not is_open(week, utc(2024, 11, 3, 5, 45))  # 01:45 EDT
    assert next_open(week, utc(2024, 11, 3, 5, 45)) == utc(2024, 11, 3, 6, 0)  # 01:00 EST
    assert is_open(week, utc(2024, 11, 3, 6, 15))
    assert not is_open(week, utc(2024, 11, 3, 6, 30))
    assert next_open(week, utc(2024, 11, 3, 6, 30)) == local(NEW_YORK, 2024, 11, 10, 1, 0)


def test_spring_forward_in_dublin() -> None:
    # Europe/Dublin: daylight saving from Sunday 28/03/2021 at 01:00 (GMT -> IST).
    skipped = hours({"sun": [["01:15", "01:45"]]}, zone="Europe/Dublin")
    assert not is_open(skipped, utc(2021, 3, 28, 0, 30))  # 00:30 GMT
    assert not is_open(skipped, utc(2021, 3, 28, 1, 0))  # 02:00 IST
    assert next_open(skipped, utc(2021, 3, 28, 0, 0)) == local(DUBLIN, 2021, 4, 4, 1, 15)
    assert next_open(skipped, utc(2021, 3, 28, 0, 0)) == utc(2021, 4, 4, 0, 15)

    office = hours(OFFICE, zone="Europe/Dublin")
    # Friday 17:00 GMT -> Monday 09:00 IST, which is 08:00 UTC.
    assert next_open(office, utc(2021, 3, 26, 17, 0)) == utc(2021, 3, 29, 8, 0)
    assert is_open(office, utc(2021, 3, 29, 8, 0))
    assert not is_open(office, utc(2021, 3, 29, 16, 0))  # 17:00 IST


def test_fall_back_in_dublin() -> None:
    # Until Sunday 31/10/2021 at 02:00: IST goes back to GMT at 01:00 UTC.
    office = hours(OFFICE, zone="Europe/Dublin")
    # Friday 17:00 IST -> Monday 09:00 GMT, which is 09:00 UTC.
    assert next_open(office, utc(2021, 10, 29, 16, 0)) == utc(2021, 11, 1, 9, 0)
    assert not is_open(office, utc(2021, 11, 1, 8, 30))

    night = hours({"sun": [["01:00", "01:30"]]}, zone="Europe/Dublin")
    assert is_open(night, utc(2021, 10, 31, 0, 10))  # 01:10 IST
    assert not is_open(night, utc(2021, 10, 31, 0, 45))  # 01:45 IST
    assert next_open(night, utc(2021, 10, 31, 0, 45)) == utc(2021, 10, 31, 1, 0)  # 01:00 GMT
    assert is_open(night, utc(2021, 10, 31, 1, 10))  # 01:10 GMT


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="time-zone-aware"):
        is_open(hours(OFFICE), datetime(2024, 6, 3, 10, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="time-zone-aware"):
        next_open(Availability(), datetime(2024, 6, 3, 10, 0))  # noqa: DTZ001


# -- validation ---------------------------------------------------------------------------


def test_the_settings_read_back_as_written() -> None:
    week = hours({"mon": [["9:00", "12:00"]], "sat": None}, holidays=["2024-12-25"])
    dumped = week.model_dump(mode="json")
    assert dumped["in_office_profile"]["mon"] == [["09:00", "12:00"]]
    assert dumped["in_office_profile"]["sat"] == []
    assert dumped["holidays"] == [{"date": "2024-12-25", "name": ""}]
    assert Availability.model_validate(dumped) == week


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("hour-25", {"in_office_profile": {"mon": [["09:00", "25:00"]]}},
     "mon[0]: bad time '25:00'"),
    ("minute-60", {"in_office_profile": {"tue": [["09:60", "10:00"]]}},
     "tue[0]: bad time '09:60'"),
    ("not-a-time", {"in_office_profile": {"mon": [["nine", "17:00"]]}},
     "bad time 'nine': use HH:MM"),
    ("24:00-start", {"in_office_profile": {"mon": [["24:00", "24:00"]]}},
     "24:00 only as an end"),
    ("yaml-number", {"in_office_profile": {"mon": [["09:00", 1020]]}},
     'write times as quoted "HH:MM" strings'),
    ("end-before-start", {"in_office_profile": {"wed": [["17:00", "09:00"]]}},
     "wed[0]: end 09:00 is not after start 17:00"),
    ("empty-range", {"in_office_profile": {"wed": [["09:00", "09:00"]]}},
     "end 09:00 is not after start 09:00"),
    ("three-times", {"in_office_profile": {"mon": [["09:00", "10:00", "11:00"]]}},
     "a range is [start, end]"),
    ("overlap", {"in_office_profile": {"fri": [["09:00", "12:30"], ["12:00", "17:00"]]}},
     "fri: ranges 09:00-12:30 and 12:00-17:00 overlap"),
    ("unknown-weekday", {"in_office_profile": {"monday": [["09:00", "17:00"]]}},
     "unknown weekday 'monday' (use mon, tue, wed, thu, fri, sat, sun)"),
    ("unknown-profile", {"in_office_profile": "sometimes"},
     "'sometimes': use 'always_online' or weekly hours"),
    ("bad-zone", {"time_zone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
    ("bad-holiday", {"in_office_profile": OFFICE, "holidays": ["2024-02-30"]}, "holidays.0"),
    ("holiday-twice", {"in_office_profile": OFFICE, "holidays": ["2024-12-25", "2024-12-25"]},
     "2024-12-25 is listed twice"),
    ("holiday-always-online", {"holidays": ["2024-12-25"]}, "holidays need weekly hours"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_settings_name_the_problem(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Availability.model_validate(data)
    assert expected in str(caught.value)
