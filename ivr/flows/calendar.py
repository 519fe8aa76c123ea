"""Business hours: weekly opening times in an IANA time zone, minus a list of holidays.

A flow declares calendars by name and asks ``open('support')`` in a condition. The engine passes
the call's start time (an aware datetime from ``CallStarted``); nothing here reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.errors import FlowError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` or a FlowError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise FlowError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True, slots=True)
class Calendar:
    timezone: str
    # Opening ranges per weekday (0 = Monday) as (start, end) times; end is exclusive, 24:00 allowed.
    hours: tuple[tuple[tuple[time, time | None], ...], ...]
    holidays: frozenset[date]

    def is_holiday(self, now: datetime) -> bool:
        return now.astimezone(zone(self.timezone)).date() in self.holidays

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(zone(self.timezone))
        if local.date() in self.holidays:
            return False
        t = local.time().replace(tzinfo=None)
        return any(start <= t and (end is None or t < end) for start, end in self.hours[local.weekday()])


def parse_days(spec: str) -> list[int]:
    """``mon-fri``, ``sat``, ``mon,wed,fri``, ``daily`` -> weekday indexes."""
    spec = spec.strip().lower()
    if spec in ("daily", "every day", "all"):
        return list(range(7))
    found: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            a, b = (p.strip() for p in part.split("-", 1))
            if a not in DAYS or b not in DAYS:
                raise FlowError(f"bad day range {part!r} (use mon..sun, e.g. mon-fri)")
            i, j = DAYS.index(a), DAYS.index(b)
            found += list(range(i, j + 1)) if i <= j else [*range(i, 7), *range(0, j + 1)]
        elif part in DAYS:
            found.append(DAYS.index(part))
        else:
            raise FlowError(f"bad day {part!r} (use mon..sun, e.g. mon-fri)")
    return found


def parse_range(spec: str) -> tuple[time, time | None]:
    """``08:00-20:00`` -> (08:00, 20:00); an end of ``24:00`` means midnight (None)."""
    m = _RANGE.match(spec)
    if not m:
        raise FlowError(f"bad opening hours {spec!r} (use HH:MM-HH:MM, e.g. 08:00-20:00)")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise FlowError(f"bad time in {spec!r}")
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end is not None and end <= start:
        raise FlowError(f"opening hours {spec!r} end before they start")
    return start, end


def parse_date(spec: str) -> date:
    try:
        return date.fromisoformat(spec.strip())
    except ValueError as exc:
        raise FlowError(f"bad holiday date {spec!r} (use YYYY-MM-DD)") from exc


def build_calendar(timezone: str, hours: dict[str, list[str]], holidays: list[str]) -> Calendar:
    """Raises FlowError on the first bad part; the schema loader reports each with its position."""
    zone(timezone)
    week: list[list[tuple[time, time | None]]] = [[] for _ in DAYS]
    for days, ranges in hours.items():
        for day in parse_days(days):
            week[day] += [parse_range(r) for r in ranges if r.strip().lower() != "closed"]
    return Calendar(
        timezone=timezone,
        hours=tuple(tuple(day) for day in week),
        holidays=frozenset(parse_date(h) for h in holidays),
    )
