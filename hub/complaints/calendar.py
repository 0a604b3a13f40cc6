"""Working-day arithmetic for service targets, in WIB (UTC+7), the city's local time.

Pure code. Saturdays, Sundays and the configured public holidays are not working days.
A target of N working days counts N working days after the day of the start event and
ends at midnight WIB at the end of the last one.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta, timezone

WIB = timezone(timedelta(hours=7), "WIB")


def is_working_day(day: date, holidays: Collection[date]) -> bool:
    """Return True for Monday to Friday when ``day`` is not a holiday."""
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: date, days: int, holidays: Collection[date]) -> date:
    """Return the date ``days`` working days after ``start`` (``start`` itself never counts)."""
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    current = start
    counted = 0
    while counted < days:
        current += timedelta(days=1)
        if is_working_day(current, holidays):
            counted += 1
    return current


def due_at(start: datetime, days: int, holidays: Collection[date]) -> datetime:
    """Return the deadline (aware, UTC) that is ``days`` working days after the instant ``start``."""
    if start.tzinfo is None:
        raise ValueError(f"naive datetime {start!r}; pass an aware datetime")
    last_day = add_working_days(start.astimezone(WIB).date(), days, holidays)
    end_local = datetime.combine(last_day + timedelta(days=1), time(0, 0), tzinfo=WIB)
    return end_local.astimezone(UTC)


def working_days_between(start: date, end: date, holidays: Collection[date]) -> int:
    """Count working days in the half-open range (start, end]; negative when end is before start."""
    if end < start:
        return -working_days_between(end, start, holidays)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current, holidays):
            count += 1
    return count
